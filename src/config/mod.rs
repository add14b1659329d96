//! The configuration file (`kubectl-posthog.yaml`): names, thresholds, severity overrides,
//! attestations and disabled checks, and one section per feature (`canary`, `evidence`, `notify`,
//! `posthog`, `preflight`, `prometheus`) as plain data: a feature receives its own section, never the whole
//! file. Unknown keys are errors so a typo never silently turns a check off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod canary;
pub mod duration;
pub mod evidence;
pub mod notify;
pub mod posthog;
pub mod preflight;
pub mod prometheus;
mod validate;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::report::{FailOn, Severity};

/// The name the checklist and runbook give the integration's Deployment.
pub const DEFAULT_DEPLOYMENT: &str = "posthog-integration";

/// File names looked for in the current directory when `--config` is not given.
pub const DEFAULT_FILES: [&str; 2] = ["kubectl-posthog.yaml", ".kubectl-posthog.yaml"];

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where the file was read from (absent when no file exists).
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// The lowest severity of a failing finding that fails the verdict (`--fail-on` overrides it).
    pub fail_on: Option<FailOn>,
    /// Names of the things the checklist and runbook talk about.
    pub names: Names,
    /// Numbers the checks hold measurements against.
    pub thresholds: Thresholds,
    /// Severity per check id, replacing the default (`infra.pdb: p2`).
    pub severity: BTreeMap<String, SeverityName>,
    /// Checklist lines a person vouches for, per check id.
    pub attestations: BTreeMap<String, Attestation>,
    /// Checks turned off, each with the reason (shown in every report).
    pub disabled: Vec<Disabled>,
    pub preflight: preflight::PreflightConfig,
    pub posthog: posthog::PostHogConfig,
    pub prometheus: prometheus::PrometheusConfig,
    pub canary: canary::CanaryConfig,
    pub evidence: evidence::EvidenceConfig,
    pub notify: notify::NotifyConfig,
}

/// Names of the Deployment, Secret, variables and paths; the defaults are the checklist's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Names {
    /// The Deployment used when none is named on the command line.
    pub deployment: String,
    /// The Secret holding the API key (the runbook's `posthog-secrets`).
    pub secret: String,
    /// The key inside that Secret (the runbook's `api-key`).
    pub secret_key: String,
    /// The variable holding the project API key.
    pub api_key_env: String,
    /// The variable holding the PostHog host.
    pub host_env: String,
    /// Variables that must be set in the container.
    pub required_env: Vec<String>,
    /// Variables holding a personal (`phx_`) or secret (`phs_`) key, validated with its scopes.
    pub personal_key_env: Vec<String>,
    /// The graceful-degradation switch (the runbook's `POSTHOG_FALLBACK`).
    pub fallback_env: String,
    /// The request-queuing switch (the runbook's `RATE_LIMIT_MODE`).
    pub rate_limit_env: String,
    /// A circuit-breaker switch, when the application has one.
    pub circuit_breaker_env: String,
    /// Path of the health endpoint (default: the readiness probe's path, else `/health`).
    pub health_path: Option<String>,
    /// A label that marks a Deployment as using PostHog for `--all` (besides env vars and Secret names).
    pub label: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            deployment: DEFAULT_DEPLOYMENT.to_string(),
            secret: "posthog-secrets".to_string(),
            secret_key: "api-key".to_string(),
            api_key_env: "POSTHOG_API_KEY".to_string(),
            host_env: "POSTHOG_HOST".to_string(),
            required_env: vec!["POSTHOG_API_KEY".to_string(), "POSTHOG_HOST".to_string()],
            personal_key_env: vec!["POSTHOG_PERSONAL_API_KEY".to_string()],
            fallback_env: "POSTHOG_FALLBACK".to_string(),
            rate_limit_env: "RATE_LIMIT_MODE".to_string(),
            circuit_breaker_env: "POSTHOG_CIRCUIT_BREAKER".to_string(),
            health_path: None,
            label: "kubectl-posthog/enabled".to_string(),
        }
    }
}

