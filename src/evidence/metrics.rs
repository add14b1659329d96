//! The checklist's alert metrics for a whole Deployment (stable and canary pods): instant values
//! over the last 5 minutes for the triage, range queries over `--since` for the bundle.
//!
//! Templates, metric and label names are the canary's (`canary::metrics`, `canary:` config
//! section), so an incident is read with the same queries a rollout was judged by. Instant
//! and range queries both go through `prometheus::Prometheus` (same auth, same timeout).

pub use crate::config::evidence::QueryOverrides;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::facts::ErrorRates;
use crate::canary::metrics::{
    ERRORS_5XX_QUERY, LATENCY_P99_QUERY, Naming, RATE_LIMITED_QUERY, TemplateVars, Track,
    pod_name_pattern,
};
use crate::prometheus::Prometheus;

/// 401/403 per minute over the window (the canary's auth query counts since pod start instead,
/// which suits new canary pods but not an incident window on long-running ones).
pub const AUTH_RATE_QUERY: &str = r#"sum(rate({{requests}}{{{selector}},{{status}}=~"401|403"}[{{window}}])) * 60 or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0"#;

/// One alert metric with its PromQL filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertQuery {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub promql: String,
}

/// The four alert queries for the Deployment and its canary over a rate window.
pub fn alert_queries(
    naming: &Naming,
    overrides: &QueryOverrides,
    namespace: &str,
    deployment: &str,
    window: Duration,
) -> Result<Vec<AlertQuery>, String> {
    let canary = super::workload::canary_name(deployment);
    // Both tracks: an incident is about every pod that serves traffic, so the selector is always
    // by pod name (both Deployments), whatever scope the canary uses.
    let pods = format!(
        "{}|{}",
        pod_name_pattern(deployment),
        pod_name_pattern(&canary)
    );
    let mut vars = TemplateVars::new(
        naming,
        namespace,
        (deployment, &canary),
        Track::Stable,
        &pods,
        window,
    );
    vars.vars.insert(
        "selector",
        format!(
            r#"{}="{}",{}=~"{pods}""#,
            naming.namespace_label, namespace, naming.pod_label
        ),
    );
    let specs: [(
        &'static str,
        &'static str,
        &'static str,
        &str,
        &Option<String>,
    ); 4] = [
        (
            "auth-failures",
            "401/403 responses per minute",
            "/min",
            AUTH_RATE_QUERY,
            &overrides.auth_failures,
        ),
        (
            "rate-limited",
            "429 responses per minute",
            "/min",
            RATE_LIMITED_QUERY,
            &overrides.rate_limited,
        ),
        (
            "errors-5xx",
            "5xx responses per minute",
            "/min",
            ERRORS_5XX_QUERY,
            &overrides.errors_5xx,
        ),
        (
            "latency-p99",
            "p99 latency",
            "ms",
            LATENCY_P99_QUERY,
            &overrides.latency_p99,
        ),
    ];
    specs
        .into_iter()
        .map(|(id, title, unit, default, custom)| {
            let template = custom.as_deref().unwrap_or(default);
            let promql = vars
                .fill(template)
                .map_err(|e| format!("evidence.queries for {id}: {e}"))?;
            Ok(AlertQuery {
                id,
                title,
                unit,
                promql,
            })
        })
        .collect()
}

/// The triage's error rates: the four queries as instant queries, concurrently.
pub async fn instant_rates(
    prometheus: &Prometheus,
    queries: &[AlertQuery],
) -> Result<ErrorRates, String> {
    let answers =
        futures::future::join_all(queries.iter().map(|q| prometheus.instant(&q.promql))).await;
    let mut rates = ErrorRates::default();
    let mut failures = Vec::new();
    for (query, answer) in queries.iter().zip(answers) {
        rates
            .queries
            .push((query.id.to_string(), query.promql.clone()));
        let value = match answer {
            Ok(value) => value.filter(|v| v.is_finite()),
            Err(e) => {
                failures.push(format!("{}: {e}", query.id));
                None
            }
        };
        match query.id {
            "auth-failures" => rates.auth_per_min = value,
            "rate-limited" => rates.rate_limited_per_min = value,
            "errors-5xx" => rates.server_per_min = value,
            _ => rates.latency_p99_ms = value,
        }
    }
    if failures.len() == queries.len() {
        return Err(failures.join("; "));
    }
    Ok(rates)
}

