//! Threshold judgement on rules written the ways people write them.

use super::*;
use crate::checks::facts::Origin;

fn rule(name: &str, expr: &str, severity: Option<&str>, for_seconds: Option<f64>) -> AlertRule {
    AlertRule {
        name: name.to_string(),
        expr: expr.to_string(),
        severity: severity.map(str::to_string),
        for_seconds,
        source: "PrometheusRule monitoring/posthog".to_string(),
        origin: Origin::file("rules.yaml", Some(12), Default::default()),
    }
}

fn table(config: &str) -> (crate::config::Config, Vec<Line>) {
    let config = crate::config::Config::parse(config).unwrap();
    let lines = Table::new(&config.preflight, &config.canary).unwrap().lines;
    (config, lines)
}

/// What differs when `expr` (severity P1, `for: 1m`) is judged against line `i` of the table.
fn judge(i: usize, expr: &str) -> Vec<String> {
    judge_with(i, expr, Some("P1"), Some(60.0), "")
}

fn judge_with(
    i: usize,
    expr: &str,
    severity: Option<&str>,
    for_seconds: Option<f64>,
    config: &str,
) -> Vec<String> {
    let config = crate::config::Config::parse(config).unwrap();
    let table = Table::new(&config.preflight, &config.canary).unwrap();
    let rule = rule("R", expr, severity, for_seconds);
    let shape = promql::shape(expr, &table.status_label);
    differences(&table.lines[i], &rule, &shape, &table)
}

const API_DOWN: usize = 0;
const LATENCY: usize = 1;
const RATE_LIMITED: usize = 2;
const AUTH: usize = 3;

#[test]
fn rate_times_sixty_and_increase_over_a_minute_cover_api_down() {
    for expr in [
        r#"rate(http_requests_total{status=~"5.."}[5m]) * 60 > 10"#,
        r#"increase(http_requests_total{status=~"5.."}[1m]) > 10"#,
        r#"sum by (job) (rate(http_requests_total{job="api",status=~"5.."}[5m])) * 60 > 10"#,
        r#"sum(rate(http_requests_total{status=~"5.."}[2m])) > 0.1"#,
        r#"60 * sum(rate(http_requests_total{code=~"5.."}[5m])) >= 10"#,
        // Stricter than the table still fires whenever the table's alert would.
        r#"sum(increase(http_requests_total{status=~"5.."}[5m])) > 10"#,
    ] {
        assert_eq!(judge(API_DOWN, expr), Vec::<String>::new(), "{expr}");
    }
}

#[test]
fn a_laxer_threshold_is_named_with_both_numbers() {
    assert_eq!(
        judge(
            API_DOWN,
            r#"rate(http_requests_total{status=~"5.."}[5m]) * 60 > 50"#
        ),
        ["threshold 50/min, the checklist says 10/min"]
    );
    // Per second, as people forget the * 60: 10/s is 600/min.
    assert_eq!(
        judge(
            API_DOWN,
            r#"sum(rate(http_requests_total{status=~"5.."}[5m])) > 10"#
        ),
        ["threshold 600/min, the checklist says 10/min"]
    );
    assert_eq!(
        judge(
            RATE_LIMITED,
            r#"sum(increase(http_requests_total{status="429"}[1m])) > 20"#
        ),
        ["threshold 20/min, the checklist says 5/min"]
    );
    assert_eq!(
        judge(
            API_DOWN,
            r#"sum(rate(x{status=~"5.."}[5m])) / sum(rate(x[5m])) > 0.05"#
        ),
        ["a share of requests, not a count per minute, the checklist says 10/min"]
    );
}

#[test]
fn latency_in_seconds_or_milliseconds() {
    let p99 =
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))";
    for expr in [
        format!("{p99} > 5"),
        format!("{p99} * 1000 > 5000"),
        format!("{p99} > 2.5"),
    ] {
        assert_eq!(
            judge_with(LATENCY, &expr, Some("P2"), None, ""),
            Vec::<String>::new(),
            "{expr}"
        );
    }
    assert_eq!(
        judge_with(LATENCY, &format!("{p99} > 10"), Some("P2"), None, ""),
        ["threshold 10000ms, the checklist says 5000ms"]
    );
    assert_eq!(
        judge_with(
            LATENCY,
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 5",
            Some("P2"),
            None,
            ""
        ),
        ["p95, the checklist says p99"]
    );
}

