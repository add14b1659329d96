//! The checklist's alert table as data, for everything that writes, judges or runs it: the four
//! lines, the metric and label names they are computed from (`canary.names` / `canary.labels`),
//! their thresholds and severities (`canary.metrics.<id>` overrides), the canary analysis'
//! default query templates and the filler of their `{{placeholders}}`. Pure, no I/O.
//!
//! | Alert | Condition | Severity | canary metric |
//! |---|---|---|---|
//! | API Down | 5xx errors > 10/min | P1 | `errors-5xx` |
//! | High Latency | p99 > 5000ms | P2 | `latency-p99` |
//! | Rate Limited | 429 errors > 5/min | P2 | `rate-limited` |
//! | Auth Failures | 401/403 errors > 0 | P1 | `auth-failures` |
//!
//! The templates are the canary's (`canary::metrics`, which may later take them from here: a
//! unit test there keeps the two equal until then).

use std::collections::BTreeMap;

use crate::config::canary::{CanaryConfig, MetricOverride};
use crate::report::Severity;

/// 5xx per minute (see `canary::metrics` for why the `or … * 0` arm).
pub const ERRORS_5XX_QUERY: &str = r#"sum(rate({{requests}}{{{selector}},{{status}}=~"5.."}[{{window}}])) * 60 or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0"#;
/// p99 latency in milliseconds.
pub const LATENCY_P99_QUERY: &str = r#"histogram_quantile(0.99, sum by (le) (rate({{duration}}{{{selector}}}[{{window}}]))) * 1000"#;
/// 429 per minute.
pub const RATE_LIMITED_QUERY: &str = r#"sum(rate({{requests}}{{{selector}},{{status}}="429"}[{{window}}])) * 60 or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0"#;
/// 401/403 responses counted since the pods started.
pub const AUTH_FAILURES_QUERY: &str = r#"sum({{requests}}{{{selector}},{{status}}=~"401|403"}) or sum({{requests}}{{{selector}}}) * 0"#;

/// What a line of the table measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// 5xx responses per minute.
    ServerErrors,
    /// The p99 response time in milliseconds.
    Latency,
    /// 429 responses per minute.
    RateLimited,
    /// 401/403 responses (any).
    AuthFailures,
}

impl Family {
    pub const ALL: [Family; 4] = [
        Family::ServerErrors,
        Family::Latency,
        Family::RateLimited,
        Family::AuthFailures,
    ];

