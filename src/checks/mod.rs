//! The preflight checklist: pure checks over facts gathered from the cluster or from manifest files.
//!
//! Flow: [`manifests`] (offline) or [`live`] gather [`facts::ClusterFacts`]; [`local`] reads the
//! repository (docs, test results, the credential [`scan`]); [`remote`] asks PostHog, the status page
//! and health endpoints; then the step modules turn all of it into findings, and [`policy`] applies
//! the config file's severity overrides, attestations and disabled checks.

pub mod alerts;
pub mod availability;
pub mod catalog;
pub mod checklist;
pub mod code_quality;
pub mod configuration;
pub mod documentation;
pub mod endpoints;
pub mod env;
pub mod facts;
pub mod infrastructure;
pub mod live;
pub mod local;
pub mod manifests;
pub mod policy;
pub mod proxy;
pub mod remote;
pub mod rollout;
pub mod scan;
pub mod select;
pub mod selector;
pub mod yaml;

use k8s_openapi::api::apps::v1::Deployment;
use serde::Deserialize;

use crate::config::Config;
use crate::report::{Finding, Status};
use env::Environment;
use facts::{ClusterFacts, Obj};

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

/// One Deployment being checked, with everything resolved that several checks need.
pub struct Subject<'a> {
    pub deploy: &'a Obj<Deployment>,
    pub name: String,
    pub namespace: String,
    pub env: Environment,
    pub facts: &'a ClusterFacts,
    pub config: &'a Config,
    /// Set when the report covers several Deployments.
    pub label: Option<String>,
}

impl<'a> Subject<'a> {
    pub fn new(
        deploy: &'a Obj<Deployment>,
        facts: &'a ClusterFacts,
        config: &'a Config,
        several: bool,
    ) -> Self {
        let name = deploy.name();
        let namespace = deploy.namespace();
        let env = env::resolve(&deploy.object, &namespace, facts);
        let label = several.then(|| format!("deployment/{namespace}/{name}"));
        Subject {
            deploy,
            name,
            namespace,
            env,
            facts,
            config,
            label,
        }
    }

    /// A finding for check `id` with the catalog's step, severity and title. Offline it points at
    /// the Deployment's first line until [`Subject::locate`] narrows it down.
    pub fn finding(&self, id: &str, status: Status) -> Finding {
        let mut finding = new_finding(id, status);
        if let Some(label) = &self.label {
            finding = finding.subject(label.clone());
        }
        if let Some(file) = &self.deploy.origin.file {
            finding = finding.at(file.clone(), self.deploy.origin.line);
        }
        finding
    }

    /// Adds the manifest location of `pointer` (offline only; live objects have no file).
    pub fn locate(&self, finding: Finding, pointer: &str) -> Finding {
        match self.deploy.origin.locate(pointer) {
            Some((file, line)) => finding.at(file, line),
            None => finding,
        }
    }

    /// The containers that talk to PostHog (those with the API key variable), else all of them.
    pub fn posthog_containers(&self) -> Vec<(usize, &'a k8s_openapi::api::core::v1::Container)> {
        let all: Vec<_> = env::containers(&self.deploy.object)
            .iter()
            .enumerate()
            .collect();
        let with_key = self.env.containers_with(&self.config.names.api_key_env);
        let chosen: Vec<_> = all
            .iter()
            .filter(|(_, c)| with_key.contains(&c.name.as_str()))
            .copied()
            .collect();
        if chosen.is_empty() { all } else { chosen }
    }

    pub fn pod_spec(&self) -> Option<&'a k8s_openapi::api::core::v1::PodSpec> {
        self.deploy
            .object
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
    }
}

/// A finding for check `id` with the catalog's step, severity and title.
pub fn new_finding(id: &str, status: Status) -> Finding {
    let def = catalog::get(id);
    Finding::new(def.id, def.step, def.severity, status, def.title)
}

/// Joins measurements for one line of the table.
pub(crate) fn join<I: IntoIterator<Item = String>>(parts: I) -> String {
    parts.into_iter().collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests;
