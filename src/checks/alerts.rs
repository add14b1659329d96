//! Step 3, monitoring and alerting: do the alert rules (PrometheusRule objects or a Prometheus
//! rules API) cover the four lines of the checklist's alert table?
//!
//! | Alert | Condition | Severity |
//! |---|---|---|
//! | API Down | 5xx errors > 10/min | P1 |
//! | High Latency | p99 > 5000ms | P2 |
//! | Rate Limited | 429 errors > 5/min | P2 |
//! | Auth Failures | 401/403 errors > 0 | P1 |
//!
//! A rule covers a line when its name is listed for it in `preflight.alerts`, or when its
//! expression selects that status class (or the 0.99 quantile). Thresholds are shown, not judged:
//! units differ (per second, per minute, seconds, milliseconds) too much to compare safely.

use std::sync::LazyLock;

use regex::Regex;

use crate::report::{Finding, Status};

use super::facts::{AlertRule, ClusterFacts};
use super::{AlertNames, join, new_finding};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLine {
    ApiDown,
    HighLatency,
    RateLimited,
    AuthFailures,
}

impl AlertLine {
    pub const ALL: [AlertLine; 4] = [
        AlertLine::ApiDown,
        AlertLine::HighLatency,
        AlertLine::RateLimited,
        AlertLine::AuthFailures,
    ];

    pub fn title(self) -> &'static str {
        match self {
            AlertLine::ApiDown => "API Down (5xx > 10/min, P1)",
            AlertLine::HighLatency => "High Latency (p99 > 5000ms, P2)",
            AlertLine::RateLimited => "Rate Limited (429 > 5/min, P2)",
            AlertLine::AuthFailures => "Auth Failures (401/403 > 0, P1)",
        }
    }

    fn names(self, names: &AlertNames) -> &[String] {
        match self {
            AlertLine::ApiDown => &names.api_down,
            AlertLine::HighLatency => &names.high_latency,
            AlertLine::RateLimited => &names.rate_limited,
            AlertLine::AuthFailures => &names.auth_failures,
        }
    }
}

fn pattern(text: &str) -> Regex {
    Regex::new(text).unwrap_or_else(|e| unreachable!("{e}"))
}

const STATUS_LABEL: &str =
    r#"(?:status|code|status_code|response_code|http_status)\s*=~?\s*"[^"]*"#;
static FIVE_XX: LazyLock<Regex> =
    LazyLock::new(|| pattern(&format!(r#"{STATUS_LABEL}(?:5\.\.|5xx|5\[0-9\]|50[0-9])"#)));
static TOO_MANY: LazyLock<Regex> = LazyLock::new(|| pattern(&format!("{STATUS_LABEL}429")));
static AUTH: LazyLock<Regex> = LazyLock::new(|| pattern(&format!("{STATUS_LABEL}40[13]")));
static P99: LazyLock<Regex> =
    LazyLock::new(|| pattern(r#"histogram_quantile\s*\(\s*0?\.99\b|quantile\s*=\s*"0?\.99""#));
static THRESHOLD: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(>=?|<=?|==|!=)\s*([0-9.eE+-]+)\s*$"));

/// Whether `rule` covers `line` of the alert table.
pub fn covers(rule: &AlertRule, line: AlertLine, names: &AlertNames) -> bool {
    if line.names(names).iter().any(|n| n == &rule.name) {
        return true;
    }
    let expr = &rule.expr;
    match line {
        AlertLine::ApiDown => FIVE_XX.is_match(expr),
        AlertLine::HighLatency => P99.is_match(expr),
        AlertLine::RateLimited => TOO_MANY.is_match(expr),
        AlertLine::AuthFailures => AUTH.is_match(expr),
    }
}

fn threshold(expr: &str) -> Option<String> {
    THRESHOLD
        .captures(expr.trim())
        .map(|c| format!("{} {}", &c[1], &c[2]))
}

/// `infra.alerting`: which lines of the table have a rule, from which source.
pub fn alerting(facts: &ClusterFacts, names: &AlertNames) -> Finding {
    let id = "infra.alerting";
    let sources = if facts.alert_sources.is_empty() {
        "no alert source".to_string()
    } else {
        facts.alert_sources.join(", ")
    };
    let mut covered = Vec::new();
    let mut missing = Vec::new();
    for line in AlertLine::ALL {
        let rules: Vec<String> = facts
            .alert_rules
            .iter()
            .filter(|r| covers(r, line, names))
            .map(|r| match threshold(&r.expr) {
                Some(t) => format!("{} ({t})", r.name),
                None => r.name.clone(),
            })
            .collect();
        if rules.is_empty() {
            missing.push(line.title());
        } else {
            covered.push(format!("{} → {}", line.title(), rules.join(", ")));
        }
    }
    let count = AlertLine::ALL.len() - missing.len();
    let mut parts = vec![format!("{count}/4 alert table lines covered")];
    parts.extend(covered);
    if !missing.is_empty() {
        parts.push(format!("missing: {}", missing.join(", ")));
    }
    let finding = if missing.is_empty() {
        new_finding(id, Status::Pass).measured(join(parts))
    } else {
        new_finding(id, Status::Fail)
            .measured(join(parts))
            .expected("an alert for each line of the checklist's table")
            .remediation(
                "add PrometheusRule alerts for the missing lines (or name existing ones in preflight.alerts)",
            )
    };
    finding.evidence(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::facts::Origin;

    fn rule(name: &str, expr: &str) -> AlertRule {
        AlertRule {
            name: name.to_string(),
            expr: expr.to_string(),
            severity: None,
            source: "test".to_string(),
            origin: Origin::default(),
        }
    }

    #[test]
    fn expressions_are_recognised() {
        let names = AlertNames::default();
        let five = rule(
            "Down",
            r#"sum(increase(http_requests_total{app="x",status=~"5.."}[1m])) > 10"#,
        );
        assert!(covers(&five, AlertLine::ApiDown, &names));
        assert!(!covers(&five, AlertLine::RateLimited, &names));
        let latency = rule(
            "Slow",
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 5",
        );
        assert!(covers(&latency, AlertLine::HighLatency, &names));
        let limited = rule(
            "Limited",
            r#"sum(increase(posthog_errors_total{code="429"}[1m])) > 5"#,
        );
        assert!(covers(&limited, AlertLine::RateLimited, &names));
        let auth = rule(
            "Auth",
            r#"sum(increase(posthog_errors_total{status=~"401|403"}[5m])) > 0"#,
        );
        assert!(covers(&auth, AlertLine::AuthFailures, &names));
        assert_eq!(threshold(&auth.expr).as_deref(), Some("> 0"));
    }

    #[test]
    fn names_from_config_count() {
        let names = AlertNames {
            api_down: vec!["PostHogDown".to_string()],
            ..AlertNames::default()
        };
        assert!(covers(
            &rule("PostHogDown", "up == 0"),
            AlertLine::ApiDown,
            &names
        ));
    }

    #[test]
    fn missing_lines_fail_with_their_titles() {
        let mut facts = ClusterFacts::default();
        facts
            .alert_rules
            .push(rule("Down", r#"rate(x{status=~"5.."}[1m]) * 60 > 10"#));
        facts.alert_sources.push("1 PrometheusRule".to_string());
        let finding = alerting(&facts, &AlertNames::default());
        assert_eq!(finding.status, Status::Fail);
        let measured = finding.measured.unwrap();
        assert!(measured.starts_with("1/4"), "{measured}");
        assert!(measured.contains("missing: High Latency"), "{measured}");
    }
}
