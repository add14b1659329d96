//! The rollback's report lines about the canary it found: what was (or would be) undone of it.
//! Pure, so the wording is tested here.

use std::time::Duration;

use super::intent::RollbackIntent;
use super::recover::{CanaryRecovery, RecoveryDone};
use crate::report::{Finding, Severity, Status, Step};

/// An earlier rollback's undo was applied but its run did not finish (a lost answer, a kill):
/// this run only waits for it, instead of undoing the undo.
pub fn earlier_rollback_finding(name: &str, earlier: &RollbackIntent) -> Finding {
    finding(
        "rollback.undo",
        Severity::P1,
        Status::Pass,
        "The Deployment runs the revision to roll back to",
    )
    .measured(format!(
        "deployment/{name} already runs revision {}'s template: the rollback recorded by {} at {} \
         was applied, so this run only waits for it (no second undo)",
        earlier.to_revision,
        earlier.by,
        earlier.at.strftime("%H:%M:%S UTC")
    ))
    .remediation(
        "to go further back, pass --to-revision N (see `kubectl posthog rollback history`)",
    )
}

fn finding(id: &str, severity: Severity, status: Status, title: &str) -> Finding {
    Finding::new(id, Step::Rollout, severity, status, title)
}

/// What was done about a canary (`done`), or in a dry run (`None`) what would be done.
pub fn canary_finding(
    recovery: &CanaryRecovery,
    done: Option<&RecoveryDone>,
    heartbeat_age: Option<Duration>,
) -> Finding {
    let phase = recovery.phase.map_or("left behind".to_string(), |p| {
        format!("phase {}", p.label())
    });
    let driver = match (recovery.abort_state, recovery.driver_alive) {
        (false, _) => String::new(),
        (true, true) => ", driver alive".to_string(),
        (true, false) => match heartbeat_age {
            Some(age) => format!(
                ", driver gone (last heartbeat {} ago)",
                humantime::format_duration(Duration::from_secs(age.as_secs()))
            ),
            None => ", driver gone".to_string(),
        },
    };
    let mut did = Vec::new();
    match done {
        Some(done) => {
            if done.by_driver {
                did.push("the driver aborted it on our request".to_string());
            }
            if done.left_to_hpa {
                did.push(format!(
                    "stable left to its HPA at {} replicas",
                    done.stable_replicas
                ));
            } else if let Some((from, _)) = recovery.restore {
                did.push(format!(
                    "stable scaled {from} → {} replicas",
                    done.stable_replicas
                ));
            }
            if done.canary_removed {
                did.push(format!("deployment {} removed", recovery.canary_name));
            }
        }
        None => {
            if recovery.driver_alive {
                did.push("ask the driver to abort".to_string());
            }
            if let Some((from, to)) = recovery.restore {
                did.push(format!("scale the stable {from} → {to} replicas"));
            }
            if recovery.delete_canary {
                did.push(format!("remove deployment {}", recovery.canary_name));
            }
        }
    }
    if recovery.abort_state {
        did.push(
            if done.is_some() {
                "state marked aborted"
            } else {
                "mark the state aborted"
            }
            .to_string(),
        );
    }
    if recovery.promoted {
        did.push("the stable already runs the canary's images: it is rolled back too".to_string());
    }
    let verb = if done.is_some() {
        "aborted"
    } else {
        "would be aborted"
    };
    finding(
        "rollback.canary",
        Severity::P2,
        Status::Pass,
        "A canary in progress or left behind is aborted first",
    )
    .measured(format!(
        "canary {} ({phase}{driver}) {verb}: {}",
        recovery.canary_name,
        if did.is_empty() {
            "nothing left to undo".to_string()
        } else {
            did.join(", ")
        }
    ))
    .evidence(format!(
        "annotation {} on the stable, deployment {}",
        crate::annotations::STATE_ANNOTATION,
        recovery.canary_name
    ))
}

/// The canary state could not be read: the canary is left alone, and the rollback goes on.
pub fn unreadable_canary_finding(problem: &str) -> Finding {
    finding(
        "rollback.canary",
        Severity::P2,
        Status::Warn,
        "A canary in progress or left behind is aborted first",
    )
    .measured(format!(
        "canary state not read, canary left untouched: {problem}"
    ))
    .remediation("inspect it with `kubectl posthog canary status` before removing it by hand")
}
