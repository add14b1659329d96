//! One finding per triage source: the status page, the health endpoint, each error class and
//! the p99 (with the PromQL behind it), the logs' error lines, the pods.

use std::fmt::Write as _;

use super::facts::{ErrorRates, LogErrors, Observed, TriageFacts};
use super::triage::{ErrorClass, Thresholds, class_severity};
use crate::report::{Finding, Severity, Status, Step};

fn skipped(id: &str, title: &str, reason: &str) -> Finding {
    Finding::new(
        id,
        Step::Infrastructure,
        Severity::P4,
        Status::Skipped,
        title,
    )
    .measured(format!("not checked: {reason}"))
}

pub(crate) fn status_page_finding(facts: &TriageFacts) -> Finding {
    let title = "PostHog status page (region-filtered)";
    match &facts.status_page {
        Err(reason) => skipped("triage.status-page", title, reason).remediation(
            "check https://www.posthogstatus.com from another network (mobile or VPN)",
        ),
        Ok(view) if view.has_incident() => {
            let list = view
                .incidents
                .iter()
                .map(|i| format!("{:?} {} ({})", i.name, i.impact, i.status))
                .collect::<Vec<_>>()
                .join("; ");
            let severity = if view.incidents.iter().any(|i| i.impact == "full_outage") {
                Severity::P1
            } else {
                Severity::P2
            };
            Finding::new(
                "triage.status-page",
                Step::Infrastructure,
                severity,
                Status::Fail,
                title,
            )
            .measured(if list.is_empty() {
                format!("indicator {}", view.indicator.as_deref().unwrap_or("?"))
            } else {
                list
            })
            .evidence(format!("{} (region {})", view.page_url, view.region))
        }
        Ok(view) => Finding::new(
            "triage.status-page",
            Step::Infrastructure,
            Severity::P4,
            Status::Pass,
            title,
        )
        .measured(format!("no ongoing incident for region {}", view.region))
        .evidence(view.page_url.clone()),
    }
}

pub(crate) fn health_finding(facts: &TriageFacts) -> Finding {
    let title = "Integration health endpoint includes PostHog connectivity";
    let health = match &facts.health {
        Err(reason) => return skipped("triage.health", title, reason),
        Ok(h) => h,
    };
    let mut parts = vec![
        health
            .status
            .map_or("no answer".to_string(), |s| s.to_string()),
    ];
    parts.extend(health.reported.clone());
    if let Some(c) = health.posthog_connected {
        parts.push(format!("posthog.connected={c}"));
    }
    if let Some(l) = health.posthog_latency_ms {
        parts.push(format!("latency {l:.0} ms"));
    }
    if let Some(e) = &health.error {
        parts.push(e.clone());
    }
    let (status, severity) = if !health.is_healthy() {
        (
            Status::Fail,
            if health.status.is_none_or(|s| s >= 500) {
                Severity::P1
            } else {
                Severity::P2
            },
        )
    } else if health.posthog_connected == Some(false) {
        (Status::Fail, Severity::P2)
    } else {
        (Status::Pass, Severity::P4)
    };
    Finding::new(
        "triage.health",
        Step::Infrastructure,
        severity,
        status,
        title,
    )
    .measured(parts.join(", "))
    .expected("2xx with posthog.connected=true")
    .evidence(health.asked.clone())
}

pub(crate) fn rate_findings(facts: &TriageFacts, th: &Thresholds) -> Vec<Finding> {
    let rows: [(&str, &str, ErrorClass, f64); 3] = [
        (
            "triage.errors.auth",
            "401/403 authentication errors",
            ErrorClass::Auth,
            th.auth_errors_per_minute,
        ),
        (
            "triage.errors.rate-limited",
            "429 rate limited",
            ErrorClass::RateLimited,
            th.rate_limited_per_minute,
        ),
        (
            "triage.errors.5xx",
            "5xx errors",
            ErrorClass::Server,
            th.server_errors_per_minute,
        ),
    ];
    let mut findings: Vec<Finding> = rows
        .iter()
        .map(|(id, title, class, limit)| {
            rate_finding(
                id,
                title,
                *class,
                *limit,
                &facts.error_rates,
                &facts.log_errors,
                th,
            )
        })
        .collect();
    let title = "p99 latency";
    findings.push(match &facts.error_rates {
        Ok(rates) => match rates.latency_p99_ms {
            Some(p99) => Finding::new(
                "triage.latency-p99",
                Step::Infrastructure,
                Severity::P2,
                if p99 > th.latency_p99_ms {
                    Status::Fail
                } else {
                    Status::Pass
                },
                title,
            )
            .measured(format!("{p99:.0} ms"))
            .expected(format!("≤ {:.0} ms (High Latency, P2)", th.latency_p99_ms))
            .evidence(query_of(rates, "latency-p99")),
            None => skipped(
                "triage.latency-p99",
                title,
                "no data (no requests in the window)",
            ),
        },
        Err(reason) => skipped("triage.latency-p99", title, reason),
    });
    findings
}

