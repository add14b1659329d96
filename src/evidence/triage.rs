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

use serde::{Deserialize, Serialize};

use super::actions::{Action, actions_for};
use super::facts::{ErrorRates, LogErrors, PodsView, TriageFacts};
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

/// The alert table's thresholds (errors per minute, latency in ms); the `evidence.thresholds`
/// config section overrides them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Thresholds {
    pub auth_errors_per_minute: f64,
    pub rate_limited_per_minute: f64,
    pub server_errors_per_minute: f64,
    pub latency_p99_ms: f64,
    /// A restart this recent (minutes) makes the service unhealthy.
    pub recent_restart_minutes: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            auth_errors_per_minute: 0.0,
            rate_limited_per_minute: 5.0,
            server_errors_per_minute: 10.0,
            latency_p99_ms: 5000.0,
            recent_restart_minutes: 15.0,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Yes,
    No,
    Unknown,
}

/// One question of the tree, its answer and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionStep {
    pub question: &'static str,
    pub answer: Answer,
    pub because: String,
}

/// A problem of our own service (the "is our service healthy?" question).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProblem {
    pub what: String,
    pub severity: Severity,
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

/// Error classes with a non-zero rate: from Prometheus when it answered, else estimated from the
/// error lines in the pods' logs; the health endpoint adds "PostHog not connected".
fn error_signals(
    facts: &TriageFacts,
    th: &Thresholds,
    caveats: &mut Vec<String>,
) -> (Vec<ErrorSignal>, Vec<&'static str>) {
    let mut consulted = Vec::new();
    let mut signals = match (&facts.error_rates, &facts.log_errors) {
        (Ok(rates), _) if has_any_rate(rates) => {
            consulted.push("Prometheus");
            from_rates(rates, th)
        }
        (rates, Ok(logs)) => {
            let why = match rates {
                Ok(_) => "Prometheus returned no series for the error queries".to_string(),
                Err(reason) => reason.clone(),
            };
            caveats.push(format!(
                "{why}: error rates are estimated from pod log lines"
            ));
            consulted.push("pod logs");
            from_logs(logs, th)
        }
        (Err(prom), Err(logs)) => {
            caveats.push(format!(
                "no error rates: Prometheus unavailable ({prom}) and pod logs unreadable ({logs})"
            ));
            Vec::new()
        }
        (Ok(_), Err(logs)) => {
            caveats.push(format!(
                "Prometheus returned no series and pod logs are unreadable ({logs})"
            ));
            Vec::new()
        }
    };
    if let Ok(health) = &facts.health {
        consulted.push("health endpoint");
        if health.posthog_connected == Some(false) && signals.is_empty() {
            signals.push(ErrorSignal {
                class: ErrorClass::Unclassified,
                per_minute: None,
                source: "health",
                severity: Severity::P2,
            });
        }
    }
    (signals, consulted)
}

fn has_any_rate(rates: &ErrorRates) -> bool {
    rates.auth_per_min.is_some()
        || rates.rate_limited_per_min.is_some()
        || rates.server_per_min.is_some()
}

fn from_rates(rates: &ErrorRates, th: &Thresholds) -> Vec<ErrorSignal> {
    [
        (ErrorClass::Auth, rates.auth_per_min),
        (ErrorClass::RateLimited, rates.rate_limited_per_min),
        (ErrorClass::Server, rates.server_per_min),
    ]
    .into_iter()
    .filter_map(|(class, rate)| {
        let rate = rate.filter(|r| *r > 0.0)?;
        Some(ErrorSignal {
            class,
            per_minute: Some(rate),
            source: "prometheus",
            severity: class_severity(class, rate, th),
        })
    })
    .collect()
}

