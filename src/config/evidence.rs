//! The `evidence:` section of the configuration file (used by `triage` and `evidence`).
//!
//! ```yaml
//! evidence:
//!   healthPath: /health          # on the Service selecting the pods (or pass --health-url)
//!   logConcurrency: 8            # log streams read at once
//!   triageWindow: 5m             # the runbook's "last 5 minutes"
//!   thresholds:                  # the checklist's alert table
//!     authErrorsPerMinute: 0
//!     rateLimitedPerMinute: 5
//!     serverErrorsPerMinute: 10
//!     latencyP99Ms: 5000
//!     recentRestartMinutes: 15
//!   queries:                     # PromQL templates; placeholders as in canary.metrics
//!     errors5xx: 'sum(rate(posthog_errors_total{namespace="{{namespace}}"}[{{window}}])) * 60'
//! ```

use serde::{Deserialize, Serialize};

/// The `evidence:` section of the configuration file (used by `triage` and `evidence`).
///
/// ```yaml
/// evidence:
///   healthPath: /health          # on the Service selecting the pods (or pass --health-url)
///   logConcurrency: 8            # log streams read at once
///   triageWindow: 5m             # the runbook's "last 5 minutes"
///   thresholds:                  # the checklist's alert table
///     authErrorsPerMinute: 0
///     rateLimitedPerMinute: 5
///     serverErrorsPerMinute: 10
///     latencyP99Ms: 5000
///     recentRestartMinutes: 15
///   queries:                     # PromQL templates; placeholders as in canary.metrics
///     errors5xx: 'sum(rate(posthog_errors_total{namespace="{{namespace}}"}[{{window}}])) * 60'
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceConfig {
    pub health_path: Option<String>,
    pub log_concurrency: Option<usize>,
    pub triage_window: Option<String>,
    pub thresholds: Thresholds,
    pub queries: QueryOverrides,
}

/// The alert table's thresholds (errors per minute, latency in ms); the `evidence.thresholds`
/// config section overrides them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Thresholds {
    pub auth_errors_per_minute: f64,
    pub rate_limited_per_minute: f64,
    pub server_errors_per_minute: f64,
    pub latency_p99_ms: f64,
    /// A restart this recent (minutes) makes the service unhealthy.
    pub recent_restart_minutes: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            auth_errors_per_minute: 0.0,
            rate_limited_per_minute: 5.0,
            server_errors_per_minute: 10.0,
            latency_p99_ms: 5000.0,
            recent_restart_minutes: 15.0,
        }
    }
}

/// The `evidence.queries` config entries: PromQL templates overriding the defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryOverrides {
    pub auth_failures: Option<String>,
    pub rate_limited: Option<String>,
    pub errors_5xx: Option<String>,
    pub latency_p99: Option<String>,
}
