//! The facts every check reads, produced the same way from the cluster (live) or from manifest
//! files (offline): Kubernetes objects with where they came from, and what remote services said.
//!
//! Secret values are held in [`SecretValue`], which never prints its content.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use super::yaml::LineMap;
use crate::prometheus::rules::{RuleInfo, RulesError};

/// Where an object came from: a file and line offline, nothing (the cluster) live.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub file: Option<String>,
    /// Line of the object's first node.
    pub line: Option<u32>,
    pub lines: LineMap,
}

impl Origin {
    pub fn file(file: &str, line: Option<u32>, lines: LineMap) -> Self {
        Origin {
            file: Some(file.to_string()),
            line,
            lines,
        }
    }

    /// File and line of the node at `pointer` (relative to the object), for a finding's location.
    pub fn locate(&self, pointer: &str) -> Option<(String, Option<u32>)> {
        let file = self.file.clone()?;
        Some((file, self.lines.line(pointer).or(self.line)))
    }
}

/// A Kubernetes object and its origin.
#[derive(Debug, Clone)]
pub struct Obj<T> {
    pub object: T,
    pub origin: Origin,
}

impl<T: kube::Resource> Obj<T> {
    pub fn name(&self) -> String {
        self.object.name_any()
    }

    pub fn namespace(&self) -> String {
        self.object.namespace().unwrap_or_default()
    }
}

/// A secret value: readable by the code that must send it (key validation), never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself, for the one request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.trim().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn masked(&self) -> String {
        crate::posthog::mask(&self.0)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({})", self.masked())
    }
}

/// A Secret reduced to its keys and (hidden) values, from `data` and `stringData`.
#[derive(Debug, Clone)]
pub struct SecretFacts {
    pub name: String,
    pub namespace: String,
    pub values: BTreeMap<String, SecretValue>,
    pub origin: Origin,
}

impl SecretFacts {
    pub fn from_secret(secret: &Secret, origin: Origin) -> Self {
        let mut values = BTreeMap::new();
        for (key, bytes) in secret.data.iter().flatten() {
            values.insert(
                key.clone(),
                SecretValue::new(String::from_utf8_lossy(&bytes.0).into_owned()),
            );
        }
        for (key, text) in secret.string_data.iter().flatten() {
            values.insert(key.clone(), SecretValue::new(text.clone()));
        }
        SecretFacts {
            name: secret.name_any(),
            namespace: secret.namespace().unwrap_or_default(),
            values,
            origin,
        }
    }
}

/// One alerting rule, from a PrometheusRule object or a Prometheus rules API.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    /// The `severity` label, if any.
    pub severity: Option<String>,
    /// The rule's `for:`, in seconds (`None`: fires at the first evaluation that matches).
    pub for_seconds: Option<f64>,
    /// `PrometheusRule monitoring/posthog-alerts` or `rules API http://…`.
    pub source: String,
    pub origin: Origin,
}

/// Kubernetes objects in scope (one namespace, all namespaces, or the given files).
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    pub deployments: Vec<Obj<Deployment>>,
    pub replica_sets: Vec<Obj<ReplicaSet>>,
    /// Pods are listed live for a single target (one request); absent offline and for `--all`.
    pub pods: Option<Vec<Pod>>,
    pub secrets: Vec<SecretFacts>,
    pub config_maps: Vec<Obj<ConfigMap>>,
    pub services: Vec<Obj<Service>>,
    pub pdbs: Vec<Obj<PodDisruptionBudget>>,
    pub hpas: Vec<Obj<HorizontalPodAutoscaler>>,
    pub alert_rules: Vec<AlertRule>,
    /// What was consulted for alert rules, e.g. "3 PrometheusRule objects", "PrometheusRule CRD not installed".
    pub alert_sources: Vec<String>,
    /// Live: every referenced Secret/ConfigMap was fetched, so one that is absent does not exist.
    /// Offline: an absent one is simply not in the files.
    pub authoritative: bool,
    /// `namespace/name` of Secrets or ConfigMaps that could not be read (403), with the reason.
    pub unreadable: BTreeMap<String, String>,
    /// The files read offline, for the report.
    pub files: Vec<String>,
    /// Their texts, in the same order (`preflight --fix` copies them next to the fixes).
    pub texts: Vec<String>,
    /// Kinds seen in the files that no check reads (reported once, so nothing is silently ignored).
    pub ignored_kinds: BTreeSet<String>,
}

impl ClusterFacts {
    /// Adds what a Prometheus rules API at `url` answered, or why it did not, to the alert facts.
    pub fn add_rules_api(&mut self, url: &str, answer: Result<Vec<RuleInfo>, RulesError>) {
        let rules = match answer {
            Ok(rules) => rules,
            Err(e) => return self.alert_sources.push(format!("failed to {e}")),
        };
        let source = format!("rules API {url}/");
        self.alert_sources
            .push(format!("{} alert rules from {source}", rules.len()));
        self.alert_rules
            .extend(rules.into_iter().map(|r| AlertRule {
                name: r.name,
                expr: r.expr,
                severity: r.severity,
                for_seconds: r.for_seconds,
                source: match &r.file {
                    Some(file) => format!("{source} group {} ({file})", r.group),
                    None => format!("{source} group {}", r.group),
                },
                origin: Origin::default(),
            }));
    }
}

/// The answer to "is this Secret/ConfigMap there?", which differs live and offline.
#[derive(Debug)]
pub enum Lookup<'a, T> {
    Found(&'a T),
    /// Live: it does not exist.
    Missing,
    /// Offline (not in the files) or unreadable: we cannot tell.
    Unknown(String),
}

impl ClusterFacts {
    pub fn secret(&self, namespace: &str, name: &str) -> Lookup<'_, SecretFacts> {
        if let Some(found) = self
            .secrets
            .iter()
            .find(|s| s.name == name && s.namespace == namespace)
        {
            return Lookup::Found(found);
        }
        self.absent("Secret", namespace, name)
    }

    pub fn config_map(&self, namespace: &str, name: &str) -> Lookup<'_, Obj<ConfigMap>> {
        if let Some(found) = self
            .config_maps
            .iter()
            .find(|c| c.name() == name && c.namespace() == namespace)
        {
            return Lookup::Found(found);
        }
        self.absent("ConfigMap", namespace, name)
    }

    fn absent<T>(&self, kind: &str, namespace: &str, name: &str) -> Lookup<'_, T> {
        if let Some(reason) = self.unreadable.get(&format!("{namespace}/{name}")) {
            return Lookup::Unknown(format!("{kind} {name} could not be read: {reason}"));
        }
        if self.authoritative {
            Lookup::Missing
        } else {
            Lookup::Unknown(format!(
                "{kind} {name} is not in the given manifests (checked in live mode)"
            ))
        }
    }
}
