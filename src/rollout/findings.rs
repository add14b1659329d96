//! The rollback's report lines, built from what happened: the undo (or kubectl's refusal), the
//! wait and the health check. Pure, so the wording is tested here.

use super::pods::PodProblem;
use super::undo::{UndoAction, UndoError, UndoPlan};
use super::wait::WaitOutcome;
use crate::posthog::HealthReport;
use crate::report::{Finding, Severity, Status, Step, VerdictResult};

fn finding(id: &str, severity: Severity, status: Status, title: &str) -> Finding {
    Finding::new(id, Step::Rollout, severity, status, title)
}

/// The canary was aborted and the stable never ran its images: nothing else to undo.
pub fn stable_kept_finding(current_revision: Option<i64>) -> Finding {
    let revision = current_revision.map_or_else(String::new, |r| format!(" (revision {r})"));
    finding(
        "rollback.undo",
        Severity::P1,
        Status::Pass,
        "The Deployment runs the revision to roll back to",
    )
    .measured(format!(
        "the stable still runs its pre-canary template{revision}: no undo needed"
    ))
    .remediation(
        "to go further back, pass --to-revision N (see `kubectl posthog rollback history`)",
    )
}

/// The undo as decided (and, unless `dry_run`, sent).
pub fn undo_finding(plan: &UndoPlan, conflicts: u32, dry_run: bool) -> Finding {
    let from = plan.current_revision.map_or_else(
        || "the current revision".to_string(),
        |r| format!("revision {r}"),
    );
    let base = finding(
        "rollback.undo",
        Severity::P1,
        Status::Pass,
        "The Deployment is rolled back like `kubectl rollout undo`",
    )
    .expected(format!("the template of revision {}", plan.target_revision));
    match &plan.action {
        UndoAction::AlreadyAt => base.measured(format!(
            "already at revision {}: the template matches replicaset {}, nothing changed",
            plan.target_revision, plan.target_replica_set
        )),
        UndoAction::Patch { .. } => {
            let retried = match conflicts {
                0 => String::new(),
                n => format!(
                    " after {n} conflict{} re-read",
                    if n == 1 { "" } else { "s" }
                ),
            };
            let verb = if dry_run {
                "would roll back"
            } else {
                "rolled back"
            };
            base.measured(format!(
                "{verb} from {from} to revision {} (replicaset {}, which becomes revision {}){retried}",
                plan.target_revision, plan.target_replica_set, plan.resulting_revision
            ))
            .evidence(
                "one JSON patch, as kubectl rollout undo: replace /spec/template and /metadata/annotations",
            )
        }
    }
}

/// The report's `details.undo`: what was chosen and whether it was sent.
/// The undo in a rollback report's `details.undo`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UndoDetails {
    /// The Deployment's revision before the undo.
    pub from_revision: Option<i64>,
    /// The revision rolled back to.
    pub to_revision: i64,
    /// The ReplicaSet of that revision.
    pub replica_set: String,
    /// The number the target revision has after the undo (absent when nothing was patched).
    pub resulting_revision: Option<i64>,
    /// The undo patch was sent (false: a dry run, or the template already matched).
    pub patched: bool,
    /// 409 Conflicts met and re-decided on a fresh read.
    pub conflict_retries: u32,
}

impl UndoDetails {
    pub fn of(plan: &UndoPlan, conflicts: u32, patched: bool) -> Self {
        UndoDetails {
            from_revision: plan.current_revision,
            to_revision: plan.target_revision,
            replica_set: plan.target_replica_set.clone(),
            resulting_revision: patched.then_some(plan.resulting_revision),
            patched,
            conflict_retries: conflicts,
        }
    }
}

/// The verdict: the first failing finding decides it; otherwise what was done, in order.
pub fn verdict(findings: &[Finding]) -> (VerdictResult, String) {
    match findings.iter().find(|f| f.status == Status::Fail) {
        Some(f) => (
            VerdictResult::Fail,
            f.measured.clone().unwrap_or_else(|| f.title.clone()),
        ),
        None => {
            let said: Vec<String> = findings
                .iter()
                .filter(|f| f.id != "rollback.canary")
                .filter_map(|f| f.measured.clone())
                .collect();
            (VerdictResult::Pass, said.join("; "))
        }
    }
}