/// A range query's answer, as written to `metrics/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeResult {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub query: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub step_seconds: f64,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// `[unix seconds, value]`; NaN values (no requests) are left out.
    pub values: Vec<(f64, f64)>,
}

/// One alert query over a window, through the shared Prometheus client.
pub async fn range(
    prometheus: &Prometheus,
    query: &AlertQuery,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    step: Duration,
) -> Result<RangeResult, String> {
    let series = prometheus
        .range(&query.promql, start, end, step)
        .await
        .map_err(|e| format!("{}: {e}", query.id))?
        .into_iter()
        .map(|s| Series {
            labels: s.labels.into_iter().collect(),
            values: s.samples,
        })
        .collect();
    Ok(RangeResult {
        id: query.id,
        title: query.title,
        unit: query.unit,
        query: query.promql.clone(),
        start,
        end,
        step_seconds: step.as_secs_f64(),
        series,
    })
}

/// Step and rate window for a range: about 240 points, never finer than 15 s, and a rate window
/// of at least a minute so a scrape interval of 15-30 s still yields a rate.
pub fn range_step(since: Duration) -> (Duration, Duration) {
    let step = Duration::from_secs((since.as_secs() / 240).max(15));
    let window = step.max(Duration::from_secs(60));
    (step, window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_cover_both_tracks_with_the_canarys_names() {
        let queries = alert_queries(
            &Naming::default(),
            &QueryOverrides::default(),
            "prod",
            "web",
            Duration::from_secs(300),
        )
        .unwrap();
        let ids: Vec<&str> = queries.iter().map(|q| q.id).collect();
        assert_eq!(
            ids,
            ["auth-failures", "rate-limited", "errors-5xx", "latency-p99"]
        );
        assert_eq!(
            queries[0].promql,
            r#"sum(rate(http_requests_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+|web-canary-[a-z0-9]+-[a-z0-9]+",status=~"401|403"}[300s])) * 60 or sum(rate(http_requests_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+|web-canary-[a-z0-9]+-[a-z0-9]+"}[300s])) * 0"#
        );
        assert!(queries[3].promql.starts_with(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{"
        ));
    }

    #[test]
    fn overrides_replace_a_template_and_bad_placeholders_are_named() {
        let overrides = QueryOverrides {
            errors_5xx: Some(
                r#"sum(rate(posthog_errors_total{namespace="{{namespace}}"}[{{window}}])) * 60"#
                    .into(),
            ),
            ..QueryOverrides::default()
        };
        let queries = alert_queries(
            &Naming::default(),
            &overrides,
            "prod",
            "web",
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            queries[2].promql,
            r#"sum(rate(posthog_errors_total{namespace="prod"}[60s])) * 60"#
        );
        let bad = QueryOverrides {
            latency_p99: Some("{{nope}}".into()),
            ..QueryOverrides::default()
        };
        let err = alert_queries(
            &Naming::default(),
            &bad,
            "prod",
            "web",
            Duration::from_secs(60),
        )
        .unwrap_err();
        assert!(err.contains("latency-p99") && err.contains("nope"), "{err}");
    }

    #[test]
    fn range_steps() {
        assert_eq!(
            range_step(Duration::from_secs(3600)),
            (Duration::from_secs(15), Duration::from_secs(60))
        );
        assert_eq!(
            range_step(Duration::from_secs(24 * 3600)),
            (Duration::from_secs(360), Duration::from_secs(360))
        );
    }
}