fn rate_finding(
    id: &str,
    title: &str,
    class: ErrorClass,
    limit: f64,
    rates: &Observed<ErrorRates>,
    logs: &Observed<LogErrors>,
    th: &Thresholds,
) -> Finding {
    let query_id = match class {
        ErrorClass::Auth => "auth-failures",
        ErrorClass::RateLimited => "rate-limited",
        _ => "errors-5xx",
    };
    let from_prometheus = rates.as_ref().ok().and_then(|r| {
        let value = match class {
            ErrorClass::Auth => r.auth_per_min,
            ErrorClass::RateLimited => r.rate_limited_per_min,
            _ => r.server_per_min,
        };
        value.map(|v| (v, query_of(r, query_id)))
    });
    let (value, evidence) = match (from_prometheus, logs) {
        (Some((value, query)), _) => (value, query),
        (None, Ok(logs)) => {
            let count = match class {
                ErrorClass::Auth => logs.auth,
                ErrorClass::RateLimited => logs.rate_limited,
                _ => logs.server,
            };
            (
                count as f64 / logs.window_minutes.max(1.0),
                format!(
                    "{count} matching log lines in the last {:.0} min (Prometheus unavailable)",
                    logs.window_minutes
                ),
            )
        }
        (None, Err(reason)) => return skipped(id, title, reason),
    };
    // A passing row shows the alert's own severity; a firing one the severity it carries now.
    let alert = class_severity(class, limit + 1.0, th);
    let severity = if value > 0.0 {
        class_severity(class, value, th)
    } else {
        alert
    };
    let status = if value > limit {
        Status::Fail
    } else if value > 0.0 {
        Status::Warn
    } else {
        Status::Pass
    };
    Finding::new(id, Step::Infrastructure, severity, status, title)
        .measured(format!("{value:.1}/min"))
        .expected(format!("≤ {limit}/min ({} alert above)", alert.label()))
        .evidence(evidence)
}

fn query_of(rates: &ErrorRates, id: &str) -> String {
    rates
        .queries
        .iter()
        .find(|(q, _)| q == id)
        .map(|(_, promql)| promql.clone())
        .unwrap_or_default()
}

pub(crate) fn log_finding(facts: &TriageFacts) -> Finding {
    let title = "Recent error lines in pod logs";
    let logs = match &facts.log_errors {
        Err(reason) => return skipped("triage.log-errors", title, reason),
        Ok(l) => l,
    };
    let mut measured = format!(
        "{} error line{} in the last {:.0} min",
        logs.error_lines,
        crate::report::plural(logs.error_lines),
        logs.window_minutes
    );
    let classes: Vec<String> = [
        (logs.auth, "401/403"),
        (logs.rate_limited, "429"),
        (logs.server, "5xx"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, c)| format!("{n}× {c}"))
    .collect();
    if !classes.is_empty() {
        let _ = write!(measured, " ({})", classes.join(", "));
    }
    if let Some(last) = logs.recent.last() {
        let _ = write!(measured, "; last: {last}");
    }
    if !logs.unreadable.is_empty() {
        let _ = write!(measured, "; unreadable: {}", logs.unreadable.join(", "));
    }
    let status = if logs.error_lines > 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    Finding::new(
        "triage.log-errors",
        Step::Infrastructure,
        Severity::P3,
        status,
        title,
    )
    .measured(measured)
    .evidence(format!(
        "kubectl logs -l {} -n {} --since={:.0}m --prefix | grep -i error | tail -20",
        facts.selector, facts.namespace, logs.window_minutes
    ))
}

pub(crate) fn pods_finding(facts: &TriageFacts) -> Finding {
    let title = "Pods: ready, restarts, OOMKilled";
    let pods = match &facts.pods {
        Err(reason) => return skipped("triage.pods", title, reason),
        Ok(p) => p,
    };
    let mut measured = format!(
        "{}/{} ready, {} restarts",
        pods.ready(),
        pods.desired,
        pods.restarts()
    );
    if pods.terminating() > 0 {
        let _ = write!(measured, " ({} terminating)", pods.terminating());
    }
    let oom: Vec<String> = pods
        .oom_killed()
        .iter()
        .map(|p| {
            format!(
                "{} (limit {})",
                p.name,
                p.memory_limit.as_deref().unwrap_or("none")
            )
        })
        .collect();
    if !oom.is_empty() {
        let _ = write!(measured, "; OOMKilled: {}", oom.join(", "));
    }
    let waiting: Vec<String> = pods
        .pods
        .iter()
        .filter_map(|p| p.waiting_reason.as_ref().map(|r| format!("{} {r}", p.name)))
        .collect();
    if !waiting.is_empty() {
        let _ = write!(measured, "; waiting: {}", waiting.join(", "));
    }
    let (status, severity) = if pods.ready() == 0 {
        (Status::Fail, Severity::P1)
    } else if (pods.ready() as u32) < pods.desired || !oom.is_empty() || !waiting.is_empty() {
        (Status::Fail, Severity::P2)
    } else if pods.restarts() > 0 {
        (Status::Warn, Severity::P3)
    } else {
        (Status::Pass, Severity::P4)
    };
    Finding::new("triage.pods", Step::Infrastructure, severity, status, title)
        .measured(measured)
        .expected(format!("{} ready, no restarts", pods.desired))
        .evidence(format!(
            "kubectl get pods -l {} -n {}",
            facts.selector, facts.namespace
        ))
}
