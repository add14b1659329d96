//! The preflight checklist: pure checks over facts gathered from the cluster or from manifest files.
//!
//! Flow: [`manifests`] (offline) or [`live`] gather [`facts::ClusterFacts`]; [`local`] reads the
//! repository (docs, test results, the credential [`scan`]); [`remote`] asks PostHog, the status page
//! and health endpoints; then the step modules turn all of it into findings, and [`policy`] applies
//! the config file's severity overrides, attestations and disabled checks.

pub mod alerts;
pub mod availability;
pub mod canary_queries;
pub mod catalog;
pub mod checklist;
pub mod code_quality;
pub mod configuration;
pub mod documentation;
pub mod endpoints;
pub mod env;
pub mod facts;
pub mod fix;
pub mod infrastructure;
pub mod live;
pub mod local;
pub mod manifests;
pub mod plan;
pub mod policy;
pub mod proxy;
pub mod region;
pub mod remote;
pub mod rollout;
pub mod scan;
pub mod select;
pub mod selector;
pub mod summary;
pub mod yaml;

pub use crate::config::preflight::{
    AlertNames, DocsConfig, PreflightConfig, TestStatus, TestsConfig,
};
use k8s_openapi::api::apps::v1::Deployment;

use crate::config::posthog::PostHogConfig;
use crate::config::{Names, Thresholds};
use crate::report::{Finding, Status};
use env::Environment;
use facts::{ClusterFacts, Obj};

/// The sections of the configuration file a Deployment's checks read (never the whole file).
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    pub names: &'a Names,
    pub thresholds: &'a Thresholds,
    pub posthog: &'a PostHogConfig,
    /// The canary's steps (`canary.steps`), which an HPA's floor may not let it reach.
    pub canary_steps: Option<&'a [u32]>,
}

/// One Deployment being checked, with everything resolved that several checks need.
pub struct Subject<'a> {
    pub deploy: &'a Obj<Deployment>,
    pub name: String,
    pub namespace: String,
    pub env: Environment,
    pub facts: &'a ClusterFacts,
    /// The names of the Deployment's Secret, variables and paths (`names:` in the config).
    pub names: &'a Names,
    /// The numbers the checks hold measurements against (`thresholds:`).
    pub thresholds: &'a Thresholds,
    /// Where the Deployment's PostHog is meant to be (`posthog:`): host and region.
    pub posthog: &'a PostHogConfig,
    /// The canary's steps as configured (`None`: the default 10, 50, 100).
    pub canary_steps: Option<&'a [u32]>,
    /// Set when the report covers several Deployments.
    pub label: Option<String>,
}

impl<'a> Subject<'a> {
    pub fn new(
        deploy: &'a Obj<Deployment>,
        facts: &'a ClusterFacts,
        sections: Sections<'a>,
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
            names: sections.names,
            thresholds: sections.thresholds,
            posthog: sections.posthog,
            canary_steps: sections.canary_steps,
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
        let with_key = self.env.containers_with(&self.names.api_key_env);
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