/// kubectl's refusal, with what to do about it.
pub fn refusal_finding(name: &str, error: &UndoError) -> Finding {
    let remediation = match error {
        UndoError::NoHistory { .. } => {
            format!("deployment {name} has a single revision: there is nothing to roll back to")
        }
        UndoError::RevisionNotFound { available, .. } => format!(
            "pick one of the revisions in history: {} (`kubectl posthog rollback history {name}`)",
            available
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        UndoError::Paused { .. } => {
            format!("resume it first (`kubectl rollout resume deployment/{name}`), then roll back")
        }
        UndoError::BadSelector { .. } => "fix the Deployment's spec.selector".to_string(),
    };
    finding(
        "rollback.undo",
        Severity::P1,
        Status::Fail,
        "The Deployment is rolled back like `kubectl rollout undo`",
    )
    .measured(error.to_string())
    .remediation(remediation)
}

/// How the wait for the rollout ended.
pub fn wait_finding(name: &str, outcome: &WaitOutcome) -> Finding {
    let base = |status| {
        finding(
            "rollback.rollout",
            Severity::P1,
            status,
            "The rollout completes (kubectl rollout status)",
        )
        .evidence(format!(
            "watch of deployment {name}; watch of the target's pods"
        ))
    };
    match outcome {
        WaitOutcome::Complete(deployment) => {
            let status = deployment.status.clone().unwrap_or_default();
            let revision = deployment
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(super::undo::REVISION_ANNOTATION))
                .map_or_else(String::new, |r| format!(", now revision {r}"));
            base(Status::Pass).measured(format!(
                "deployment \"{name}\" successfully rolled out: {} updated, {} available{revision}",
                status.updated_replicas.unwrap_or(0),
                status.available_replicas.unwrap_or(0)
            ))
        }
        WaitOutcome::DeadlineExceeded { message } => base(Status::Fail)
            .measured(message.clone())
            .remediation(format!(
                "the rolled-back pods do not become available: `kubectl describe deployment/{name}` and `kubectl posthog triage {name}`"
            )),
        WaitOutcome::PodsFailing { problems } => base(Status::Fail)
            .measured(pod_summary(problems))
            .remediation(format!(
                "the revision rolled back to is broken too: choose an older one with `kubectl posthog rollback history {name}` and --to-revision"
            )),
        WaitOutcome::TimedOut { timeout, last } => base(Status::Fail)
            .measured(format!(
                "not complete after {}: {last}",
                humantime::format_duration(*timeout)
            ))
            .remediation("wait longer with --timeout, or inspect with `kubectl posthog triage`"),
    }
}

fn pod_summary(problems: &[PodProblem]) -> String {
    let shown: Vec<String> = problems.iter().take(5).map(ToString::to_string).collect();
    let more = problems.len().saturating_sub(shown.len());
    let mut text = format!("crash-looping rollback target: {}", shown.join("; "));
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

/// The health endpoint after the rollout, judged by the checklist's health shape.
pub fn health_finding(url: &str, answer: Result<(u16, Option<HealthReport>), String>) -> Finding {
    let base = |status| {
        finding(
            "rollback.health",
            Severity::P1,
            status,
            "The health endpoint reports PostHog connected after the rollback",
        )
        .expected("HTTP 2xx with posthog.connected=true")
        .evidence(format!("GET {url}"))
    };
    match answer {
        Err(error) => base(Status::Fail).measured(error),
        Ok((code, report)) => {
            let described = report
                .as_ref()
                .map_or_else(|| "body is not JSON".to_string(), HealthReport::describe);
            let measured = format!("HTTP {code}, {described}");
            let ok_code = (200..300).contains(&code);
            match report {
                Some(r) if ok_code && r.posthog_connected() => base(Status::Pass).measured(measured),
                Some(r) if ok_code && r.shape == crate::posthog::HealthShape::NoPostHog => {
                    base(Status::Warn)
                        .measured(measured)
                        .remediation("make the health endpoint report posthog.connected (the checklist's healthCheck)")
                }
                _ => base(Status::Fail)
                    .measured(measured)
                    .remediation("the service is unhealthy after the rollback: `kubectl posthog triage`"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_problems_are_named_with_their_last_state() {
        let problems = vec![PodProblem {
            pod: "web-7c9-x2".into(),
            container: "app".into(),
            state: "CrashLoopBackOff".into(),
            last_state: Some("OOMKilled (exit 137)".into()),
            restarts: 4,
        }];
        let f = wait_finding("web", &WaitOutcome::PodsFailing { problems });
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.measured.as_deref(),
            Some(
                "crash-looping rollback target: pod web-7c9-x2 container app: CrashLoopBackOff, last state OOMKilled (exit 137), 4 restarts"
            )
        );
    }

    #[test]
    fn refusals_keep_kubectls_words_and_say_what_to_do() {
        let f = refusal_finding(
            "web",
            &UndoError::RevisionNotFound {
                revision: 9,
                available: vec![1, 2, 3],
            },
        );
        assert_eq!(
            f.measured.as_deref(),
            Some("unable to find specified revision 9 in history")
        );
        assert!(f.remediation.unwrap().contains("1, 2, 3"));
    }

    #[test]
    fn health_needs_a_connected_posthog() {
        let ok =
            crate::posthog::parse_health(r#"{"status":"healthy","posthog":{"connected":true}}"#)
                .ok();
        assert_eq!(
            health_finding("http://x/health", Ok((200, ok))).status,
            Status::Pass
        );
        let down =
            crate::posthog::parse_health(r#"{"status":"degraded","posthog":{"connected":false}}"#)
                .ok();
        assert_eq!(
            health_finding("http://x/health", Ok((200, down))).status,
            Status::Fail
        );
        assert_eq!(
            health_finding("http://x/health", Ok((503, None))).status,
            Status::Fail
        );
        let bare = crate::posthog::parse_health(r#"{"status":"ok"}"#).ok();
        assert_eq!(
            health_finding("http://x/health", Ok((200, bare))).status,
            Status::Warn
        );
        let f = health_finding(
            "http://x/health",
            Err("cannot reach http://x/health".into()),
        );
        assert_eq!(f.measured.as_deref(), Some("cannot reach http://x/health"));
    }
}