#[test]
fn auth_failures_alert_on_the_first_one() {
    for expr in [
        r#"sum(increase(http_requests_total{status=~"401|403"}[5m])) > 0"#,
        r#"sum(rate(http_requests_total{status=~"40[13]"}[1m])) > 0"#,
        r#"sum(increase(http_requests_total{status=~"401|403"}[5m])) >= 1"#,
        r#"sum(http_requests_total{status=~"401|403"}) > 0"#,
    ] {
        assert_eq!(judge(AUTH, expr), Vec::<String>::new(), "{expr}");
    }
    assert_eq!(
        judge(
            AUTH,
            r#"sum(increase(http_requests_total{status=~"401|403"}[5m])) > 5"#
        ),
        ["threshold > 5, the checklist alerts on the first 401/403"]
    );
    // Only 401 is not 401/403: that rule is not meant for the line.
    let (config, lines) = table("");
    let t = Table::new(&config.preflight, &config.canary).unwrap();
    let only_401 = [rule(
        "R",
        r#"sum(rate(x{status="401"}[5m])) > 0"#,
        Some("P1"),
        None,
    )];
    assert_eq!(coverage(&lines[AUTH], &only_401, &t), Coverage::Missing);
}

#[test]
fn for_and_severity_are_judged() {
    let expr = r#"rate(http_requests_total{status=~"5.."}[5m]) * 60 > 10"#;
    assert_eq!(
        judge_with(API_DOWN, expr, Some("critical"), None, ""),
        Vec::<String>::new()
    );
    assert_eq!(
        judge_with(API_DOWN, expr, Some("warning"), Some(1800.0), ""),
        [
            "for: 30m, longer than 5m (preflight.alertRules.maxFor)",
            "severity warning (P3), the checklist says P1"
        ]
    );
    assert_eq!(
        judge_with(API_DOWN, expr, None, None, ""),
        ["no severity label, the checklist says P1"]
    );
    assert!(
        judge_with(
            API_DOWN,
            expr,
            Some("P1"),
            Some(1800.0),
            "preflight: {alertRules: {maxFor: 1h}}"
        )
        .is_empty()
    );
}

#[test]
fn thresholds_and_names_follow_the_canary_config() {
    let config = "canary:\n  labels: {status: code}\n  metrics:\n    errors-5xx: {threshold: 60}\n";
    assert!(
        judge_with(
            API_DOWN,
            r#"sum(rate(app_requests{code=~"5.."}[5m])) > 1"#,
            Some("P1"),
            None,
            config
        )
        .is_empty()
    );
}

#[test]
fn names_from_the_config_make_a_rule_a_candidate() {
    let config =
        crate::config::Config::parse("preflight: {alerts: {apiDown: [PostHogDown]}}").unwrap();
    let table = Table::new(&config.preflight, &config.canary).unwrap();
    let rules = [rule("PostHogDown", "up == 0", Some("P1"), None)];
    match coverage(&table.lines[API_DOWN], &rules, &table) {
        Coverage::Differs(d) => assert_eq!(
            d[0].1,
            [
                "it counts no 5xx responses",
                "it fires when the value is == 0, the checklist says 10/min"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_summary_and_one_finding_per_rule_that_misses() {
    let mut facts = ClusterFacts {
        alert_rules: vec![
            rule(
                "Down",
                r#"sum(rate(x{status=~"5.."}[1m])) * 60 > 10"#,
                Some("P1"),
                None,
            ),
            rule(
                "Slow",
                "histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m]))) > 30",
                Some("P2"),
                None,
            ),
        ],
        ..ClusterFacts::default()
    };
    facts.alert_sources.push("1 PrometheusRule".to_string());
    let config = crate::config::Config::default();
    let findings = alerting(
        &facts,
        &Table::new(&config.preflight, &config.canary).unwrap(),
    );
    assert_eq!(findings[0].status, Status::Fail);
    let measured = findings[0].measured.clone().unwrap();
    assert!(measured.starts_with("1/4"), "{measured}");
    assert!(
        measured.contains("API Down (5xx > 10/min, P1) → Down (> 10)"),
        "{measured}"
    );
    assert!(
        measured
            .contains("missing: Rate Limited (429 > 5/min, P2), Auth Failures (401/403 > 0, P1)"),
        "{measured}"
    );
    let slow = &findings[1];
    assert_eq!(slow.id, "infra.alert-threshold");
    assert_eq!(slow.severity, Severity::P2);
    assert_eq!(
        slow.measured.as_deref(),
        Some(
            "Slow (PrometheusRule monitoring/posthog): histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m]))) > 30 — threshold 30000ms, the checklist says 5000ms"
        )
    );
    assert_eq!(slow.location.as_ref().map(|l| l.line), Some(Some(12)));
}
