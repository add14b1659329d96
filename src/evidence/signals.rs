//! The triage's vocabulary: the error classes the runbook has actions for, the signals measured
//! for them, our service's problems, where the decision tree lands and the actions it leads to.
//! Plain data shared by the signal reading (`triage_signals`), the tree (`triage`), the actions
//! (`actions`, `rotation`) and `--apply` (`apply`).

use schemars::JsonSchema;
use serde::Serialize;

use crate::report::Severity;

/// Where the decision tree lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Branch {
    PosthogIncident,
    Integration,
    Infrastructure,
    ResolvedOrIntermittent,
}

impl Branch {
    /// The runbook's words for the leaf.
    pub fn conclusion(self) -> &'static str {
        match self {
            Branch::PosthogIncident => {
                "PostHog-side incident: wait for PostHog to resolve, enable fallback"
            }
            Branch::Integration => "our integration issue: check credentials, config",
            Branch::Infrastructure => "our infrastructure issue: check pods, memory, network",
            Branch::ResolvedOrIntermittent => "likely resolved or intermittent: monitor",
        }
    }
}

/// The error classes the runbook has immediate actions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// 401/403.
    Auth,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// The health endpoint says PostHog is not connected, without a status code.
    Unclassified,
}

impl ErrorClass {
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Auth => "401/403 authentication",
            ErrorClass::RateLimited => "429 rate limited",
            ErrorClass::Server => "5xx PostHog errors",
            ErrorClass::Unclassified => "PostHog unreachable (health endpoint)",
        }
    }
}

/// One error class seen, how much, where it was measured and what severity it carries.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSignal {
    pub class: ErrorClass,
    pub per_minute: Option<f64>,
    /// `prometheus`, `logs` or `health`.
    pub source: &'static str,
    pub severity: Severity,
}

/// A problem of our own service (the "is our service healthy?" question).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProblem {
    pub what: String,
    pub severity: Severity,
}

/// An env var `triage --apply` sets on every container, like `kubectl set env deployment/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvChange {
    pub name: &'static str,
    pub value: &'static str,
}

pub const QUEUE: EnvChange = EnvChange {
    name: "RATE_LIMIT_MODE",
    value: "queue",
};
pub const FALLBACK: EnvChange = EnvChange {
    name: "POSTHOG_FALLBACK",
    value: "true",
};

/// One of the runbook's immediate actions, as the exact command for this Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Stable id, e.g. `enable-fallback`.
    pub id: &'static str,
    pub title: String,
    /// The command to run, ready to paste; absent when a person must act elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Set for actions `--apply` performs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvChange>,
    /// Every container already has the value: nothing to apply.
    pub already_done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Action {
    pub(crate) fn run(id: &'static str, title: impl Into<String>, command: String) -> Self {
        Action {
            id,
            title: title.into(),
            command: Some(command),
            env: None,
            already_done: false,
            note: None,
        }
    }

    pub(crate) fn manual(id: &'static str, title: impl Into<String>) -> Self {
        Action {
            id,
            title: title.into(),
            command: None,
            env: None,
            already_done: false,
            note: None,
        }
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}
