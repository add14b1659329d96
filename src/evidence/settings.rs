//! What `triage` and `evidence` read with, as plain values the command builds once from the
//! configuration file and the global flags: the `evidence:` and `posthog:` sections, the canary's
//! metric and label names (an incident is read with the queries a rollout was judged by), and
//! the timeouts. Nothing in this feature sees the whole `Config` or a clap struct.

use std::time::Duration;

use super::EvidenceConfig;
use crate::canary::metrics::Naming;
use crate::config::posthog::PostHogConfig;
use crate::error::Result;

/// Each request to PostHog or its status page, and each health probe through the API server's
/// proxy, when nothing configures it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Settings {
    pub evidence: EvidenceConfig,
    pub posthog: PostHogConfig,
    /// The canary's metric and label names (`canary.names`, `canary.labels`).
    pub naming: Naming,
    /// The runbook's "last 5 minutes" (`evidence.triageWindow`).
    pub triage_window: Duration,
    /// Each PostHog and status-page request (`posthog.timeout`).
    pub posthog_timeout: Duration,
    /// The health endpoint through the API server's service proxy (`--request-timeout`).
    pub proxy_timeout: Duration,
}

impl Settings {
    /// Checks the values once, so a bad one is an input error (exit 2) before anything is read.
    pub fn new(
        evidence: &EvidenceConfig,
        posthog: &PostHogConfig,
        naming: Naming,
        request_timeout: Option<Duration>,
    ) -> Result<Settings> {
        let posthog_timeout = match &posthog.timeout {
            None => DEFAULT_TIMEOUT,
            Some(raw) => crate::config::duration::config_duration(
                "posthog.timeout",
                raw,
                Duration::ZERO,
                crate::config::duration::MAX_DURATION,
            )?,
        };
        Ok(Settings {
            triage_window: evidence.triage_window()?,
            evidence: evidence.clone(),
            posthog: posthog.clone(),
            naming,
            posthog_timeout,
            // Through the proxy a 503 is an answer (unhealthy, or no pod ready): a bounded wait
            // so an unresponsive integration cannot stall the triage.
            proxy_timeout: request_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_TIMEOUT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_once_and_timeouts_default() {
        let settings = Settings::new(
            &EvidenceConfig::default(),
            &PostHogConfig::default(),
            Naming::default(),
            Some(Duration::ZERO),
        )
        .unwrap();
        assert_eq!(settings.proxy_timeout, DEFAULT_TIMEOUT, "0 means no limit");
        assert_eq!(settings.posthog_timeout, DEFAULT_TIMEOUT);
        assert_eq!(settings.triage_window, Duration::from_secs(300));
        let posthog = PostHogConfig {
            timeout: Some("soon".into()),
            ..PostHogConfig::default()
        };
        let err = Settings::new(
            &EvidenceConfig::default(),
            &posthog,
            Naming::default(),
            None,
        )
        .unwrap_err();
        assert_eq!(err.exit().code(), 2);
        assert!(err.to_string().contains("posthog.timeout"), "{err}");
        let fast = Settings::new(
            &EvidenceConfig::default(),
            &PostHogConfig {
                timeout: Some("3s".into()),
                ..PostHogConfig::default()
            },
            Naming::default(),
            Some(Duration::from_secs(4)),
        )
        .unwrap();
        assert_eq!(
            (fast.posthog_timeout, fast.proxy_timeout),
            (Duration::from_secs(3), Duration::from_secs(4))
        );
    }
}