    /// The status codes it counts (`None` for latency).
    pub fn statuses(self) -> &'static [u16] {
        match self {
            Family::ServerErrors => &[500, 502, 503, 504],
            Family::RateLimited => &[429],
            Family::AuthFailures => &[401, 403],
            Family::Latency => &[],
        }
    }

    /// The status matcher a generated query uses.
    pub fn status_matcher(self, label: &str) -> Option<String> {
        match self {
            Family::ServerErrors => Some(format!(r#"{label}=~"5..""#)),
            Family::RateLimited => Some(format!(r#"{label}="429""#)),
            Family::AuthFailures => Some(format!(r#"{label}=~"401|403""#)),
            Family::Latency => None,
        }
    }
}

/// One line of the alert table, with the config's thresholds and severities applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub family: Family,
    /// The canary metric id (`errors-5xx`), also the key of `canary.metrics` and `preflight.alerts`.
    pub id: &'static str,
    /// The checklist's name (`API Down`).
    pub alert: &'static str,
    /// The alert name `preflight --fix` writes (`PostHogApiDown`).
    pub rule_name: &'static str,
    /// A breach is a value strictly above this: per minute, or milliseconds for latency.
    pub threshold: f64,
    pub severity: Severity,
    /// The canary analysis query template for this line.
    pub query: String,
}

impl Line {
    /// `5xx > 10/min`, `p99 > 5000ms`, `401/403 > 0`.
    pub fn condition(&self) -> String {
        let t = number(self.threshold);
        match self.family {
            Family::ServerErrors => format!("5xx > {t}/min"),
            Family::Latency => format!("p99 > {t}ms"),
            Family::RateLimited => format!("429 > {t}/min"),
            Family::AuthFailures => format!("401/403 > {t}"),
        }
    }

    /// `API Down (5xx > 10/min, P1)`.
    pub fn title(&self) -> String {
        format!(
            "{} ({}, {})",
            self.alert,
            self.condition(),
            self.severity.label()
        )
    }

    /// The threshold with its unit: `10/min`, `5000ms`, `0`.
    pub fn threshold_text(&self) -> String {
        let t = number(self.threshold);
        match self.family {
            Family::ServerErrors | Family::RateLimited => format!("{t}/min"),
            Family::Latency => format!("{t}ms"),
            Family::AuthFailures => t,
        }
    }
}

/// A number as people write it: `10`, `0.5`.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The table, thresholds and severities overridden by `canary.metrics.<id>` as the canary
/// applies them (a line whose metric is disabled there stays: the checklist still asks for it).
pub fn lines(overrides: &BTreeMap<String, MetricOverride>) -> Vec<Line> {
    let base = [
        (
            Family::ServerErrors,
            "errors-5xx",
            "API Down",
            "PostHogApiDown",
            10.0,
            Severity::P1,
            ERRORS_5XX_QUERY,
        ),
        (
            Family::Latency,
            "latency-p99",
            "High Latency",
            "PostHogHighLatency",
            5000.0,
            Severity::P2,
            LATENCY_P99_QUERY,
        ),
        (
            Family::RateLimited,
            "rate-limited",
            "Rate Limited",
            "PostHogRateLimited",
            5.0,
            Severity::P2,
            RATE_LIMITED_QUERY,
        ),
        (
            Family::AuthFailures,
            "auth-failures",
            "Auth Failures",
            "PostHogAuthFailures",
            0.0,
            Severity::P1,
            AUTH_FAILURES_QUERY,
        ),
    ];
    base.into_iter()
        .map(
            |(family, id, alert, rule_name, threshold, severity, query)| {
                let o = overrides.get(id);
                Line {
                    family,
                    id,
                    alert,
                    rule_name,
                    threshold: o.and_then(|o| o.threshold).unwrap_or(threshold),
                    severity: o.and_then(|o| o.severity).unwrap_or(severity),
                    query: o
                        .and_then(|o| o.query.clone())
                        .unwrap_or_else(|| query.to_string()),
                }
            },
        )
        .collect()
}

/// Metric and label names, from `canary.names` and `canary.labels` (the defaults are the
/// conventional HTTP metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    pub requests: String,
    pub duration: String,
    pub status: String,
    pub pod: String,
    pub namespace: String,
}

impl Naming {
    pub fn from_config(canary: &CanaryConfig) -> Naming {
        let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        Naming {
            requests: or(&canary.names.requests, "http_requests_total"),
            duration: or(
                &canary.names.duration,
                "http_request_duration_seconds_bucket",
            ),
            status: or(&canary.labels.status, "status"),
            pod: or(&canary.labels.pod, "pod"),
            namespace: or(&canary.labels.namespace, "namespace"),
        }
    }

    /// The series of a Deployment's own pods (`NAME-HASH-SUFFIX`, so a `NAME-canary` Deployment's
    /// pods are not among them).
    pub fn deployment_selector(&self, namespace: &str, deployment: &str) -> String {
        format!(
            r#"{}="{namespace}",{}=~"{}""#,
            self.namespace,
            self.pod,
            pod_name_pattern(deployment)
        )
    }

    /// The expression of the alert `preflight --fix` writes for `line`: the line's measure over
    /// `window`, compared with its threshold.
    pub fn rule_expr(&self, line: &Line, selector: &str, window: &str) -> String {
        let t = number(line.threshold);
        match line.family.status_matcher(&self.status) {
            None => format!(
                "histogram_quantile(0.99, sum by (le) (rate({}{{{selector}}}[{window}]))) * 1000 > {t}",
                self.duration
            ),
            Some(status) if line.family == Family::AuthFailures => format!(
                "sum(increase({}{{{selector},{status}}}[{window}])) > {t}",
                self.requests
            ),
            Some(status) => format!(
                "sum(rate({}{{{selector},{status}}}[{window}])) * 60 > {t}",
                self.requests
            ),
        }
    }

    /// The `{{placeholders}}` of a canary template for the Deployment's own pods.
    pub fn template_vars(
        &self,
        namespace: &str,
        deployment: &str,
        window: &str,
    ) -> BTreeMap<&'static str, String> {
        let pods = pod_name_pattern(deployment);
        BTreeMap::from([
            ("selector", self.deployment_selector(namespace, deployment)),
            ("requests", self.requests.clone()),
            ("duration", self.duration.clone()),
            ("status", self.status.clone()),
            ("namespace", namespace.to_string()),
            ("deployment", deployment.to_string()),
            ("canary", format!("{deployment}-canary")),
            ("track", "stable".to_string()),
            ("pods", pods),
            ("window", window.to_string()),
        ])
    }
}

/// Pod names of a Deployment's pods: `<deployment>-<pod-template-hash>-<suffix>`.
pub fn pod_name_pattern(deployment: &str) -> String {
    format!("{}-[a-z0-9]+-[a-z0-9]+", deployment.replace('.', "[.]"))
}

/// Fills in every `{{name}}` of `template`; an unknown name is an error naming it.
pub fn fill(template: &str, vars: &BTreeMap<&'static str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, at) = rest.split_at(start);
        out.push_str(before);
        let name_len = at[2..]
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        if name_len > 0 && at[2 + name_len..].starts_with("}}") {
            let name = &at[2..2 + name_len];
            let value = vars
                .get(name)
                .ok_or_else(|| format!("unknown placeholder {{{{{name}}}}}"))?;
            out.push_str(value);
            rest = &at[2 + name_len + 2..];
        } else {
            // A literal brace (PromQL's label matcher) before a placeholder: keep one, rescan.
            out.push('{');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_are_the_canarys() {
        // Until canary::metrics takes them from here, they must not drift apart.
        use crate::canary::metrics as canary;
        assert_eq!(ERRORS_5XX_QUERY, canary::ERRORS_5XX_QUERY);
        assert_eq!(LATENCY_P99_QUERY, canary::LATENCY_P99_QUERY);
        assert_eq!(RATE_LIMITED_QUERY, canary::RATE_LIMITED_QUERY);
        assert_eq!(AUTH_FAILURES_QUERY, canary::AUTH_FAILURES_QUERY);
        assert_eq!(pod_name_pattern("a.b"), canary::pod_name_pattern("a.b"));
        let ours: Vec<(&str, f64)> = lines(&BTreeMap::new())
            .iter()
            .map(|l| (l.id, l.threshold))
            .collect();
        let theirs: Vec<(String, f64)> = canary::default_metrics()
            .into_iter()
            .map(|m| (m.id, m.threshold))
            .collect();
        let theirs: Vec<(&str, f64)> = theirs.iter().map(|(i, t)| (i.as_str(), *t)).collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn overrides_and_names_come_from_the_canary_section() {
        let config = crate::config::Config::parse(
            "canary:\n  names: {requests: app_http_total}\n  labels: {status: code}\n  metrics:\n    errors-5xx: {threshold: 3, severity: P2}\n",
        )
        .unwrap();
        let lines = lines(&config.canary.metrics);
        assert_eq!(lines[0].threshold, 3.0);
        assert_eq!(lines[0].title(), "API Down (5xx > 3/min, P2)");
        assert_eq!(lines[1].title(), "High Latency (p99 > 5000ms, P2)");
        let naming = Naming::from_config(&config.canary);
        let selector = naming.deployment_selector("prod", "web");
        assert_eq!(
            naming.rule_expr(&lines[0], &selector, "5m"),
            r#"sum(rate(app_http_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+",code=~"5.."}[5m])) * 60 > 3"#
        );
        let vars = naming.template_vars("prod", "web", "2m");
        assert_eq!(
            fill(&lines[3].query, &vars).unwrap(),
            r#"sum(app_http_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+",code=~"401|403"}) or sum(app_http_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+"}) * 0"#
        );
        assert!(fill("x{{nope}}", &vars).unwrap_err().contains("{{nope}}"));
    }
}