/// Thresholds of the preflight checks.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Thresholds {
    /// Fewest replicas (or HPA minReplicas) for a production Deployment.
    pub min_replicas: i32,
    /// How long the PostHog SDK may take to flush on shutdown; the grace period must exceed it.
    /// posthog-node's `shutdown()` waits up to 30 s by default.
    pub sdk_shutdown_seconds: i64,
    /// Longest acceptable `progressDeadlineSeconds` (a stuck rollout is noticed this late).
    pub max_progress_deadline_seconds: i32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_replicas: 2,
            sdk_shutdown_seconds: 30,
            max_progress_deadline_seconds: 1800,
        }
    }
}

/// `p1`…`p4` (or `P1`…`P4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SeverityName {
    #[serde(alias = "p1")]
    P1,
    #[serde(alias = "p2")]
    P2,
    #[serde(alias = "p3")]
    P3,
    #[serde(alias = "p4")]
    P4,
}

impl From<SeverityName> for Severity {
    fn from(name: SeverityName) -> Severity {
        match name {
            SeverityName::P1 => Severity::P1,
            SeverityName::P2 => Severity::P2,
            SeverityName::P3 => Severity::P3,
            SeverityName::P4 => Severity::P4,
        }
    }
}

/// A person vouching for a checklist line a machine cannot check.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestation {
    /// Who attests (name, handle or e-mail).
    pub by: String,
    /// When: a date (`2026-03-01`) or a timestamp.
    pub at: String,
    /// Where the evidence is (a document, a PR, a ticket).
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// After this date the line is `manual` again.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A check turned off on purpose.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disabled {
    pub id: String,
    /// Required: why the check does not apply here.
    pub reason: String,
}

impl Config {
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(path) => {
                if !path.exists() {
                    return Err(Error::Input(format!(
                        "config file {} not found: pass an existing file to --config",
                        path.display()
                    )));
                }
                path.to_path_buf()
            }
            None => match DEFAULT_FILES.iter().map(PathBuf::from).find(|p| p.exists()) {
                Some(path) => path,
                None => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Input(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let mut config = Config::parse(&text)
            .map_err(|e| Error::Input(format!("config file {}: {e}", path.display())))?;
        config.path = Some(path);
        Ok(config)
    }

    /// Parses the YAML text; an empty file is the default configuration.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_saphyr::from_str(text).map_err(|e| {
            let message = e.to_string();
            message.lines().next().unwrap_or(&message).to_string()
        })?;
        validate::validate(&config)?;
        notify::validate(&config.notify)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("nonsense: 1\n").unwrap_err();
        assert!(err.contains("nonsense"), "{err}");
    }

    #[test]
    fn top_level_layout_parses() {
        let config = Config::parse(
            "failOn: p1
names:
  secret: ph
  requiredEnv: [POSTHOG_API_KEY]
thresholds:
  minReplicas: 3
severity:
  infra.pdb: p2
attestations:
  code.error-handling: {by: alice, at: 2026-01-10, link: https://example.com/pr/1}
disabled:
  - id: infra.pdb
    reason: singleton by design
",
        )
        .unwrap();
        assert_eq!(config.fail_on, Some(FailOn::P1));
        assert_eq!(config.names.secret, "ph");
        assert_eq!(config.names.api_key_env, "POSTHOG_API_KEY");
        assert_eq!(config.thresholds.min_replicas, 3);
        assert_eq!(config.severity["infra.pdb"], SeverityName::P2);
        assert_eq!(config.attestations["code.error-handling"].by, "alice");
        assert_eq!(config.disabled[0].reason, "singleton by design");
    }

    #[test]
    fn a_disabled_check_needs_a_reason() {
        let err = Config::parse("disabled:\n  - id: infra.pdb\n").unwrap_err();
        assert!(err.contains("reason"), "{err}");
    }

    #[test]
    fn missing_explicit_file_is_an_input_error() {
        let err = Config::load(Some(Path::new("/nonexistent/kubectl-posthog.yaml"))).unwrap_err();
        assert_eq!(err.exit().code(), 2);
        assert!(err.to_string().contains("--config"), "{err}");
    }
}
