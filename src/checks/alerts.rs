//! Step 3, monitoring and alerting: do the alert rules (PrometheusRule objects, live or in the
//! files, and the Prometheus rules API) cover the four lines of the checklist's alert table?
//!
//! | Alert | Condition | Severity |
//! |---|---|---|
//! | API Down | 5xx errors > 10/min | P1 |
//! | High Latency | p99 > 5000ms | P2 |
//! | Rate Limited | 429 errors > 5/min | P2 |
//! | Auth Failures | 401/403 errors > 0 | P1 |
//!
//! Each rule's expression is parsed ([`crate::prometheus::promql`]): a rule is a candidate for
//! a line when it counts that line's responses (or reads a latency quantile), or when its name is
//! listed for the line in `preflight.alerts`. A candidate covers the line when it fires at least
//! as early as the table says — the comparison and threshold in the table's units (per minute
//! after `rate()`/`increase()` windows and factors, milliseconds), `for:` no longer than
//! `preflight.alertRules.maxFor`, a severity label at least as severe. `infra.alerting` sums the
//! table up; each candidate that does not cover its line is an `infra.alert-threshold` finding
//! naming the rule, where it is, its expression and what differs.

use std::time::Duration;

use crate::config::canary::CanaryConfig;
use crate::error::{Error, Result};
use crate::prometheus::alert_table::{self, Family, Line, number};
use crate::prometheus::promql::{self, Comparison, Shape, Value};
use crate::report::{Finding, Severity, Status};

use super::facts::{AlertRule, ClusterFacts};
use super::{AlertNames, PreflightConfig, join, new_finding};

/// The table as this run judges it.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    pub lines: Vec<Line>,
    pub status_label: String,
    pub max_for: Duration,
    pub names: &'a AlertNames,
}

impl<'a> Table<'a> {
    /// Thresholds, severities and metric names as the canary has them; `maxFor` from
    /// `preflight.alertRules` (5m by default: a P1 is answered within 15 minutes).
    pub fn new(preflight: &'a PreflightConfig, canary: &CanaryConfig) -> Result<Table<'a>> {
        let max_for = match &preflight.alert_rules.max_for {
            None => Duration::from_secs(300),
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| Error::Input(format!("preflight.alertRules.maxFor {text:?}: {e}")))?,
        };
        Ok(Table {
            lines: alert_table::lines(&canary.metrics),
            status_label: alert_table::Naming::from_config(canary).status,
            max_for,
            names: &preflight.alerts,
        })
    }

    fn listed(&self, line: &Line) -> &[String] {
        match line.family {
            Family::ServerErrors => &self.names.api_down,
            Family::Latency => &self.names.high_latency,
            Family::RateLimited => &self.names.rate_limited,
            Family::AuthFailures => &self.names.auth_failures,
        }
    }
}

/// How one line of the table stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage<'r> {
    Covered(Vec<&'r AlertRule>),
    /// Rules meant for the line, each with what differs from the table.
    Differs(Vec<(&'r AlertRule, Vec<String>)>),
    Missing,
}

/// Judges every rule against `line`.
pub fn coverage<'r>(line: &Line, rules: &'r [AlertRule], table: &Table) -> Coverage<'r> {
    let mut covered = Vec::new();
    let mut differs = Vec::new();
    for rule in rules {
        let listed = table.listed(line).iter().any(|n| n == &rule.name);
        let shape = promql::shape(&rule.expr, &table.status_label);
        let meant = match &shape {
            Ok(s) => s.families.contains(&line.family),
            Err(_) => false,
        };
        if !listed && !meant {
            continue;
        }
        let diffs = differences(line, rule, &shape, table);
        match diffs.is_empty() {
            true => covered.push(rule),
            false => differs.push((rule, diffs)),
        }
    }
    match (covered.is_empty(), differs.is_empty()) {
        (false, _) => Coverage::Covered(covered),
        (true, false) => Coverage::Differs(differs),
        (true, true) => Coverage::Missing,
    }
}

