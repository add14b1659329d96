//! One namespace's workload APIs with the one retry policy: what canary, rollout and rollback
//! read and write Deployments, ReplicaSets, Pods and Leases through.

use backon::Retryable;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::retry::{backoff, transient};
use crate::error::{Error, Result};

/// Field manager named on every write, as kubectl names its own.
pub const FIELD_MANAGER: &str = "kubectl-posthog";

/// The Deployments, ReplicaSets, Pods and Leases of one namespace, and the server for error
/// messages: the one access layer canary, rollout and rollback reach them through.
#[derive(Clone)]
pub struct Apps {
    pub deployments: Api<Deployment>,
    pub replica_sets: Api<ReplicaSet>,
    pub pods: Api<Pod>,
    /// The Leases that record canaries (`crate::canary::store`).
    pub leases: Api<Lease>,
    /// The HPAs that may own a Deployment's `spec.replicas` (read only: the canary never writes them).
    pub autoscalers: Api<HorizontalPodAutoscaler>,
    pub namespace: String,
    pub server: String,
}

impl Apps {
    pub fn new(client: kube::Client, namespace: &str, server: &str) -> Self {
        Apps {
            deployments: Api::namespaced(client.clone(), namespace),
            replica_sets: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            leases: Api::namespaced(client.clone(), namespace),
            autoscalers: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            server: server.to_string(),
        }
    }

    pub fn err(&self, request: String) -> impl FnOnce(kube::Error) -> Error + '_ {
        move |e| crate::kube::api_error(&request, &self.server, e)
    }

    pub async fn get(&self, name: &str) -> Result<Deployment> {
        (|| self.deployments.get(name))
            .retry(backoff())
            .when(transient)
            .await
            .map_err(self.err(format!("get deployment {}/{name}", self.namespace)))
    }

    pub async fn get_opt(&self, name: &str) -> Result<Option<Deployment>> {
        (|| self.deployments.get_opt(name))
            .retry(backoff())
            .when(transient)
            .await
            .map_err(self.err(format!("get deployment {}/{name}", self.namespace)))
    }

    pub async fn merge(
        &self,
        name: &str,
        patch: serde_json::Value,
        what: &str,
    ) -> Result<Deployment> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&patch);
        (|| self.deployments.patch(name, &params, &patch))
            .retry(backoff())
            .when(transient)
            .await
            .map_err(self.err(format!("{what} deployment {}/{name}", self.namespace)))
    }

    pub async fn scale(&self, name: &str, replicas: u32) -> Result<Deployment> {
        self.merge(
            name,
            serde_json::json!({ "spec": { "replicas": replicas } }),
            &format!("scale to {replicas}"),
        )
        .await
    }

    /// The namespace's autoscaling/v2 HPAs. Forbidden (no RBAC to list them) or absent (no
    /// autoscaling/v2 API) reads as none, said in the log: the canary then scales the stable
    /// as it does without one.
    pub async fn autoscalers(&self) -> Result<Vec<HorizontalPodAutoscaler>> {
        let params = ListParams::default();
        match (|| self.autoscalers.list(&params))
            .retry(backoff())
            .when(transient)
            .await
        {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
                tracing::warn!(
                    "cannot list horizontalpodautoscalers in {} ({}): an HPA on the stable would \
                     not be seen",
                    self.namespace,
                    s.message
                );
                Ok(Vec::new())
            }
            Err(e) => Err(self.err(format!(
                "list horizontalpodautoscalers in {}",
                self.namespace
            ))(e)),
        }
    }

    /// The pods a Deployment's selector (`matchLabels` and `matchExpressions`) matches.
    pub async fn pods_of(&self, deployment: &Deployment) -> Result<Vec<Pod>> {
        let selector = selector_of(deployment);
        let params = ListParams::default().labels(&selector);
        (|| self.pods.list(&params))
            .retry(backoff())
            .when(transient)
            .await
            .map(|list| list.items)
            .map_err(self.err(format!("list pods {selector} in {}", self.namespace)))
    }
}

/// A Deployment's selector as a `labelSelector` query, by the one selector builder.
pub fn selector_of(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .map(|s| super::selector_string(&s.selector))
        .unwrap_or_default()
}

/// `spec.replicas` (1 when unset, as the API server defaults it).
pub fn current_replicas(deployment: &Deployment) -> u32 {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(1)
}

pub fn ready_replicas(deployment: &Deployment) -> u32 {
    deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0)
}
