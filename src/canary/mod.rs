//! Canary rollouts on a plain Deployment: plan (replica counts per step), metrics and analysis
//! (verdicts), the metric sources, state (the annotation on the stable), and the driver loop.

pub mod abort;
pub mod analysis;
pub mod autoscaled;
pub mod conflict;
pub mod control;
pub mod details;
pub mod driver;
mod finish;
pub mod health;
pub mod launch;
pub mod metrics;
pub mod objects;
pub mod ops;
pub mod ownership;
mod pause;
pub mod plan;
pub mod prometheus_source;
pub mod record;
pub mod report;
pub mod resolve;
pub mod settings;
pub mod sim_source;
pub mod source;
pub mod state;
pub mod store;
pub mod tree;
pub mod view;

pub use crate::config::canary::{CanaryConfig, LabelNames, MetricNames};
use std::time::Duration;

use analysis::Policy;
use metrics::{MetricSpec, Naming};

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
    use crate::config::Config;
    use crate::config::canary::{OnInconclusive, Scope};

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
