//! The objects an incident is about: the Deployment, its canary (`NAME-canary`, as `canary`
//! creates it), their ReplicaSets and pods. Fetching is here; reading them (pod health, the env
//! the runbook's actions touch, the label selector) is pure and tested on objects built in tests.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::api::{Api, ListParams};

pub use crate::kube::selector_string;

use super::facts::{ContainerEnv, PodHealth};
use crate::error::{Error, Result};
use crate::kube::{Cluster, api_error, is_not_found};

/// The canary Deployment's name for a Deployment (the convention `canary` follows).
pub fn canary_name(deployment: &str) -> String {
    format!("{deployment}-canary")
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub namespace: String,
    pub deployment: Deployment,
    pub canary: Option<Deployment>,
    /// The canary state this tool recorded in the Deployment's Lease, if any (unreadable: none).
    pub canary_state: Option<crate::canary::state::CanaryState>,
    /// ReplicaSets owned by the Deployment or its canary, oldest revision first.
    pub replica_sets: Vec<ReplicaSet>,
    /// Pods of the Deployment and the canary, with their track.
    pub pods: Vec<(Pod, Track)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    Stable,
    Canary,
}

impl Track {
    pub fn label(self) -> &'static str {
        match self {
            Track::Stable => "stable",
            Track::Canary => "canary",
        }
    }
}

impl Workload {
    pub fn name(&self) -> &str {
        self.deployment.metadata.name.as_deref().unwrap_or_default()
    }

    /// The Deployment's selector as kubectl's `-l` takes it.
    pub fn selector(&self) -> String {
        self.deployment
            .spec
            .as_ref()
            .map(|s| selector_string(&s.selector))
            .unwrap_or_default()
    }

    /// Desired replicas of the Deployment and its canary together.
    pub fn desired(&self) -> u32 {
        [Some(&self.deployment), self.canary.as_ref()]
            .into_iter()
            .flatten()
            .map(|d| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32)
            .sum()
    }

    pub fn pod_spec(&self) -> Option<&PodSpec> {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
    }
}

/// Reads the Deployment (an error if it does not exist), the canary if any, their ReplicaSets
/// and their pods: five requests, the two lists by label selector.
pub async fn fetch_workload(cluster: &Cluster, name: &str) -> Result<Workload> {
    let ns = &cluster.namespace;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let canary_name = canary_name(name);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client.clone(), ns);
    let lease_name = crate::canary::store::lease_name(name);
    let (deployment, canary, lease) = tokio::join!(
        deployments.get(name),
        deployments.get_opt(&canary_name),
        leases.get_opt(&lease_name)
    );
    // Evidence is best effort about the canary's record: without it the timeline has less.
    let canary_state = lease
        .ok()
        .and_then(|lease| crate::canary::store::Stored::from_lease(lease).ok())
        .and_then(|stored| stored.state);
    let deployment = deployment.map_err(|e| {
        if is_not_found(&e) {
            Error::Cluster(format!(
                "deployment {name} not found in namespace {ns}: check the name and -n/--namespace"
            ))
        } else {
            api_error(&format!("get deployment {ns}/{name}"), &cluster.server, e)
        }
    })?;
    let canary = canary.map_err(|e| {
        api_error(
            &format!("get deployment {ns}/{canary_name}"),
            &cluster.server,
            e,
        )
    })?;

    let mut replica_sets = Vec::new();
    let mut pods = Vec::new();
    for (owner, track) in [
        (Some(&deployment), Track::Stable),
        (canary.as_ref(), Track::Canary),
    ] {
        let Some(owner) = owner else { continue };
        let selector = owner
            .spec
            .as_ref()
            .map(|s| selector_string(&s.selector))
            .unwrap_or_default();
        let params = ListParams::default().labels(&selector);
        let rs_api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
        let pod_api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
        let (rs_list, pod_list) = tokio::join!(rs_api.list(&params), pod_api.list(&params));
        let owner_name = owner.metadata.name.clone().unwrap_or_default();
        let rs_list = rs_list.map_err(|e| {
            api_error(
                &format!("list replicasets of {ns}/{owner_name}"),
                &cluster.server,
                e,
            )
        })?;
        let pod_list = pod_list.map_err(|e| {
            api_error(
                &format!("list pods of {ns}/{owner_name}"),
                &cluster.server,
                e,
            )
        })?;
        let owned: Vec<ReplicaSet> = rs_list
            .items
            .into_iter()
            .filter(|rs| is_owned_by(&rs.metadata.owner_references, owner))
            .collect();
        let owned_names: Vec<&str> = owned
            .iter()
            .filter_map(|rs| rs.metadata.name.as_deref())
            .collect();
        // A pod of the stable Deployment can match the canary's selector too; ownership decides.
        pods.extend(
            pod_list
                .items
                .into_iter()
                .filter(|pod| {
                    pod.metadata.owner_references.as_ref().is_none_or(|refs| {
                        refs.iter().any(|r| owned_names.contains(&r.name.as_str()))
                    })
                })
                .map(|pod| (pod, track)),
        );
        replica_sets.extend(owned);
    }
    replica_sets.sort_by_key(revision);
    pods.sort_by(|a, b| a.0.metadata.name.cmp(&b.0.metadata.name));
    Ok(Workload {
        namespace: ns.clone(),
        deployment,
        canary,
        canary_state,
        replica_sets,
        pods,
    })
}

