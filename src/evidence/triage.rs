//! The runbook's decision tree as a pure function over the triage facts:
//!
//! ```text
//! PostHog API returning errors?
//! ├─ YES: Is the status page showing an incident?
//! │   ├─ YES → Wait for PostHog to resolve. Enable fallback.
//! │   └─ NO  → Our integration issue. Check credentials, config.
//! └─ NO: Is our service healthy?
//!     ├─ YES → Likely resolved or intermittent. Monitor.
//!     └─ NO  → Our infrastructure issue. Check pods, memory, network.
//! ```
//!
//! Severity follows the runbook's definitions (P1 complete outage … P4 no user impact) with the
//! checklist's alert table for error rates: 401/403 > 0 is P1, 5xx > 10/min P1, 429 > 5/min P2,
//! p99 > 5000 ms P2. Below an alert threshold an error class is one level milder.

pub use crate::config::evidence::Thresholds;
use schemars::JsonSchema;
use serde::Serialize;

use super::actions::{Action, actions_for};
use super::facts::TriageFacts;
pub use super::signals::{Branch, ErrorClass, ErrorSignal, ServiceProblem};
pub use super::triage_signals::class_severity;
use super::triage_signals::{error_signals, incident_severity, service_problems};
use crate::report::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Yes,
    No,
    Unknown,
}

/// One question of the tree, its answer and why.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionStep {
    pub question: &'static str,
    pub answer: Answer,
    pub because: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriageOutcome {
    pub branch: Branch,
    pub severity: Severity,
    pub conclusion: &'static str,
    pub path: Vec<DecisionStep>,
    pub errors: Vec<ErrorSignal>,
    pub service_problems: Vec<ServiceProblem>,
    pub actions: Vec<Action>,
    /// Sources that could not be consulted, and what that means for the answer.
    pub caveats: Vec<String>,
}

const Q_ERRORS: &str = "PostHog API returning errors?";
const Q_STATUS: &str = "Is the PostHog status page showing an incident?";
const Q_HEALTHY: &str = "Is our service healthy?";

/// Walks the decision tree over the facts.
pub fn decide(facts: &TriageFacts, thresholds: &Thresholds) -> TriageOutcome {
    let mut caveats = Vec::new();
    let (errors, errors_from) = error_signals(facts, thresholds, &mut caveats);
    let service_problems = service_problems(facts, thresholds, &mut caveats);
    let mut path = Vec::new();

    let branch = if errors.is_empty() {
        path.push(DecisionStep {
            question: Q_ERRORS,
            answer: if errors_from.is_empty() {
                Answer::Unknown
            } else {
                Answer::No
            },
            because: if errors_from.is_empty() {
                "no error source could be read (Prometheus, pod logs, health endpoint)".into()
            } else {
                format!(
                    "no 401/403, 429 or 5xx in the last 5 minutes ({})",
                    errors_from.join(", ")
                )
            },
        });
        let healthy = service_problems.is_empty();
        path.push(DecisionStep {
            question: Q_HEALTHY,
            answer: if healthy { Answer::Yes } else { Answer::No },
            because: if healthy {
                healthy_because(facts)
            } else {
                service_problems
                    .iter()
                    .map(|p| p.what.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        });
        if healthy {
            Branch::ResolvedOrIntermittent
        } else {
            Branch::Infrastructure
        }
    } else {
        path.push(DecisionStep {
            question: Q_ERRORS,
            answer: Answer::Yes,
            because: errors
                .iter()
                .map(describe_signal)
                .collect::<Vec<_>>()
                .join("; "),
        });
        match &facts.status_page {
            Ok(view) if view.has_incident() => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::Yes,
                    because: describe_incidents(view),
                });
                Branch::PosthogIncident
            }
            Ok(view) => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::No,
                    because: format!("no ongoing incident for region {}", view.region),
                });
                Branch::Integration
            }
            Err(reason) => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::Unknown,
                    because: format!("status page unreachable: {reason}"),
                });
                caveats.push(
                    "the status page could not be read: check https://www.posthogstatus.com from \
                     another network (mobile or VPN) before acting on credentials"
                        .into(),
                );
                Branch::Integration
            }
        }
    };

    let incident_severity = match (&facts.status_page, branch) {
        (Ok(view), Branch::PosthogIncident) => Some(incident_severity(view)),
        _ => None,
    };
    let severity = errors
        .iter()
        .map(|e| e.severity)
        .chain(service_problems.iter().map(|p| p.severity))
        .chain(incident_severity)
        .min()
        .unwrap_or(Severity::P4);
    let classes: Vec<ErrorClass> = errors.iter().map(|e| e.class).collect();
    TriageOutcome {
        branch,
        severity,
        conclusion: branch.conclusion(),
        path,
        actions: actions_for(branch, &classes, facts),
        errors,
        service_problems,
        caveats,
    }
}

fn healthy_because(facts: &TriageFacts) -> String {
    let mut parts = Vec::new();
    if let Ok(pods) = &facts.pods {
        parts.push(format!("{}/{} pods ready", pods.ready(), pods.live()));
    }
    if let Ok(health) = &facts.health {
        parts.push(format!(
            "health endpoint {}",
            health.status.map_or("-".to_string(), |s| s.to_string())
        ));
    }
    if parts.is_empty() {
        "nothing indicates a problem".to_string()
    } else {
        parts.join(", ")
    }
}

pub fn describe_signal(signal: &ErrorSignal) -> String {
    match signal.per_minute {
        Some(rate) => format!(
            "{} at {rate:.1}/min ({})",
            signal.class.label(),
            signal.source
        ),
        None => format!("{} ({})", signal.class.label(), signal.source),
    }
}

fn describe_incidents(view: &super::facts::StatusView) -> String {
    if view.incidents.is_empty() {
        return format!(
            "status indicator {}",
            view.indicator.as_deref().unwrap_or("unknown")
        );
    }
    view.incidents
        .iter()
        .map(|i| format!("{:?} ({}, {})", i.name, i.impact, i.status))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "triage_tests.rs"]
mod tests;
