//! The configuration file (`kubectl-posthog.yaml`): names, thresholds, severity overrides,
//! attestations and disabled checks. Each feature owns its section; unknown keys are errors so a
//! typo never silently turns a check off.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// File names looked for in the current directory when `--config` is not given.
pub const DEFAULT_FILES: [&str; 2] = ["kubectl-posthog.yaml", ".kubectl-posthog.yaml"];

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where the file was read from (absent when no file exists).
    #[serde(skip)]
    pub path: Option<PathBuf>,
    pub preflight: crate::checks::PreflightConfig,
    pub posthog: crate::posthog::PostHogConfig,
    pub prometheus: crate::prometheus::PrometheusConfig,
    pub canary: crate::canary::CanaryConfig,
    pub evidence: crate::evidence::EvidenceConfig,
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
        serde_saphyr::from_str(text).map_err(|e| {
            let message = e.to_string();
            message.lines().next().unwrap_or(&message).to_string()
        })
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
    fn missing_explicit_file_is_an_input_error() {
        let err = Config::load(Some(Path::new("/nonexistent/kubectl-posthog.yaml"))).unwrap_err();
        assert_eq!(err.exit().code(), 2);
        assert!(err.to_string().contains("--config"), "{err}");
    }
}
