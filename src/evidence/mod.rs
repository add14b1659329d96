//! Incident evidence and triage: collectors, redaction, the bundle writer, postmortem and the
//! runbook's decision tree.
//!
//! Data flows as everywhere else: the cluster and remote services ([`workload`], [`secrets`],
//! [`logs`], [`metrics`], [`sources`]) → facts ([`facts`]) → pure decisions ([`triage`],
//! [`actions`], [`redact`]) → the report ([`triage_report`]) and the bundle ([`bundle`]).

pub mod actions;
pub mod apply;
pub mod archive;
pub mod bundle;
pub mod bundle_report;
pub mod chart;
pub mod collect;
pub mod detect;
pub mod documents;
pub mod error_lines;
pub mod facts;
pub mod gather;
pub mod history;
pub mod index_html;
pub mod k8s_files;
pub mod logs;
pub mod manifest;
pub mod metrics;
pub mod metrics_files;
pub mod notify_events;
pub mod objects;
pub mod postmortem;
pub mod redact;
pub mod redact_stream;
pub mod rotation;
pub mod secrets;
pub mod settings;
pub mod signals;
pub mod sources;
pub mod timeline;
pub mod triage;
pub mod triage_findings;
pub mod triage_report;
pub mod triage_signals;
pub mod window;
pub mod workload;

pub use crate::config::evidence::EvidenceConfig;
use std::time::Duration;

use crate::error::Result;

pub const DEFAULT_HEALTH_PATH: &str = "/health";
pub const DEFAULT_LOG_CONCURRENCY: usize = 8;

impl EvidenceConfig {
    pub fn health_path(&self) -> &str {
        self.health_path.as_deref().unwrap_or(DEFAULT_HEALTH_PATH)
    }

    pub fn log_concurrency(&self) -> usize {
        self.log_concurrency
            .unwrap_or(DEFAULT_LOG_CONCURRENCY)
            .clamp(1, 64)
    }

    pub fn triage_window(&self) -> Result<Duration> {
        match &self.triage_window {
            None => Ok(Duration::from_secs(300)),
            Some(raw) => crate::config::duration::config_duration(
                "evidence.triageWindow",
                raw,
                Duration::from_secs(60),
                crate::config::duration::MAX_DURATION,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_and_rejects_typos() {
        let config = crate::config::Config::parse(
            "evidence:\n  healthPath: /healthz\n  logConcurrency: 4\n  thresholds:\n    serverErrorsPerMinute: 3\n  queries:\n    errors5xx: 'x'\n",
        )
        .unwrap();
        let evidence = config.evidence;
        assert_eq!(evidence.health_path(), "/healthz");
        assert_eq!(evidence.log_concurrency(), 4);
        assert_eq!(evidence.thresholds.server_errors_per_minute, 3.0);
        assert_eq!(evidence.thresholds.rate_limited_per_minute, 5.0);
        assert_eq!(evidence.queries.errors_5xx.as_deref(), Some("x"));
        assert_eq!(evidence.triage_window().unwrap(), Duration::from_secs(300));
        let err = crate::config::Config::parse("evidence:\n  thresholds:\n    serverErrors: 3\n")
            .unwrap_err();
        assert!(err.contains("serverErrors"), "{err}");
        let bad = EvidenceConfig {
            triage_window: Some("10s".into()),
            ..EvidenceConfig::default()
        };
        assert_eq!(bad.triage_window().unwrap_err().exit().code(), 2);
    }
}