fn from_logs(logs: &LogErrors, th: &Thresholds) -> Vec<ErrorSignal> {
    let minutes = logs.window_minutes.max(1.0);
    [
        (ErrorClass::Auth, logs.auth),
        (ErrorClass::RateLimited, logs.rate_limited),
        (ErrorClass::Server, logs.server),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .map(|(class, count)| {
        let rate = count as f64 / minutes;
        ErrorSignal {
            class,
            per_minute: Some(rate),
            source: "logs",
            severity: class_severity(class, rate, th),
        }
    })
    .collect()
}

/// The alert table: above the threshold is the alert's severity, at or below it one level milder.
pub fn class_severity(class: ErrorClass, per_minute: f64, th: &Thresholds) -> Severity {
    match class {
        ErrorClass::Auth if per_minute > th.auth_errors_per_minute => Severity::P1,
        ErrorClass::Auth => Severity::P2,
        ErrorClass::Server if per_minute > th.server_errors_per_minute => Severity::P1,
        ErrorClass::Server => Severity::P2,
        ErrorClass::RateLimited if per_minute > th.rate_limited_per_minute => Severity::P2,
        ErrorClass::RateLimited => Severity::P3,
        ErrorClass::Unclassified => Severity::P2,
    }
}

/// Full outage on PostHog's side stops our feature entirely; anything less degrades it.
fn incident_severity(view: &super::facts::StatusView) -> Severity {
    let impacts = view
        .incidents
        .iter()
        .map(|i| i.impact.as_str())
        .chain(view.indicator.as_deref());
    impacts
        .map(|impact| match impact {
            "full_outage" | "critical" | "major_outage" => Severity::P1,
            "maintenance" | "under_maintenance" | "minor" => Severity::P3,
            _ => Severity::P2,
        })
        .min()
        .unwrap_or(Severity::P3)
}

fn service_problems(
    facts: &TriageFacts,
    th: &Thresholds,
    caveats: &mut Vec<String>,
) -> Vec<ServiceProblem> {
    let mut problems = Vec::new();
    match &facts.health {
        Ok(health) if !health.is_healthy() => {
            let what = match (health.status, &health.error, &health.reported) {
                (None, Some(error), _) => format!("health endpoint unreachable: {error}"),
                (Some(status), _, Some(reported)) => {
                    format!("health endpoint answered {status} ({reported})")
                }
                (Some(status), _, None) => format!("health endpoint answered {status}"),
                (None, None, _) => "health endpoint did not answer".to_string(),
            };
            let down = health.status.is_none_or(|s| s >= 500);
            problems.push(ServiceProblem {
                what,
                severity: if down { Severity::P1 } else { Severity::P2 },
            });
        }
        Ok(_) => {}
        Err(reason) => caveats.push(format!("health endpoint not checked: {reason}")),
    }
    match &facts.pods {
        Ok(pods) => pod_problems(pods, facts.observed_at, th, &mut problems),
        Err(reason) => caveats.push(format!("pods not checked: {reason}")),
    }
    if let Ok(rates) = &facts.error_rates
        && let Some(p99) = rates.latency_p99_ms.filter(|p| *p > th.latency_p99_ms)
    {
        problems.push(ServiceProblem {
            what: format!("p99 latency {p99:.0} ms > {:.0} ms", th.latency_p99_ms),
            severity: Severity::P2,
        });
    }
    problems
}

fn pod_problems(
    pods: &PodsView,
    now: jiff::Timestamp,
    th: &Thresholds,
    problems: &mut Vec<ServiceProblem>,
) {
    let ready = pods.ready();
    if pods.pods.is_empty() || ready == 0 {
        problems.push(ServiceProblem {
            what: format!("no pod ready (0/{} desired)", pods.desired),
            severity: Severity::P1,
        });
    } else if (ready as u32) < pods.desired {
        problems.push(ServiceProblem {
            what: format!("{ready}/{} pods ready", pods.desired),
            severity: Severity::P2,
        });
    }
    for pod in &pods.pods {
        if let Some(reason) = &pod.waiting_reason
            && reason != "ContainerCreating"
        {
            problems.push(ServiceProblem {
                what: format!("pod {} is waiting: {reason}", pod.name),
                severity: Severity::P2,
            });
        }
        let recent = pod.last_termination_at.is_some_and(|at| {
            now.duration_since(at).as_secs_f64() <= th.recent_restart_minutes * 60.0
        });
        match pod.last_termination.as_deref() {
            Some("OOMKilled") => problems.push(ServiceProblem {
                what: format!(
                    "pod {} was OOMKilled ({} restart{}, memory limit {})",
                    pod.name,
                    pod.restarts,
                    crate::report::plural(pod.restarts as usize),
                    pod.memory_limit.as_deref().unwrap_or("none")
                ),
                severity: Severity::P2,
            }),
            Some(reason) if recent && pod.waiting_reason.is_none() => {
                problems.push(ServiceProblem {
                    what: format!("pod {} restarted recently ({reason})", pod.name),
                    severity: Severity::P3,
                })
            }
            _ => {}
        }
    }
}

fn healthy_because(facts: &TriageFacts) -> String {
    let mut parts = Vec::new();
    if let Ok(pods) = &facts.pods {
        parts.push(format!("{}/{} pods ready", pods.ready(), pods.pods.len()));
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
