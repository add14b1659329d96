//! A rollback's intent, recorded in the stable's Lease before its PATCH and marked done once its
//! wait ended, so that re-running `rollback` after a lost answer (the PATCH applied but answered
//! 500), a timeout or a kill finishes *that* rollback instead of undoing it (a second plain undo
//! would go back to the bad release). Pure: decided from the intent and the Deployment as read.

use serde::{Deserialize, Serialize};

/// What a rollback set out to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackIntent {
    /// The Deployment's revision before the undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<i64>,
    /// The pod-template-hash of the template it ran before the undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_hash: Option<String>,
    /// The revision rolled back to, and its pod-template-hash.
    pub to_revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_hash: Option<String>,
    pub at: jiff::Timestamp,
    pub by: String,
    /// The wait for the rollout ended (complete or failed): a new `rollback` is a new one.
    #[serde(default)]
    pub done: bool,
}

impl RollbackIntent {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An unreadable intent is treated as none (it only ever saves a wait).
    pub fn decode(text: &str) -> Option<RollbackIntent> {
        serde_json::from_str(text).ok()
    }
}

/// What a rollback run does, given the last recorded intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// No unfinished rollback: decide the undo afresh.
    Fresh,
    /// The recorded undo was applied (the Deployment runs its target template): only wait.
    Applied(RollbackIntent),
    /// The recorded undo did not land (the Deployment still runs what it ran before): send it
    /// again, to the same revision.
    NotApplied(RollbackIntent),
}

/// Decides from the unfinished intent and the hash of the template the Deployment runs now.
/// Anything else (someone changed the Deployment since) is a fresh rollback.
pub fn decide(intent: Option<&RollbackIntent>, current_hash: Option<&str>) -> Resume {
    let Some(intent) = intent.filter(|i| !i.done) else {
        return Resume::Fresh;
    };
    match current_hash {
        Some(hash) if intent.to_hash.as_deref() == Some(hash) => Resume::Applied(intent.clone()),
        Some(hash) if intent.from_hash.as_deref() == Some(hash) => {
            Resume::NotApplied(intent.clone())
        }
        _ => Resume::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(done: bool) -> RollbackIntent {
        RollbackIntent {
            from_revision: Some(3),
            from_hash: Some("bad".into()),
            to_revision: 2,
            to_hash: Some("good".into()),
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            by: "ci/1".into(),
            done,
        }
    }

    #[test]
    fn an_applied_unfinished_rollback_is_only_waited_for() {
        let i = intent(false);
        assert_eq!(decide(Some(&i), Some("good")), Resume::Applied(i.clone()));
        assert_eq!(decide(Some(&i), Some("bad")), Resume::NotApplied(i.clone()));
        // Someone deployed something else since: a new rollback.
        assert_eq!(decide(Some(&i), Some("other")), Resume::Fresh);
        // A finished one does not stop the next rollback.
        assert_eq!(decide(Some(&intent(true)), Some("good")), Resume::Fresh);
        assert_eq!(decide(None, Some("good")), Resume::Fresh);
        let text = i.encode();
        assert_eq!(RollbackIntent::decode(&text), Some(i));
        assert_eq!(RollbackIntent::decode("{"), None);
    }
}
