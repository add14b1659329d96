//! What the quick triage gathers, as plain data: the status page, the health endpoint, error
//! rates by class, error lines in pod logs and pod health. Each source may be unavailable; the
//! decision says so instead of guessing.

use schemars::JsonSchema;
use serde::Serialize;

/// One source's answer, or why there is none (not configured, unreachable, forbidden).
pub type Observed<T> = Result<T, String>;

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriageFacts {
    pub deployment: String,
    pub namespace: String,
    /// The Deployment's selector as kubectl's `-l` takes it, e.g. `app=posthog-integration`.
    pub selector: String,
    /// When the facts were gathered (restarts are judged against it).
    pub observed_at: jiff::Timestamp,
    pub status_page: Observed<StatusView>,
    pub health: Observed<HealthView>,
    pub error_rates: Observed<ErrorRates>,
    pub log_errors: Observed<LogErrors>,
    pub pods: Observed<PodsView>,
    /// Where the integration reads its PostHog key from (for the rotation commands).
    pub api_key: KeySource,
    /// Containers and their current values of the env vars the runbook's actions set.
    pub containers: Vec<ContainerEnv>,
}

/// The status page reduced to the incidents that affect our region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub page_url: String,
    /// Which region the incidents were filtered to (`us`, `eu`, or all).
    pub region: String,
    pub incidents: Vec<StatusIncidentView>,
    /// The overall indicator of the older Atlassian page, when that is what answered.
    pub indicator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusIncidentView {
    pub name: String,
    /// `degraded_performance`, `partial_outage`, `full_outage` or `maintenance`.
    pub impact: String,
    pub status: String,
    pub url: Option<String>,
}

impl StatusView {
    pub fn has_incident(&self) -> bool {
        !self.incidents.is_empty()
            || self
                .indicator
                .as_deref()
                .is_some_and(|i| !matches!(i, "" | "none"))
    }
}

/// What the integration's health endpoint answered.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// The URL or the API server proxy path that was asked.
    pub asked: String,
    /// HTTP status, absent when the request itself failed.
    pub status: Option<u16>,
    /// `healthy`, `degraded`, … from the body's `status`, when present.
    pub reported: Option<String>,
    /// `posthog.connected` (or `services.posthog.status == ok|healthy`), when the body says.
    pub posthog_connected: Option<bool>,
    pub posthog_latency_ms: Option<f64>,
    /// Why the request failed (timeout, connection refused, no endpoints).
    pub error: Option<String>,
}

impl HealthView {
    /// 2xx and not self-reported as degraded or down.
    pub fn is_healthy(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
            && !self.reported.as_deref().is_some_and(|r| {
                matches!(
                    r.to_ascii_lowercase().as_str(),
                    "degraded" | "unhealthy" | "down" | "error" | "fail" | "failing"
                )
            })
    }
}

/// Errors per minute by class over the triage window, and the p99 latency, from Prometheus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRates {
    pub auth_per_min: Option<f64>,
    pub rate_limited_per_min: Option<f64>,
    pub server_per_min: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The PromQL that produced each figure, arguments filled in.
    pub queries: Vec<(String, String)>,
}

/// Error lines from the pods' logs over the triage window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogErrors {
    pub window_minutes: f64,
    pub error_lines: usize,
    pub auth: usize,
    pub rate_limited: usize,
    pub server: usize,
    /// The most recent error lines (already redacted), `pod: line`.
    pub recent: Vec<String>,
    /// Pods whose logs could not be read, with the reason.
    pub unreadable: Vec<String>,
    /// The first error line of any log read, over the whole `--since` window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error_at: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodsView {
    /// Desired replicas of the Deployment and its canary together.
    pub desired: u32,
    pub pods: Vec<PodHealth>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodHealth {
    pub name: String,
    /// `stable` or `canary`.
    pub track: String,
    pub phase: String,
    pub ready: bool,
    /// Being deleted (`deletionTimestamp` set): an old ReplicaSet's pod on its way out, which
    /// counts neither as ready nor as missing.
    pub terminating: bool,
    pub restarts: u32,
    /// `CrashLoopBackOff`, `ImagePullBackOff`, … while waiting.
    pub waiting_reason: Option<String>,
    /// `OOMKilled`, `Error`, … of the last termination.
    pub last_termination: Option<String>,
    /// When the last termination finished.
    pub last_termination_at: Option<jiff::Timestamp>,
    /// The container the termination and limit refer to.
    pub container: Option<String>,
    pub memory_limit: Option<String>,
}

impl PodsView {
    /// Ready pods that are not being deleted.
    pub fn ready(&self) -> usize {
        self.pods
            .iter()
            .filter(|p| p.ready && !p.terminating)
            .count()
    }

    /// Pods that are not being deleted.
    pub fn live(&self) -> usize {
        self.pods.iter().filter(|p| !p.terminating).count()
    }

    pub fn terminating(&self) -> usize {
        self.pods.iter().filter(|p| p.terminating).count()
    }

    pub fn restarts(&self) -> u32 {
        self.pods.iter().map(|p| p.restarts).sum()
    }

    pub fn oom_killed(&self) -> Vec<&PodHealth> {
        self.pods
            .iter()
            .filter(|p| p.last_termination.as_deref() == Some("OOMKilled"))
            .collect()
    }
}

/// Where the PostHog key comes from, as the rotation commands need it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeySource {
    pub container: Option<String>,
    pub env: Option<String>,
    pub secret: Option<String>,
    pub key: Option<String>,
    /// Other keys the Secret holds (rotation must keep them).
    pub other_keys: Vec<String>,
    /// Masked (`phc_…9T0u`) when the Secret could be read.
    pub masked: Option<String>,
    /// `project`, `personal`, … when the Secret could be read.
    pub kind: Option<String>,
    /// The key is a literal in the manifest rather than a Secret reference.
    pub literal: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEnv {
    pub name: String,
    pub rate_limit_mode: Option<String>,
    pub posthog_fallback: Option<String>,
}
