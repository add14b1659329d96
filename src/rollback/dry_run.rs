//! What a rollback would do, decided from what was read and nothing else: the canary it would
//! abort, the undo (or kubectl's refusal), and the pod-template diff between the current and the
//! target revision. Pure; `rollback --dry-run` prints it and sends no write.

use std::time::Duration;

use super::findings::canary_finding;
use super::recover::CanaryRecovery;
use crate::report::Finding;
use crate::rollout::apply::Fetched;
use crate::rollout::findings;
use crate::rollout::{history, undo};

/// Without `--to-revision`, an aborted canary whose images the stable never ran leaves nothing
/// to undo: the stable is the version to return to.
pub fn undo_needed(recovery: Option<&CanaryRecovery>, to_revision: Option<i64>) -> bool {
    recovery.is_none_or(|r| r.promoted) || to_revision.is_some()
}

/// The outcome of a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    pub findings: Vec<Finding>,
    /// A unified diff; empty when the template would not change.
    pub diff: String,
    /// `details.undo` (absent when no undo would be sent).
    pub undo: Option<findings::UndoDetails>,
}

pub fn plan(
    name: &str,
    fetched: &Fetched,
    recovery: Option<&CanaryRecovery>,
    heartbeat_age: Option<Duration>,
    to_revision: Option<i64>,
) -> DryRun {
    let mut out = DryRun {
        findings: Vec::new(),
        diff: String::new(),
        undo: None,
    };
    if let Some(recovery) = recovery {
        out.findings
            .push(canary_finding(recovery, None, heartbeat_age));
    }
    let deployment = &fetched.deployment;
    let current_revision = undo::revision_of(deployment.metadata.annotations.as_ref());
    if !undo_needed(recovery, to_revision) {
        out.findings
            .push(findings::stable_kept_finding(current_revision));
        return out;
    }
    let to_revision = to_revision.unwrap_or(0);
    let current = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    // The diff is shown whenever the target exists, even when the real run would be refused.
    if let Ok(target) = undo::select_revision(deployment, &fetched.replica_sets, to_revision) {
        let template = target
            .replica_set
            .spec
            .as_ref()
            .and_then(|s| s.template.clone())
            .unwrap_or_default();
        if !undo::equal_ignore_hash(&template, &current) {
            let current_label = current_revision.map_or_else(
                || "current".to_string(),
                |r| format!("current (revision {r})"),
            );
            out.diff = history::template_diff(
                &current,
                &current_label,
                &template,
                &format!("revision {}", target.number),
            );
        }
    }
    match undo::undo_patch(deployment, &fetched.replica_sets, to_revision) {
        Ok(plan) => {
            out.undo = Some(findings::UndoDetails::of(&plan, 0, false));
            out.findings.push(findings::undo_finding(&plan, 0, true));
        }
        Err(refusal) => out.findings.push(findings::refusal_finding(name, &refusal)),
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::Status;
    use crate::rollout::undo::tests::{deployment, replica_set};

    fn fetched(paused: bool) -> Fetched {
        let mut d = deployment("app:3", "3", json!({}));
        d.spec.as_mut().unwrap().paused = Some(paused);
        Fetched {
            deployment: d,
            replica_sets: vec![
                replica_set("web-a", Some("1"), "app:1", "dep-uid"),
                replica_set("web-c", Some("3"), "app:3", "dep-uid"),
            ],
        }
    }

    #[test]
    fn shows_the_diff_and_what_would_be_sent() {
        let out = plan("web", &fetched(false), None, None, None);
        assert!(out.diff.contains("+  - image: app:1"), "{}", out.diff);
        assert_eq!(out.findings[0].status, Status::Pass);
        assert!(
            out.findings[0]
                .measured
                .as_deref()
                .unwrap()
                .starts_with("would roll back from revision 3 to revision 1")
        );
        let undo = out.undo.expect("an undo is planned");
        assert_eq!(undo.to_revision, 1);
        assert!(!undo.patched);
    }

    #[test]
    fn a_refusal_still_shows_the_diff() {
        let out = plan("web", &fetched(true), None, None, None);
        assert!(!out.diff.is_empty());
        assert_eq!(out.findings[0].status, Status::Fail);
        assert!(out.undo.is_none());
    }

    #[test]
    fn only_a_promoted_canary_or_an_explicit_revision_needs_an_undo() {
        assert!(undo_needed(None, None));
        let mut recovery = CanaryRecovery {
            canary_name: "web-canary".into(),
            phase: None,
            driver_alive: false,
            abort_state: false,
            restore: None,
            delete_canary: true,
            promoted: false,
            state: None,
        };
        assert!(!undo_needed(Some(&recovery), None));
        assert!(undo_needed(Some(&recovery), Some(2)));
        recovery.promoted = true;
        assert!(undo_needed(Some(&recovery), None));
    }
}
