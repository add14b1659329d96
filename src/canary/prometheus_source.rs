//! The canary's metric source on a real Prometheus: runs the filled-in PromQL through the one
//! Prometheus client (`crate::prometheus`).

use futures::FutureExt;
use futures::future::BoxFuture;

use super::analysis::Sample;
use super::source::{MetricSource, SourceError, SourceQuery, Validated};
use crate::prometheus::{Prometheus, QueryError};

/// The canary's metric source on a real Prometheus: runs the filled-in PromQL.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    pub prometheus: Prometheus,
}

impl MetricSource for PrometheusSource {
    fn describe(&self) -> String {
        format!("Prometheus at {}", self.prometheus.url())
    }

    fn validate<'a>(
        &'a self,
        query: &'a SourceQuery,
    ) -> BoxFuture<'a, Result<Validated, SourceError>> {
        async move {
            match self.prometheus.instant(&query.promql).await {
                Ok(value) => Ok(Validated {
                    has_data: value.is_some_and(f64::is_finite),
                }),
                Err(QueryError::Unavailable(e)) => Err(SourceError::Unavailable(e)),
                Err(e) => Err(SourceError::Invalid(e.to_string())),
            }
        }
        .boxed()
    }

    fn scrape_interval(&self) -> BoxFuture<'_, Option<std::time::Duration>> {
        self.prometheus.scrape_interval().boxed()
    }

    fn sample<'a>(&'a self, query: &'a SourceQuery) -> BoxFuture<'a, Sample> {
        async move {
            match self.prometheus.instant(&query.promql).await {
                Ok(Some(value)) => Sample::Value(value),
                Ok(None) => Sample::NoData,
                Err(e) => Sample::Failed(e.to_string()),
            }
        }
        .boxed()
    }
}