/// What keeps `rule` from covering `line`, in words (`threshold 50/min, the checklist says 10/min`).
pub fn differences(
    line: &Line,
    rule: &AlertRule,
    shape: &std::result::Result<Shape, String>,
    table: &Table,
) -> Vec<String> {
    let shape = match shape {
        Ok(s) => s,
        Err(e) => return vec![format!("the expression does not parse: {e}")],
    };
    let mut out = Vec::new();
    if !shape.families.contains(&line.family) {
        out.push(match line.family {
            Family::Latency => "it reads no latency quantile".to_string(),
            _ => format!("it counts no {} responses", line_statuses(line)),
        });
    }
    out.extend(threshold_difference(line, shape));
    if let Some(seconds) = rule.for_seconds
        && seconds > table.max_for.as_secs_f64()
    {
        out.push(format!(
            "for: {}, longer than {} (preflight.alertRules.maxFor)",
            humantime::format_duration(Duration::from_secs_f64(seconds)),
            humantime::format_duration(table.max_for)
        ));
    }
    match rule.severity.as_deref() {
        None => out.push(format!(
            "no severity label, the checklist says {}",
            line.severity.label()
        )),
        Some(label) => match severity_of(label) {
            Some(s) if s <= line.severity => {}
            Some(s) => out.push(format!(
                "severity {label} ({}), the checklist says {}",
                s.label(),
                line.severity.label()
            )),
            None => out.push(format!(
                "severity {label:?} is not a runbook level, the checklist says {}",
                line.severity.label()
            )),
        },
    }
    out
}

fn line_statuses(line: &Line) -> &'static str {
    match line.family {
        Family::ServerErrors => "5xx",
        Family::RateLimited => "429",
        Family::AuthFailures => "401/403",
        Family::Latency => "",
    }
}

fn threshold_difference(line: &Line, shape: &Shape) -> Option<String> {
    let says = format!("the checklist says {}", line.threshold_text());
    let Some((comparison, raw)) = shape.comparison else {
        return Some(format!(
            "it compares with no threshold (fires whenever the query returns a series), {says}"
        ));
    };
    if !comparison.is_upward() {
        return Some(format!(
            "it fires when the value is {} {}, {says}",
            comparison.symbol(),
            number(raw)
        ));
    }
    if line.family == Family::AuthFailures && line.threshold == 0.0 {
        // `> 0` on a count, or `>= 1` on a count over a minute or more, fires on the first one.
        let counts = matches!(shape.value, Value::Rate { .. } | Value::Total);
        let per_minute_or_more = match shape.value {
            Value::Total => true,
            Value::Rate { factor } => factor >= 60.0,
            _ => false,
        };
        let first_failure = counts
            && (raw <= 0.0
                || (comparison == Comparison::AtLeast && raw <= 1.0 && per_minute_or_more));
        return match first_failure {
            true => None,
            false => Some(format!(
                "threshold {} {}, the checklist alerts on the first 401/403",
                comparison.symbol(),
                number(raw)
            )),
        };
    }
    let unit = match line.family {
        Family::Latency => "ms",
        _ => "/min",
    };
    if let Value::Quantile { quantile, .. } = shape.value
        && quantile < 0.99
    {
        return Some(format!(
            "p{}, the checklist says p99",
            number(quantile * 100.0)
        ));
    }
    match (shape.normalised_threshold(), &shape.value) {
        (Some(t), _) if t > line.threshold + 1e-9 => Some(format!(
            "threshold {}{unit}, {says}",
            number((t * 1000.0).round() / 1000.0)
        )),
        (Some(_), _) => None,
        (None, Value::Ratio) => Some(format!(
            "a share of requests, not a count per minute, {says}"
        )),
        (None, Value::Total) => Some(format!(
            "a counter since the pods started, not per minute, {says}"
        )),
        (None, Value::Unknown(why)) => Some(format!("cannot tell its unit ({why}), {says}")),
        (None, _) => Some(format!("cannot tell its unit, {says}")),
    }
}

