//! The flags `triage` and `evidence` share for the outside sources.

/// The flags `triage` and `evidence` share for the outside sources.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// The integration's health endpoint (default: GET through the API server's proxy to the
    /// Service selecting the pods, at evidence.healthPath, default /health)
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,

    /// Prometheus HTTP API base URL (default: $PROMETHEUS_URL, then prometheus.url in the config
    /// file); without one, error rates are estimated from the pods' log lines
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// PostHog status summary to read (default: posthog.statusUrl, else PostHog's status page)
    #[arg(long, value_name = "URL")]
    pub status_url: Option<String>,
}

impl SourceArgs {
    pub fn flags(&self) -> crate::evidence::gather::SourceFlags {
        crate::evidence::gather::SourceFlags {
            health_url: self.health_url.clone(),
            status_url: self.status_url.clone(),
        }
    }
}
