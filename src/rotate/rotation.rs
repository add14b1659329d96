//! What a rotation needs (plain values) and what it did, step by step: its report details.

use std::time::Duration;

/// What the rotation needs, as plain values.
pub struct Inputs {
    pub deployment: String,
    /// The variable holding the project key (`names.apiKeyEnv`).
    pub api_key_env: String,
    /// The variable holding the host (`names.hostEnv`).
    pub host_env: String,
    pub new_key: String,
    /// Overrides the Deployment's host (self-hosted, a proxy, a test).
    pub posthog_host: Option<String>,
    /// The integration's health endpoint, checked after each restart.
    pub health_url: Option<url::Url>,
    /// For each rollout to complete.
    pub rollout_timeout: Duration,
    pub remote_timeout: Duration,
    pub dry_run: bool,
    pub revert: bool,
    /// `--resume`: finish the rotation (or the revert) the Secret's state annotation records;
    /// `new_key` may then be empty (the Secret holds it).
    pub resume: bool,
    /// With Prometheus: no 401/403 from the restarted pods over a window before success.
    pub auth_check: Option<AuthCheck>,
    pub now: jiff::Timestamp,
}

/// The check after the restarts that the new pods get no 401/403 (issue 19 step 5).
pub struct AuthCheck {
    pub prometheus: crate::prometheus::Prometheus,
    pub naming: crate::prometheus::alert_table::Naming,
    /// How long the new pods serve before their 401/403 are counted (`--verify-window`).
    pub window: Duration,
}

impl AuthCheck {
    /// The 401/403 responses of `deployment`'s pods over the window (0 when it served none).
    pub fn query(&self, namespace: &str, deployment: &str) -> String {
        let n = &self.naming;
        let selector = n.deployment_selector(namespace, deployment);
        format!(
            r#"sum(increase({}{{{selector},{}=~"401|403"}}[{}s])) or sum({}{{{selector}}}) * 0"#,
            n.requests,
            n.status,
            self.window.as_secs().max(1),
            n.requests
        )
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Result_ {
    /// The new key is in use by every reader, verified.
    Rotated,
    /// Refused before anything changed.
    Refused,
    /// `--dry-run`: the plan only.
    DryRun,
    /// Verification failed and the old key was restored.
    Reverted,
    /// Verification failed; `--no-revert` left the new key in place.
    FailedNotReverted,
    /// Verification failed and restoring the old key failed too: a person must act.
    RevertFailed,
}

/// One step, as the report shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub id: String,
    pub ok: bool,
    pub title: String,
    pub measured: String,
}

/// Everything that happened.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    pub secret: String,
    pub key: String,
    pub readers: Vec<String>,
    /// The keys, masked (`phc_…1234`).
    pub old_key: String,
    pub new_key: String,
    pub region: String,
    pub result: Result_,
    pub steps: Vec<StepRecord>,
    /// 409s re-read while patching the Secret.
    pub conflicts: u32,
}

impl Rotation {
    pub(super) fn step(&mut self, id: &str, ok: bool, title: &str, measured: impl Into<String>) {
        self.steps.push(StepRecord {
            id: id.to_string(),
            ok,
            title: title.to_string(),
            measured: measured.into(),
        });
    }
}
