//! The `canary:` section of the configuration file. Flags win over it.
//!
//! ```yaml
//! canary:
//!   steps: [10, 50, 100]
//!   pauses: [10m, 5m]          # `manual` waits for `kubectl posthog canary promote`
//!   interval: 30s              # analysis every interval during each pause
//!   window: 2m                 # the PromQL range `{{window}}`
//!   failureLimit: 2            # consecutive P2 breaches that abort (P1 aborts at once)
//!   inconclusiveLimit: 3
//!   onInconclusive: abort      # abort | pause | continue
//!   compareFactor: 1.5         # set to compare canary against stable instead of absolute limits
//!   scope: podName             # podName | trackLabel
//!   names: { requests: http_requests_total, duration: http_request_duration_seconds_bucket }
//!   labels: { status: status, pod: pod, namespace: namespace, track: track }
//!   metrics:
//!     errors-5xx: { threshold: 5 }
//!     rate-limited: { enabled: false }
//!     queue-depth: { query: 'max(queue_depth{ {{selector}} })', threshold: 100, severity: P2 }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::Severity;

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

/// A metric as the `canary.metrics.<id>` config entry writes it: overrides of a default metric
/// (any subset of fields), or a new metric (then `query` and `threshold` are required).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricOverride {
    /// `false` drops the metric from the analysis.
    pub enabled: Option<bool>,
    pub title: Option<String>,
    pub severity: Option<Severity>,
    pub threshold: Option<f64>,
    pub unit: Option<String>,
    pub query: Option<String>,
    pub compare_query: Option<String>,
    pub compare_floor: Option<f64>,
}

/// How queries pick out a track's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// By pod name: `NAME-canary-…` for the canary, `NAME-HASH-SUFFIX` for the stable. Works with
    /// any scrape configuration that keeps the pod name, with no relabelling.
    #[default]
    PodName,
    /// By the track label the canary's pods carry (`track="canary"`); needs a scrape config that
    /// copies pod labels, and stable pods carrying `track="stable"`.
    TrackLabel,
}

/// What to do when readings stay inconclusive.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnInconclusive {
    /// Abort the canary (the safe default: no evidence is not good evidence).
    #[default]
    Abort,
    /// Hold the current weight until `canary promote` or `canary abort`.
    Pause,
    /// Treat it as passing and go on.
    Continue,
}
