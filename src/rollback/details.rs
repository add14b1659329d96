//! The typed `details` of a rollback's report (`rollback history` writes
//! [`crate::rollout::history::HistoryDetails`]).

use schemars::JsonSchema;
use serde::Serialize;

use super::recover::CanaryRecovery;
use crate::report::CommandDetails;
use crate::rollout::findings::UndoDetails;
use crate::rollout::pods::PodProblem;

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackDetails {
    /// `--dry-run`: nothing changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// `--dry-run`: the unified pod-template diff from the current to the target revision
    /// (empty when the template would not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The canary recovered first (absent without a canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRecovery>,
    /// The undo sent, or that would be sent (absent when the stable is kept as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<UndoDetails>,
    /// The rollback target's pods that failed the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_pods: Option<Vec<PodProblem>>,
}

impl CommandDetails for RollbackDetails {
    const COMMAND: &'static str = "rollback";
}
