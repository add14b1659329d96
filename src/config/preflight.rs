//! The `preflight:` section of the configuration file.

use serde::Deserialize;

/// The `preflight:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PreflightConfig {
    /// The integration's health endpoint (`--health-url` overrides it).
    pub health_url: Option<String>,
    /// The staging health URL of the checklist's pre-flight `curl -f` (`--staging-url` overrides it).
    pub staging_url: Option<String>,
    /// A Prometheus whose rules API is read for the alert table (`--prometheus-url` overrides it).
    pub prometheus_url: Option<String>,
    pub tests: TestsConfig,
    pub docs: DocsConfig,
    pub alerts: AlertNames,
    pub alert_rules: AlertRulesConfig,
}

/// How the alert table is judged and written (`preflight --fix`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRulesConfig {
    /// The longest `for:` a rule may wait and still cover its line (default `5m`).
    pub max_for: Option<String>,
    /// The `for:` of the rules `--fix` writes (default `1m`).
    #[serde(rename = "for")]
    pub for_: Option<String>,
    /// The range of `rate()` in the rules `--fix` writes (default `5m`).
    pub window: Option<String>,
    /// The runbook each written rule links to (`runbook_url` annotation).
    pub runbook_url: Option<String>,
}

/// Where the "all tests passing" line finds its evidence.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TestsConfig {
    /// A JUnit XML report (relative to the repository root).
    pub junit: Option<String>,
    /// A CI result written by the pipeline: `passed` or `failed`.
    pub status: Option<TestStatus>,
    /// Where that result comes from (the CI run URL).
    pub link: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
}

/// Files that document the runbook lines (paths relative to the repository root).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DocsConfig {
    /// The repository root (default: `--scan PATH`, else the current directory).
    pub root: Option<String>,
    pub incident_runbook: Vec<String>,
    pub key_rotation: Vec<String>,
    pub rollback: Vec<String>,
    pub on_call: Vec<String>,
}

impl Default for DocsConfig {
    fn default() -> Self {
        let paths = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        DocsConfig {
            root: None,
            incident_runbook: paths(&[
                "RUNBOOK.md",
                "docs/runbook.md",
                "docs/incident-runbook.md",
                "docs/runbooks/posthog.md",
            ]),
            key_rotation: paths(&[
                "docs/key-rotation.md",
                "docs/runbooks/key-rotation.md",
                "KEY_ROTATION.md",
            ]),
            rollback: paths(&[
                "docs/rollback.md",
                "docs/runbooks/rollback.md",
                "ROLLBACK.md",
            ]),
            on_call: paths(&["ONCALL.md", "docs/on-call.md", "docs/oncall.md"]),
        }
    }
}

/// Alert rule names that cover each line of the checklist's alert table, when the expression
/// alone does not show it. Empty: recognised by expression.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertNames {
    pub api_down: Vec<String>,
    pub high_latency: Vec<String>,
    pub rate_limited: Vec<String>,
    pub auth_failures: Vec<String>,
}