/// A severity label as a runbook level: `P1`/`critical`/`page`, `P2`/`high`/`error`, …
pub fn severity_of(label: &str) -> Option<Severity> {
    Some(match label.trim().to_ascii_lowercase().as_str() {
        "p1" | "sev1" | "sev-1" | "critical" | "page" | "emergency" => Severity::P1,
        "p2" | "sev2" | "sev-2" | "high" | "error" | "major" => Severity::P2,
        "p3" | "sev3" | "sev-3" | "warning" | "medium" | "minor" => Severity::P3,
        "p4" | "sev4" | "sev-4" | "info" | "low" | "none" => Severity::P4,
        _ => return None,
    })
}

fn rule_label(rule: &AlertRule) -> String {
    match promql::shape(&rule.expr, "status")
        .ok()
        .and_then(|s| s.comparison)
    {
        Some((c, t)) => format!("{} ({} {})", rule.name, c.symbol(), number(t)),
        None => rule.name.clone(),
    }
}

/// `infra.alerting` and one `infra.alert-threshold` finding per rule that misses its line.
pub fn alerting(facts: &ClusterFacts, table: &Table) -> Vec<Finding> {
    let sources = if facts.alert_sources.is_empty() {
        "no alert source".to_string()
    } else {
        facts.alert_sources.join(", ")
    };
    let mut parts = Vec::new();
    let mut differing = Vec::new();
    let mut missing = Vec::new();
    let mut detail = Vec::new();
    for line in &table.lines {
        match coverage(line, &facts.alert_rules, table) {
            Coverage::Covered(rules) => parts.push(format!(
                "{} → {}",
                line.title(),
                rules
                    .iter()
                    .map(|r| rule_label(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Coverage::Differs(rules) => {
                differing.push(format!(
                    "{} → {}",
                    line.title(),
                    rules
                        .iter()
                        .map(|(r, d)| format!("{}: {}", r.name, d.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
                detail.extend(
                    rules
                        .into_iter()
                        .map(|(r, d)| threshold_finding(line, r, d)),
                );
            }
            Coverage::Missing => missing.push(line.title()),
        }
    }
    let count = parts.len();
    let mut measured = vec![format!("{count}/4 alert table lines covered")];
    measured.extend(parts);
    if !differing.is_empty() {
        measured.push(format!("not as the table says: {}", differing.join("; ")));
    }
    if !missing.is_empty() {
        measured.push(format!("missing: {}", missing.join(", ")));
    }
    let summary = if count == table.lines.len() {
        new_finding("infra.alerting", Status::Pass).measured(join(measured))
    } else {
        new_finding("infra.alerting", Status::Fail)
            .measured(join(measured))
            .expected("an alert for each line of the checklist's table, at its threshold")
            .remediation(
                "add PrometheusRule alerts for the lines not covered (preflight --fix DIR writes them), or name existing ones in preflight.alerts",
            )
    };
    let mut findings = vec![summary.evidence(sources)];
    if detail.is_empty() {
        let judged = facts.alert_rules.len();
        findings.push(match judged {
            0 => new_finding("infra.alert-threshold", Status::Skipped)
                .measured("no alert rule to judge"),
            n => new_finding("infra.alert-threshold", Status::Pass).measured(format!(
                "{n} alert rule{} judged: none meant for a line of the table fires later than it says",
                crate::report::plural(n)
            )),
        });
    }
    findings.extend(detail);
    findings
}

fn threshold_finding(line: &Line, rule: &AlertRule, diffs: Vec<String>) -> Finding {
    let mut f = new_finding("infra.alert-threshold", Status::Fail)
        .measured(format!(
            "{} ({}): {} — {}",
            rule.name,
            rule.source,
            rule.expr.trim(),
            diffs.join(", ")
        ))
        .expected(line.title())
        .remediation(format!(
            "change {} to fire at {} (preflight --fix DIR writes a rule that does)",
            rule.name,
            line.condition()
        ))
        .evidence(rule.source.clone());
    f.severity = line.severity;
    if let Some(file) = &rule.origin.file {
        f = f.at(file.clone(), rule.origin.line);
    }
    f
}

#[cfg(test)]
mod tests;
