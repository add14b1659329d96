//! Canary rollouts on a plain Deployment: plan (replica counts per step), metrics and analysis
//! (verdicts), the metric sources, state (the annotation on the stable), and the driver loop.

pub mod analysis;
pub mod control;
pub mod driver;
mod finish;
pub mod health;
pub mod metrics;
pub mod objects;
pub mod ops;
mod pause;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod settings;
pub mod sim_source;
pub mod source;
pub mod state;
pub mod view;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use analysis::{OnInconclusive, Policy};
use metrics::{MetricOverride, MetricSpec, Naming, Scope};

/// The `canary:` section of the configuration file. Flags win over it.
///
/// ```yaml
/// canary:
///   steps: [10, 50, 100]
///   pauses: [10m, 5m]          # `manual` waits for `kubectl posthog canary promote`
///   interval: 30s              # analysis every interval during each pause
///   window: 2m                 # the PromQL range `{{window}}`
///   failureLimit: 2            # consecutive P2 breaches that abort (P1 aborts at once)
///   inconclusiveLimit: 3
///   onInconclusive: abort      # abort | pause | continue
///   compareFactor: 1.5         # set to compare canary against stable instead of absolute limits
///   scope: podName             # podName | trackLabel
///   names: { requests: http_requests_total, duration: http_request_duration_seconds_bucket }
///   labels: { status: status, pod: pod, namespace: namespace, track: track }
///   metrics:
///     errors-5xx: { threshold: 5 }
///     rate-limited: { enabled: false }
///     queue-depth: { query: 'max(queue_depth{ {{selector}} })', threshold: 100, severity: P2 }
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryConfig {
    pub steps: Option<Vec<u32>>,
    pub pauses: Option<Vec<String>>,
    pub interval: Option<String>,
    pub window: Option<String>,
    pub failure_limit: Option<u32>,
    pub inconclusive_limit: Option<u32>,
    pub on_inconclusive: Option<OnInconclusive>,
    pub compare_factor: Option<f64>,
    pub scope: Option<Scope>,
    pub names: MetricNames,
    pub labels: LabelNames,
    pub metrics: BTreeMap<String, MetricOverride>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricNames {
    /// Request counter with a status label (default `http_requests_total`).
    pub requests: Option<String>,
    /// Latency histogram buckets (default `http_request_duration_seconds_bucket`).
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelNames {
    pub status: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    /// The label added to the canary's pods (`track: canary`), also used by `scope: trackLabel`.
    pub track: Option<String>,
}

impl CanaryConfig {
    pub fn naming(&self) -> Naming {
        let d = Naming::default();
        Naming {
            requests_metric: self.names.requests.clone().unwrap_or(d.requests_metric),
            duration_metric: self.names.duration.clone().unwrap_or(d.duration_metric),
            status_label: self.labels.status.clone().unwrap_or(d.status_label),
            pod_label: self.labels.pod.clone().unwrap_or(d.pod_label),
            namespace_label: self.labels.namespace.clone().unwrap_or(d.namespace_label),
            track_label: self.labels.track.clone().unwrap_or(d.track_label),
            scope: self.scope.unwrap_or(d.scope),
        }
    }

    pub fn metrics(&self) -> Result<Vec<MetricSpec>, String> {
        metrics::apply_overrides(metrics::default_metrics(), &self.metrics)
    }

    pub fn policy(&self) -> Policy {
        let d = Policy::default();
        Policy {
            failure_limit: self.failure_limit.unwrap_or(d.failure_limit),
            inconclusive_limit: self.inconclusive_limit.unwrap_or(d.inconclusive_limit),
            on_inconclusive: self.on_inconclusive.unwrap_or(d.on_inconclusive),
        }
    }
}

/// Parses a duration from the config file, naming the key when it is wrong.
pub fn config_duration(key: &str, raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("canary.{key} {raw:?}: {e}; write a duration such as 30s or 2m"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn canary_section_parses_and_rejects_typos() {
        let config = Config::parse(
            "canary:\n  steps: [20, 100]\n  pauses: [manual]\n  failureLimit: 3\n  onInconclusive: pause\n  scope: trackLabel\n  names: {requests: app_requests_total}\n  metrics:\n    errors-5xx: {threshold: 2}\n",
        )
        .unwrap();
        let canary = config.canary;
        assert_eq!(canary.steps, Some(vec![20, 100]));
        assert_eq!(canary.policy().failure_limit, 3);
        assert_eq!(canary.policy().on_inconclusive, OnInconclusive::Pause);
        let naming = canary.naming();
        assert_eq!(naming.requests_metric, "app_requests_total");
        assert_eq!(naming.scope, Scope::TrackLabel);
        assert_eq!(canary.metrics().unwrap()[0].threshold, 2.0);

        let err = Config::parse("canary:\n  failurelimit: 3\n").unwrap_err();
        assert!(err.contains("failurelimit"), "{err}");
        let err =
            Config::parse("canary:\n  metrics:\n    errors-5xx: {treshold: 3}\n").unwrap_err();
        assert!(err.contains("treshold"), "{err}");
    }
}
