//! The canary's cluster operations, each idempotent so a re-run after a kill is safe: create or
//! scale the canary, scale the stable, remove the canary. The canary's record (state, commands)
//! is the Lease of [`super::store`]; the abort that uses both is [`super::abort`].

use std::collections::BTreeMap;
use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

use super::objects::{self, CanaryMatch};
use super::state;
use crate::error::{Error, Result};

/// Field manager named on every write, as kubectl names its own.
pub const FIELD_MANAGER: &str = "kubectl-posthog";

/// The Deployments and Pods of one namespace, and the server for error messages.
#[derive(Clone)]
pub struct Apis {
    pub deployments: Api<Deployment>,
    pub pods: Api<Pod>,
    /// The Leases that record canaries ([`super::store`]).
    pub leases: Api<Lease>,
    pub namespace: String,
    pub server: String,
}

pub(super) use crate::kube::retry::{backoff, transient};

impl Apis {
    pub fn new(client: kube::Client, namespace: &str, server: &str) -> Self {
        Apis {
            deployments: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            leases: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            server: server.to_string(),
        }
    }

    fn err(&self, request: String) -> impl FnOnce(kube::Error) -> Error + '_ {
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

    async fn merge(&self, name: &str, patch: serde_json::Value, what: &str) -> Result<Deployment> {
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
            objects::scale_patch(replicas),
            &format!("scale to {replicas}"),
        )
        .await
    }

    /// Creates the canary, or brings an existing one of ours to these images and replicas. A
    /// canary Deployment found (a create answered 409 included) is adopted only after checking
    /// what it is: one of another stable is refused; one running other images (left by an
    /// earlier canary; only the Lease's holder gets here) is brought to these images.
    pub async fn ensure_canary(
        &self,
        stable: &Deployment,
        images: &BTreeMap<String, String>,
        track_label: &str,
        replicas: u32,
    ) -> Result<Deployment> {
        let stable_name = stable.metadata.name.clone().unwrap_or_default();
        let wanted = objects::canary_deployment(stable, images, track_label, replicas)
            .map_err(Error::Input)?;
        let name = objects::canary_name(&stable_name);
        for _ in 0..3 {
            let Some(existing) = self.get_opt(&name).await? else {
                let params = PostParams::default();
                let created = (|| self.deployments.create(&params, &wanted))
                    .retry(backoff())
                    .when(transient)
                    .await;
                match created {
                    Ok(d) => return Ok(d),
                    // Created meanwhile (by an earlier attempt whose answer was lost, or
                    // anyone): read it and check what it is before using it.
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => {
                        return Err(crate::kube::api_error(
                            &format!("create deployment {}/{name}", self.namespace),
                            &self.server,
                            e,
                        ));
                    }
                }
            };
            return match objects::canary_matches(&existing, &stable_name, images) {
                CanaryMatch::NotOurs => Err(Error::Input(format!(
                    "deployment {}/{name} exists and is not a canary of {stable_name} \
                     (no {} annotation): rename or delete it first",
                    self.namespace,
                    state::CANARY_OF_ANNOTATION
                ))),
                CanaryMatch::Same => {
                    let current = existing.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    if current == i32::try_from(replicas).unwrap_or(i32::MAX) {
                        Ok(existing)
                    } else {
                        self.scale(&name, replicas).await
                    }
                }
                CanaryMatch::DifferentImages => {
                    let template = wanted.spec.as_ref().map(|s| s.template.clone());
                    let patch = serde_json::json!({
                        "metadata": {"resourceVersion": existing.metadata.resource_version},
                        "spec": {"replicas": replicas, "template": template}
                    });
                    self.merge(&name, patch, "update the template of").await
                }
            };
        }
        Err(Error::Cluster(format!(
            "deployment {}/{name} kept appearing and disappearing while the canary was created: \
             check `kubectl get deployment {name}`",
            self.namespace
        )))
    }

    /// The pods a Deployment's selector matches.
    pub async fn pods_of(&self, deployment: &Deployment) -> Result<Vec<Pod>> {
        let selector = match_labels_selector(deployment);
        let params = ListParams::default().labels(&selector);
        (|| self.pods.list(&params))
            .retry(backoff())
            .when(transient)
            .await
            .map(|list| list.items)
            .map_err(self.err(format!("list pods {selector} in {}", self.namespace)))
    }

    /// Scales the canary to zero, waits for its pods to go, and deletes it. Idempotent.
    pub async fn remove_canary(&self, name: &str, timeout: Duration) -> Result<bool> {
        let Some(canary) = self.get_opt(name).await? else {
            return Ok(false);
        };
        if canary.spec.as_ref().and_then(|s| s.replicas) != Some(0) {
            self.scale(name, 0).await?;
        }
        self.wait_pods_gone(&canary, timeout).await?;
        let params = DeleteParams::background();
        let deleted = (|| self.deployments.delete(name, &params))
            .retry(backoff())
            .when(transient)
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
            Err(e) => Err(crate::kube::api_error(
                &format!("delete deployment {}/{name}", self.namespace),
                &self.server,
                e,
            )),
        }
    }

    pub async fn wait_pods_gone(&self, deployment: &Deployment, timeout: Duration) -> Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            let pods = self.pods_of(deployment).await?;
            if pods.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(Error::Cluster(format!(
                    "{} pod(s) of deployment {}/{} still exist after {}: check `kubectl get pods -l {}`",
                    pods.len(),
                    self.namespace,
                    deployment.metadata.name.as_deref().unwrap_or_default(),
                    humantime::format_duration(timeout),
                    match_labels_selector(deployment)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `k=v,k2=v2` from a Deployment's `spec.selector.matchLabels`.
pub fn match_labels_selector(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

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
