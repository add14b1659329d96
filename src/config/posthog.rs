//! The `posthog:` section of the configuration file.

use serde::Deserialize;

/// The `posthog:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PostHogConfig {
    /// `us` or `eu`; absent: read from the host the Deployment sends to.
    pub region: Option<RegionName>,
    /// A self-hosted PostHog (one host for ingestion and the app API). `--posthog-host` overrides it.
    pub host: Option<String>,
    /// The status summary to read (`--status-url` overrides it).
    pub status_url: Option<String>,
    /// The Atlassian-style fallback; an empty string turns the fallback off.
    pub status_fallback_url: Option<String>,
    /// Timeout of each PostHog or status-page request, e.g. `5s` (default 10s).
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionName {
    Us,
    Eu,
}
