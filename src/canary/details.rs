//! The typed `details` of a canary run's report (and of its `--dry-run` plan); `canary status`
//! writes the [`CanaryState`] itself.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::abort::AbortSummary;
use super::analysis::{Policy, Reading};
use super::driver::{AbortKind, Record};
use super::plan::CanaryStep;
use super::settings::Settings;
use super::state::{CanaryState, Phase};
use crate::report::CommandDetails;

/// How a run ended, as programs match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// `--dry-run`: the plan, nothing changed.
    Planned,
    Promoted,
    AbortedByAnalysis,
    AbortedInconclusive,
    AbortedByHealth,
    AbortedByOperator,
    AbortedByConflict,
    AbortedByError,
    PromotionFailed,
    InterruptedAborted,
    InterruptedLeft,
    /// Stopped by an error; the canary left in place (`--on-error leave`).
    Failed,
    /// Stopped by an error and aborted (`--on-error abort`).
    FailedAborted,
    /// Another run or a rollback took the canary over; this run changed nothing more.
    Superseded,
}

impl RunOutcome {
    /// The outcome of an abort of this kind.
    pub fn aborted(kind: &AbortKind) -> Self {
        match kind {
            AbortKind::Operator(_) => RunOutcome::AbortedByOperator,
            AbortKind::Conflict => RunOutcome::AbortedByConflict,
            AbortKind::Error => RunOutcome::AbortedByError,
            AbortKind::Health => RunOutcome::AbortedByHealth,
            AbortKind::Inconclusive { .. } => RunOutcome::AbortedInconclusive,
            AbortKind::Analysis => RunOutcome::AbortedByAnalysis,
        }
    }
}

/// A canary run's report details.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryDetails {
    pub outcome: RunOutcome,
    pub phase: Phase,
    /// Container name → the image the canary runs.
    pub images: BTreeMap<String, String>,
    /// Container name → the image the stable ran before the canary.
    pub stable_images: BTreeMap<String, String>,
    /// The canary Deployment's name.
    pub canary: String,
    /// The stable's `spec.replicas` before the canary.
    pub stable_replicas: u32,
    pub steps: Vec<CanaryStep>,
    /// 1-based number of the step the run ended at.
    pub step: usize,
    /// The analysis interval and window, e.g. `30s`, `5m`.
    pub interval: String,
    pub window: String,
    pub policy: Policy,
    /// `prometheus <url>`, `simulator`, …
    pub metric_source: String,
    pub analysis_rounds: usize,
    /// The latest reading of each metric.
    pub last_analysis: Vec<Reading>,
    pub started_at: jiff::Timestamp,
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// Present when the run aborted (or was aborted on an interrupt or an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortDetails>,
    /// Present when the canary was promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<jiff::Timestamp>,
}

/// What an abort did, and how fast.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortDetails {
    /// `analysis`, `health`, `conflict`, `error`, `inconclusive-no-data`,
    /// `inconclusive-source-failed` or `operator: WHO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the deciding reading was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<jiff::Timestamp>,
    /// When the canary's replicas were set to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_zeroed_at: Option<jiff::Timestamp>,
    /// From the deciding reading to the canary at zero replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_to_zero_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_ready: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_removed: Option<bool>,
}

impl CommandDetails for CanaryDetails {
    const COMMAND: &'static str = "canary";
}

impl CommandDetails for CanaryState {
    const COMMAND: &'static str = "canary";
}

/// The label of an abort's kind, as [`AbortDetails::kind`] holds it.
pub fn abort_kind_label(kind: &AbortKind) -> String {
    match kind {
        AbortKind::Analysis => "analysis".to_string(),
        AbortKind::Inconclusive {
            infrastructure: true,
        } => "inconclusive-source-failed".into(),
        AbortKind::Inconclusive {
            infrastructure: false,
        } => "inconclusive-no-data".into(),
        AbortKind::Health => "health".into(),
        AbortKind::Operator(by) => format!("operator: {by}"),
        AbortKind::Conflict => "conflict".into(),
        AbortKind::Error => "error".into(),
    }
}

/// The details of a run from its state, settings and record.
pub fn run_details(
    state: &CanaryState,
    settings: &Settings,
    record: &Record,
    source: &str,
    outcome: RunOutcome,
    abort: Option<(&AbortSummary, Option<&AbortKind>)>,
    notes: &[String],
) -> CanaryDetails {
    let abort = abort.map(|(summary, kind)| AbortDetails {
        kind: kind.map(abort_kind_label),
        reason: state.reason.clone(),
        decided_at: record.decided_at,
        canary_zeroed_at: summary.canary_zeroed_at,
        decision_to_zero_ms: record
            .decided_at
            .zip(summary.canary_zeroed_at)
            .map(|(decided, zeroed)| (zeroed.duration_since(decided).as_millis() as i64).max(0)),
        stable_replicas: Some(summary.stable_replicas),
        stable_ready: Some(summary.stable_ready),
        canary_removed: Some(summary.canary_removed),
    });
    CanaryDetails {
        outcome,
        phase: state.phase,
        images: state.images.clone(),
        stable_images: state.stable_images.clone(),
        canary: state.canary_name.clone(),
        stable_replicas: state.stable_replicas,
        steps: state.steps.clone(),
        step: state.step + 1,
        interval: humantime::format_duration(settings.interval).to_string(),
        window: humantime::format_duration(settings.window).to_string(),
        policy: settings.policy,
        metric_source: source.to_string(),
        analysis_rounds: record.rounds,
        last_analysis: record.latest.values().cloned().collect(),
        started_at: state.started_at,
        notes: notes.to_vec(),
        finished_at: record.finished_at,
        duration_seconds: record
            .finished_at
            .map(|finished| finished.duration_since(state.started_at).as_secs()),
        abort,
        promoted_at: (state.phase == Phase::Promoted)
            .then_some(record.finished_at)
            .flatten(),
    }
}
