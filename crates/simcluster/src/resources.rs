//! The one table of resources the simulator serves. Discovery, routing, the store and the
//! Rust API all read it, so adding a resource is one line here.

/// A subresource served under `…/NAME/<sub>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    Status,
    Scale,
    Log,
    Proxy,
}

impl Sub {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Sub::Status => "status",
            Sub::Scale => "scale",
            Sub::Log => "log",
            Sub::Proxy => "proxy",
        }
    }
}

#[derive(Debug)]
pub(crate) struct ResourceDef {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) namespaced: bool,
    pub(crate) short_names: &'static [&'static str],
    pub(crate) verbs: &'static [&'static str],
    pub(crate) subresources: &'static [Sub],
    pub(crate) categories: &'static [&'static str],
}

impl ResourceDef {
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: the name kubectl prints in errors.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether main-resource writes ignore `status` (the apiserver's strategies do this for
    /// resources with a status subresource that controllers own).
    pub(crate) fn status_is_owned(&self) -> bool {
        matches!(
            self.kind,
            "Deployment" | "ReplicaSet" | "Pod" | "HorizontalPodAutoscaler" | "PodDisruptionBudget"
        )
    }
}

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];
const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

macro_rules! res {
    ($g:expr, $v:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $verbs:expr, $subs:expr, $cats:expr) => {
        ResourceDef {
            group: $g,
            version: $v,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            verbs: $verbs,
            subresources: $subs,
            categories: $cats,
        }
    };
}

use Sub::{Log, Proxy, Scale, Status};

pub(crate) static RESOURCES: &[ResourceDef] = &[
    res!(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        CRUD,
        &[Status],
        NONE
    ),
    res!(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        CRUD,
        &[Status],
        NONE
    ),
    res!(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        CRUD,
        &[Status, Log, Proxy],
        ALL
    ),
    res!(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        true,
        NONE,
        CRUD,
        &[],
        NONE
    ),
    res!(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "",
        "v1",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        CRUD,
        &[Status, Proxy],
        ALL
    ),
    res!(
        "",
        "v1",
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        CRUD,
        &[Status, Scale],
        ALL
    ),
    res!(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        CRUD,
        &[Status, Scale],
        ALL
    ),
    res!(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        CRUD,
        &[Status],
        NONE
    ),
    res!(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        CRUD,
        &[Status],
        ALL
    ),
    res!(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        NONE,
        CREATE_ONLY,
        &[],
        NONE
    ),
    res!(
        "monitoring.coreos.com",
        "v1",
        "prometheusrules",
        "prometheusrule",
        "PrometheusRule",
        true,
        &["promrule"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "monitoring.coreos.com",
        "v1",
        "servicemonitors",
        "servicemonitor",
        "ServiceMonitor",
        true,
        &["smon"],
        CRUD,
        &[],
        NONE
    ),
    res!(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        NONE,
        CRUD,
        &[],
        NONE
    ),
];

/// Index of a resource in [`RESOURCES`]; the store keys objects by it.
pub(crate) type ResId = usize;

pub(crate) fn def(id: ResId) -> &'static ResourceDef {
    &RESOURCES[id]
}

pub(crate) fn by_path(group: &str, version: &str, plural: &str) -> Option<ResId> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

pub(crate) fn by_kind(api_version: &str, kind: &str) -> Option<ResId> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.kind == kind)
}

pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The groups in discovery order, each with its one served version.
pub(crate) fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

pub(crate) mod ids {
    //! Fixed ids of the resources the controllers touch, checked by a unit test.
    use super::ResId;
    pub(crate) const NAMESPACES: ResId = 0;
    pub(crate) const NODES: ResId = 1;
    pub(crate) const PODS: ResId = 2;
    pub(crate) const SECRETS: ResId = 3;
    pub(crate) const SERVICES: ResId = 5;
    pub(crate) const ENDPOINTS: ResId = 6;
    pub(crate) const EVENTS: ResId = 7;
    pub(crate) const DEPLOYMENTS: ResId = 9;
    pub(crate) const REPLICASETS: ResId = 10;
    pub(crate) const HPAS: ResId = 12;
    pub(crate) const SSAR: ResId = 13;
    pub(crate) const LEASES: ResId = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ids_match_the_table() {
        assert_eq!(def(ids::NAMESPACES).plural, "namespaces");
        assert_eq!(def(ids::NODES).plural, "nodes");
        assert_eq!(def(ids::PODS).plural, "pods");
        assert_eq!(def(ids::SECRETS).plural, "secrets");
        assert_eq!(def(ids::SERVICES).plural, "services");
        assert_eq!(def(ids::ENDPOINTS).plural, "endpoints");
        assert_eq!(def(ids::EVENTS).plural, "events");
        assert_eq!(def(ids::DEPLOYMENTS).plural, "deployments");
        assert_eq!(def(ids::REPLICASETS).plural, "replicasets");
        assert_eq!(def(ids::HPAS).plural, "horizontalpodautoscalers");
        assert_eq!(def(ids::SSAR).plural, "selfsubjectaccessreviews");
        assert_eq!(def(ids::LEASES).plural, "leases");
    }

    #[test]
    fn lookups() {
        assert_eq!(by_kind("apps/v1", "Deployment"), Some(ids::DEPLOYMENTS));
        assert_eq!(by_path("", "v1", "pods"), Some(ids::PODS));
        assert_eq!(def(ids::DEPLOYMENTS).qualified(), "deployments.apps");
        assert_eq!(def(ids::PODS).qualified(), "pods");
    }
}
