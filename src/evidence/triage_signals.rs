//! The readings the decision tree asks about, each with the severity it carries: error classes
//! from Prometheus (or from log lines without it) and the health endpoint; problems of our own
//! service (health endpoint, pods, latency); the impact of a PostHog incident.

use super::facts::{ErrorRates, LogErrors, PodsView, StatusView, TriageFacts};
use super::signals::{ErrorClass, ErrorSignal, ServiceProblem};
use crate::config::evidence::Thresholds;
use crate::report::Severity;

/// Error classes with a non-zero rate: from Prometheus when it answered, else estimated from the
/// error lines in the pods' logs; the health endpoint adds "PostHog not connected".
pub(crate) fn error_signals(
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
                "{why}: error rates are estimated from pod log lines, which see only the \
                 responses the pods log (a status code or an error word on a line); requests \
                 served without a log line are not counted, so a quiet log is not proof of no errors"
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
pub(crate) fn incident_severity(view: &StatusView) -> Severity {
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

pub(crate) fn service_problems(
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
