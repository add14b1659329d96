//! `manifest.json`: what the bundle holds (every file with size, SHA-256 and redaction count),
//! where it came from (tool version, cluster context, namespace), the query windows, and every
//! source that could not be collected. The bundle is produced even when sources are missing.

use schemars::JsonSchema;
use serde::Serialize;

use super::bundle::Entry;

pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub manifest_version: u32,
    pub tool: Tool,
    pub created_at: jiff::Timestamp,
    pub cluster: ClusterInfo,
    pub target: TargetInfo,
    pub window: Window,
    pub queries: Vec<QueryWindow>,
    /// Every file of the bundle except this manifest, sorted by path.
    pub files: Vec<Entry>,
    pub redactions: Redactions,
    /// Sources that could not be collected, and why.
    pub missing: Vec<Missing>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "kubectl-posthog",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub context: Option<String>,
    pub server: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    pub deployment: String,
    /// The canary Deployment, when one exists.
    pub canary: Option<String>,
    pub pods: Vec<String>,
}

/// The collection window: logs, events and range queries cover `[start, end]`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub since: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryWindow {
    pub id: String,
    /// `range` (the bundle's metrics files) or `instant` (the triage's last minutes).
    pub kind: &'static str,
    pub promql: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redactions {
    /// Secret values replaced in the bundle's files: the sum of `bySource`.
    pub total: usize,
    /// Replacements per Secret key (names only); 0 for a value looked for and never met. A
    /// list, not a map: a key named `password` must not read as an assignment.
    pub by_source: Vec<SourceCount>,
    /// Other credential-shaped strings blanked (tokens, passwords in URLs, `password=` values,
    /// fields named like credentials): not Secret values, not in `total`.
    pub pattern_matches: usize,
    /// Secret keys whose values were redacted wherever they appeared (names only).
    pub secret_values_redacted: Vec<String>,
    /// Secret keys whose values were too short to redact without destroying the text.
    pub too_short_to_redact: Vec<String>,
}

/// Secret values of one Secret key replaced in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SourceCount {
    /// `secret/key`.
    pub source: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Missing {
    /// `prometheus`, `status-page`, `health`, `logs/POD/CONTAINER`, `events`, `secret/NAME`, …
    pub source: String,
    pub reason: String,
}

impl Missing {
    pub fn new(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Missing {
            source: source.into(),
            reason: reason.into(),
        }
    }
}

impl Manifest {
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
