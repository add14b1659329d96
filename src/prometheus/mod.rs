//! Prometheus HTTP API: instant and range queries, query validation, rules.

pub mod rules;

use serde::Deserialize;

/// The `prometheus:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusConfig {}
