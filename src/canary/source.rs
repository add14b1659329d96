//! The one interface the analysis reads samples through: Prometheus in real use
//! ([`super::prometheus_source::PrometheusSource`]), the simulated cluster's own request counters in the
//! demo ([`super::sim_source::SimSource`]). Both answer the same [`SourceQuery`] and feed the same
//! verdict code.

use std::time::Duration;

use futures::future::BoxFuture;

use super::analysis::Sample;
use super::metrics::{Measure, Track};

/// One metric of one track, in the two forms a source may understand: the filled-in PromQL and
/// what it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceQuery {
    pub metric: String,
    pub promql: String,
    pub measure: Measure,
    pub track: Track,
    pub namespace: String,
    /// The track's pods, as a fully anchored regular expression over pod names.
    pub pod_pattern: String,
    pub window: Duration,
}

/// Why a query cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The query itself is wrong (syntax, a range vector, an unknown function): fix the config.
    #[error("{0}")]
    Invalid(String),
    /// The source could not answer (unreachable, refused the credentials, timed out).
    #[error("{0}")]
    Unavailable(String),
}

/// What validating a query found out, beyond "it parses".
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The query returned data now (for the stable this says Prometheus sees the app's metrics).
    pub has_data: bool,
}

pub trait MetricSource: Send + Sync {
    /// Where the readings come from, for the report: `Prometheus at http://…`.
    fn describe(&self) -> String;

    /// Checks a query before anything changes in the cluster.
    fn validate<'a>(
        &'a self,
        query: &'a SourceQuery,
    ) -> BoxFuture<'a, Result<Validated, SourceError>>;

    /// Takes one sample; failures become [`Sample::Failed`] (inconclusive), never an error.
    fn sample<'a>(&'a self, query: &'a SourceQuery) -> BoxFuture<'a, Sample>;

    /// How often the source sees new data (Prometheus' scrape interval): the P1 guard reads
    /// that often between analysis rounds. `None`: unknown, no guard unless `--guard-interval`.
    fn scrape_interval(&self) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async { None })
    }
}

/// No metric source configured: what a `--dry-run` plans with, so the plan and the filled-in
/// queries are printed anyway, marked as not validated. A real run refuses before this is used.
pub struct Unconfigured;

impl MetricSource for Unconfigured {
    fn describe(&self) -> String {
        "no Prometheus configured".to_string()
    }

    fn validate<'a>(
        &'a self,
        _query: &'a SourceQuery,
    ) -> BoxFuture<'a, Result<Validated, SourceError>> {
        Box::pin(async {
            Err(SourceError::Unavailable(
                "no Prometheus URL (pass --prometheus-url, set PROMETHEUS_URL or prometheus.url)"
                    .to_string(),
            ))
        })
    }

    fn sample<'a>(&'a self, _query: &'a SourceQuery) -> BoxFuture<'a, Sample> {
        Box::pin(async { Sample::Failed("no Prometheus configured".to_string()) })
    }
}
