//! The triage as a report: one finding per source with the measured value and the query or
//! request behind it, one for where the decision tree landed, and one `manual` finding per
//! immediate action whose fix is the exact command. The same text feeds `triage.md`.

use std::fmt::Write as _;

use serde_json::json;

use super::actions::Action;
use super::facts::{ErrorRates, LogErrors, Observed, TriageFacts};
use super::triage::{
    Answer, Branch, ErrorClass, Thresholds, TriageOutcome, class_severity, describe_signal,
};
use crate::report::{
    FailOn, Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

/// What `--apply` did, for the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub env: String,
    /// `applied`, `dry-run` or `already-set`.
    pub result: &'static str,
    pub detail: String,
}

pub fn triage_report(
    target: ReportTarget,
    facts: &TriageFacts,
    outcome: &TriageOutcome,
    thresholds: &Thresholds,
    fail_on: FailOn,
    applied: &[Applied],
    now: jiff::Timestamp,
) -> Report {
    let mut findings = vec![status_page_finding(facts), health_finding(facts)];
    findings.extend(rate_findings(facts, thresholds));
    findings.push(log_finding(facts));
    findings.push(pods_finding(facts));
    if !outcome.caveats.is_empty() {
        findings.push(
            Finding::new(
                "triage.sources",
                Step::Infrastructure,
                Severity::P4,
                Status::Warn,
                "Some sources could not be consulted",
            )
            .measured(outcome.caveats.join("; ")),
        );
    }
    // The documented exit code: 1 when the severity found is at or above --fail-on.
    let blocks = fail_on.blocks(outcome.severity);
    findings.push(
        Finding::new(
            "triage.decision",
            Step::Infrastructure,
            outcome.severity,
            if blocks {
                Status::Fail
            } else if outcome.branch == Branch::ResolvedOrIntermittent {
                Status::Pass
            } else {
                Status::Warn
            },
            &format!("Decision tree: {}", outcome.conclusion),
        )
        .measured(path_text(outcome))
        .expected(format!("severity below --fail-on {fail_on}"))
        .remediation("run the triage.action.* steps below, in order"),
    );
    for action in &outcome.actions {
        findings.push(action_finding(action, outcome.severity));
    }
    for a in applied {
        let status = if a.result == "dry-run" {
            Status::Skipped
        } else {
            Status::Pass
        };
        findings.push(
            Finding::new(
                &format!(
                    "triage.applied.{}",
                    a.env.to_ascii_lowercase().replace('_', "-")
                ),
                Step::Infrastructure,
                outcome.severity,
                status,
                &format!("--apply {}", a.env),
            )
            .measured(format!("{}: {}", a.result, a.detail)),
        );
    }
    let result = if blocks {
        VerdictResult::Fail
    } else if outcome.branch == Branch::ResolvedOrIntermittent {
        VerdictResult::Pass
    } else {
        VerdictResult::Warn
    };
    let verdict = Verdict {
        result,
        summary: summary(outcome),
        fail_on: Some(fail_on),
        counts: crate::report::Counts::of(&findings),
    };
    Report::new("triage", target, verdict, findings, now).with_details(json!({
        "branch": outcome.branch,
        "severity": outcome.severity,
        "conclusion": outcome.conclusion,
        "path": outcome.path,
        "errors": outcome.errors,
        "serviceProblems": outcome.service_problems,
        "actions": outcome.actions,
        "caveats": outcome.caveats,
        "applied": applied,
        "recentErrorLines": facts.log_errors.as_ref().map(|l| l.recent.clone()).unwrap_or_default(),
        "facts": facts,
    }))
}

/// One sentence: severity, leaf, and the strongest signal.
pub fn summary(outcome: &TriageOutcome) -> String {
    let why = outcome
        .errors
        .first()
        .map(describe_signal)
        .or_else(|| outcome.service_problems.first().map(|p| p.what.clone()))
        .unwrap_or_else(|| "no errors, service healthy".to_string());
    format!(
        "{} · {} ({why})",
        outcome.severity.label(),
        outcome.conclusion
    )
}

