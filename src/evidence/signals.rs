//! The triage's vocabulary: the error classes the runbook has actions for, the signals measured
//! for them, our service's problems and where the decision tree lands. Plain data shared by the
//! signal reading (`triage_signals`), the tree (`triage`) and the actions (`actions`).

use serde::Serialize;

use crate::report::Severity;

/// Where the decision tree lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSignal {
    pub class: ErrorClass,
    pub per_minute: Option<f64>,
    /// `prometheus`, `logs` or `health`.
    pub source: &'static str,
    pub severity: Severity,
}

/// A problem of our own service (the "is our service healthy?" question).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProblem {
    pub what: String,
    pub severity: Severity,
}