fn is_owned_by(
    refs: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    owner: &Deployment,
) -> bool {
    let uid = owner.metadata.uid.as_deref();
    refs.as_ref().is_some_and(|refs| {
        refs.iter()
            .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid)
    })
}

/// `deployment.kubernetes.io/revision` of a ReplicaSet, 0 when absent.
pub fn revision(rs: &ReplicaSet) -> u64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A pod's health as the triage reads it: ready, restarts, waiting reason, last termination.
pub fn pod_health(pod: &Pod, track: Track) -> PodHealth {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let statuses = status
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    // The container that restarted most is the one to look at.
    let worst = statuses.iter().max_by_key(|c| c.restart_count);
    let waiting_reason = statuses
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let terminated = worst.and_then(|c| c.last_state.as_ref()?.terminated.as_ref());
    let container = worst.map(|c| c.name.clone()).or_else(|| {
        pod.spec
            .as_ref()?
            .containers
            .first()
            .map(|c| c.name.clone())
    });
    let memory_limit = pod.spec.as_ref().and_then(|spec| {
        spec.containers
            .iter()
            .find(|c| Some(&c.name) == container.as_ref())?
            .resources
            .as_ref()?
            .limits
            .as_ref()?
            .get("memory")
            .map(|q| q.0.clone())
    });
    PodHealth {
        name: pod.metadata.name.clone().unwrap_or_default(),
        track: track.label().to_string(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        ready,
        terminating: pod.metadata.deletion_timestamp.is_some(),
        restarts: statuses.iter().map(|c| c.restart_count.max(0) as u32).sum(),
        waiting_reason,
        last_termination: terminated.and_then(|t| t.reason.clone()),
        last_termination_at: terminated.and_then(|t| t.finished_at.as_ref()).map(|t| t.0),
        container,
        memory_limit,
    }
}

/// The current values of the env vars the runbook's actions set, per container.
pub fn container_env(spec: Option<&PodSpec>) -> Vec<ContainerEnv> {
    let Some(spec) = spec else { return Vec::new() };
    spec.containers
        .iter()
        .map(|c| {
            let env: BTreeMap<&str, Option<&str>> = c
                .env
                .iter()
                .flatten()
                .map(|e| (e.name.as_str(), e.value.as_deref()))
                .collect();
            let value = |name: &str| env.get(name).copied().flatten().map(str::to_string);
            ContainerEnv {
                name: c.name.clone(),
                rate_limit_mode: value("RATE_LIMIT_MODE"),
                posthog_fallback: value("POSTHOG_FALLBACK"),
            }
        })
        .collect()
}

/// Names of containers of a pod (for logs: every container, not only the first).
pub fn container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// Restart count per container (a previous log exists only after a restart).
pub fn restarts_by_container(pod: &Pod) -> BTreeMap<String, u32> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (c.name.clone(), c.restart_count.max(0) as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_oom_killed_crash_looping_pod() {
        let p = pod(json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": [
                {"name": "sidecar", "image": "s"},
                {"name": "app", "image": "a", "resources": {"limits": {"memory": "256Mi"}}}
            ]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "sidecar", "ready": true, "restartCount": 0, "image": "s", "imageID": "", "state": {"running": {}}},
                    {"name": "app", "ready": false, "restartCount": 3, "image": "a", "imageID": "",
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-22T09:58:00Z"}}}
                ]
            }
        }));
        let health = pod_health(&p, Track::Canary);
        assert_eq!(health.track, "canary");
        assert!(!health.ready);
        assert_eq!(health.restarts, 3);
        assert_eq!(health.waiting_reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(health.last_termination.as_deref(), Some("OOMKilled"));
        assert_eq!(health.container.as_deref(), Some("app"));
        assert_eq!(health.memory_limit.as_deref(), Some("256Mi"));
        assert_eq!(
            health.last_termination_at,
            Some("2026-11-22T09:58:00Z".parse().unwrap())
        );
        assert_eq!(restarts_by_container(&p)["app"], 3);
        assert_eq!(container_names(&p), ["sidecar", "app"]);
    }

    #[test]
    fn a_ready_pod() {
        let p = pod(json!({
            "metadata": {"name": "web-2"},
            "spec": {"containers": [{"name": "app", "image": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "a", "imageID": "", "state": {"running": {}}}]}
        }));
        let health = pod_health(&p, Track::Stable);
        assert!(health.ready);
        assert_eq!((health.restarts, health.last_termination), (0, None));
    }

    #[test]
    fn env_values_the_actions_touch() {
        let spec: PodSpec = serde_json::from_value(json!({"containers": [
            {"name": "app", "env": [{"name": "RATE_LIMIT_MODE", "value": "queue"}, {"name": "X", "value": "1"}]},
            {"name": "side", "env": [{"name": "POSTHOG_FALLBACK", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}
        ]}))
        .unwrap();
        let env = container_env(Some(&spec));
        assert_eq!(env[0].rate_limit_mode.as_deref(), Some("queue"));
        assert_eq!(env[0].posthog_fallback, None);
        assert_eq!(env[1].posthog_fallback, None, "a reference is not a value");
    }
}
