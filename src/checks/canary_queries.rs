//! Step 5, before the first canary: the analysis queries the config defines (the alert table's
//! four, with `canary.metrics` overrides, and any metric added there) are what the canary will
//! judge, so each runs once against Prometheus for the Deployment's own pods, as the canary runs
//! it. A query Prometheus rejects would stop the canary before it starts; one that returns no
//! series means the names in `canary.names` / `canary.labels` or the scrape configuration do
//! not match the pods, and every reading of the canary would be inconclusive.

use futures::StreamExt;

use crate::config::canary::CanaryConfig;
use crate::prometheus::alert_table::{self, Naming};
use crate::prometheus::{Prometheus, QueryError};
use crate::report::{Finding, Status};

use super::Subject;
use super::remote::Probe;

/// One analysis query for one Deployment, its placeholders filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub metric: String,
    /// The filled-in PromQL, or why the template could not be filled.
    pub promql: Result<String, String>,
}

/// What Prometheus answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Value(f64),
    NoSeries,
    Rejected(String),
    Unavailable(String),
}

/// The queries of one Deployment: the table's (overridden) and those added in `canary.metrics`,
/// without the disabled ones, over `canary.window` (2m by default).
pub fn queries(namespace: &str, deployment: &str, canary: &CanaryConfig) -> Vec<Query> {
    let naming = Naming::from_config(canary);
    let window = canary
        .window
        .as_deref()
        .and_then(|w| humantime::parse_duration(w).ok())
        .map_or_else(
            || "120s".to_string(),
            |d| format!("{}s", d.as_secs().max(1)),
        );
    let vars = naming.template_vars(namespace, deployment, &window);
    let mut templates: Vec<(String, String)> = alert_table::lines(&canary.metrics)
        .into_iter()
        .map(|l| (l.id.to_string(), l.query))
        .collect();
    for (id, o) in &canary.metrics {
        if let Some(query) = &o.query
            && !templates.iter().any(|(t, _)| t == id)
        {
            templates.push((id.clone(), query.clone()));
        }
    }
    templates
        .into_iter()
        .filter(|(id, _)| canary.metrics.get(id).and_then(|o| o.enabled) != Some(false))
        .map(|(metric, template)| Query {
            promql: alert_table::fill(&template, &vars)
                .map_err(|e| format!("canary.metrics.{metric}: {e}")),
            metric,
        })
        .collect()
}

/// Runs each query once (a few at a time).
pub async fn run(prometheus: &Prometheus, queries: &[Query]) -> Vec<Answer> {
    futures::stream::iter(queries.iter().map(|q| async move {
        let Ok(promql) = &q.promql else {
            return Answer::NoSeries;
        };
        match prometheus.instant(promql).await {
            Ok(Some(v)) if v.is_nan() => Answer::NoSeries,
            Ok(Some(v)) => Answer::Value(v),
            Ok(None) => Answer::NoSeries,
            Err(QueryError::Rejected(why)) => Answer::Rejected(why),
            Err(e) => Answer::Unavailable(e.to_string()),
        }
    }))
    .buffered(4)
    .collect()
    .await
}

/// `rollout.canary-query` findings for one Deployment: one per query that fails, or one that
/// says they all answered (or why none was run).
pub fn check(s: &Subject, queries: &[Query], answers: &Probe<Vec<Answer>>) -> Vec<Finding> {
    let id = "rollout.canary-query";
    let answers = match answers {
        Probe::Done(a) => a,
        Probe::Skipped(why) | Probe::Failed(why) | Probe::RateLimited(why) => {
            return vec![s.finding(id, Status::Skipped).measured(why.clone())];
        }
    };
    let mut out = Vec::new();
    let mut good = Vec::new();
    for (q, answer) in queries.iter().zip(answers) {
        let promql = match &q.promql {
            Ok(p) => p,
            Err(why) => {
                out.push(
                    s.finding(id, Status::Fail)
                        .measured(why.clone())
                        .remediation("fix the template in canary.metrics"),
                );
                continue;
            }
        };
        match answer {
            Answer::Value(v) => good.push(format!("{} = {}", q.metric, alert_table::number(*v))),
            Answer::NoSeries => out.push(
                s.finding(id, Status::Warn)
                    .measured(format!("{}: no series for the pods of deployment/{}", q.metric, s.name))
                    .expected("a value for the Deployment's pods (the canary's readings would all be inconclusive)")
                    .evidence(promql.clone())
                    .remediation("check canary.names / canary.labels against the metrics the pods expose, and that Prometheus scrapes them with the pod and namespace labels"),
            ),
            Answer::Rejected(why) => out.push(
                s.finding(id, Status::Fail)
                    .measured(format!("{}: Prometheus rejected the query: {why}", q.metric))
                    .expected("a query Prometheus accepts (the canary refuses to start otherwise)")
                    .evidence(promql.clone())
                    .remediation(format!("fix canary.metrics.{} (or canary.names)", q.metric)),
            ),
            Answer::Unavailable(why) => out.push(
                s.finding(id, Status::Skipped)
                    .measured(format!("{}: {why}", q.metric))
                    .evidence(promql.clone()),
            ),
        }
    }
    if out.is_empty() {
        out.push(s.finding(id, Status::Pass).measured(format!(
            "every analysis query answered: {}",
            good.join(", ")
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queries_are_the_canarys_for_the_deployments_pods() {
        let config = crate::config::Config::parse(
            "canary:\n  window: 1m\n  metrics:\n    rate-limited: {enabled: false}\n    queue-depth: {query: 'max(queue_depth{ {{selector}} })', threshold: 100}\n    broken: {query: 'x{{{nope}}}', threshold: 1}\n",
        )
        .unwrap();
        let q = queries("prod", "web", &config.canary);
        let ids: Vec<&str> = q.iter().map(|q| q.metric.as_str()).collect();
        assert_eq!(
            ids,
            [
                "errors-5xx",
                "latency-p99",
                "auth-failures",
                "broken",
                "queue-depth"
            ]
        );
        assert_eq!(
            q[0].promql.as_deref().unwrap(),
            r#"sum(rate(http_requests_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+",status=~"5.."}[60s])) * 60 or sum(rate(http_requests_total{namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+"}[60s])) * 0"#
        );
        assert!(
            q[3].promql
                .as_ref()
                .unwrap_err()
                .contains("canary.metrics.broken")
        );
        assert_eq!(
            q[4].promql.as_deref().unwrap(),
            r#"max(queue_depth{ namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+" })"#
        );
    }
}