/// `errors? yes (…) → incident? no → our integration`.
pub fn path_text(outcome: &TriageOutcome) -> String {
    let mut text = String::new();
    for step in &outcome.path {
        let answer = match step.answer {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Unknown => "unknown",
        };
        let _ = write!(text, "{} {answer} ({}) → ", step.question, step.because);
    }
    text.push_str(match outcome.branch {
        Branch::PosthogIncident => "PostHog-side incident",
        Branch::Integration => "our integration",
        Branch::Infrastructure => "our infrastructure",
        Branch::ResolvedOrIntermittent => "resolved or intermittent",
    });
    text
}

fn action_finding(action: &Action, severity: Severity) -> Finding {
    let id = format!("triage.action.{}", action.id);
    // Every triage finding sits in one step so the table keeps the runbook's order: facts, the
    // decision, then the actions.
    let step = Step::Infrastructure;
    let status = if action.already_done {
        Status::Pass
    } else {
        Status::Manual
    };
    let mut finding = Finding::new(&id, step, severity, status, &action.title);
    if let Some(note) = &action.note {
        finding = finding.measured(note.clone());
    }
    match &action.command {
        Some(command) => finding.remediation(command.clone()),
        None => finding,
    }
}

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

fn status_page_finding(facts: &TriageFacts) -> Finding {
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

fn health_finding(facts: &TriageFacts) -> Finding {
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

fn rate_findings(facts: &TriageFacts, th: &Thresholds) -> Vec<Finding> {
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

fn log_finding(facts: &TriageFacts) -> Finding {
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

fn pods_finding(facts: &TriageFacts) -> Finding {
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

/// `triage.md` for the evidence bundle: the same content for people reading it later.
pub fn triage_markdown(facts: &TriageFacts, outcome: &TriageOutcome, report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Triage: deployment/{} in {}\n",
        facts.deployment, facts.namespace
    );
    let _ = writeln!(
        md,
        "Observed at {} UTC.\n",
        facts.observed_at.strftime("%Y-%m-%d %H:%M:%S")
    );
    let _ = writeln!(md, "**{}**\n", summary(outcome));
    let _ = writeln!(md, "## Decision tree\n");
    for step in &outcome.path {
        let _ = writeln!(
            md,
            "- {} **{:?}** — {}",
            step.question, step.answer, step.because
        );
    }
    let _ = writeln!(md, "- → **{}**\n", outcome.conclusion);
    let _ = writeln!(md, "## Immediate actions\n");
    for (i, action) in outcome.actions.iter().enumerate() {
        let done = if action.already_done {
            " (already done)"
        } else {
            ""
        };
        let _ = writeln!(md, "{}. {}{done}", i + 1, action.title);
        if let Some(note) = &action.note {
            let _ = writeln!(md, "   - {note}");
        }
        if let Some(command) = &action.command {
            let _ = writeln!(md, "\n   ```sh\n   {command}\n   ```\n");
        }
    }
    let _ = writeln!(md, "\n## What was measured\n");
    let _ = writeln!(
        md,
        "| check | status | severity | measured | from |\n|---|---|---|---|---|"
    );
    for f in report
        .findings
        .iter()
        .filter(|f| !f.id.starts_with("triage.action."))
    {
        let cell = |s: &Option<String>| {
            s.clone()
                .unwrap_or_default()
                .replace('|', "\\|")
                .replace('\n', " ")
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} |",
            f.id,
            f.status.label(),
            f.severity.label(),
            cell(&f.measured),
            cell(&f.evidence)
        );
    }
    if let Ok(logs) = &facts.log_errors
        && !logs.recent.is_empty()
    {
        let _ = writeln!(md, "\n## Recent error lines\n\n```");
        for line in &logs.recent {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "```");
    }
    if !outcome.caveats.is_empty() {
        let _ = writeln!(md, "\n## Caveats\n");
        for c in &outcome.caveats {
            let _ = writeln!(md, "- {c}");
        }
    }
    md
}
