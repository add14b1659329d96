//! The canary's cluster operations, each idempotent so a re-run after a kill is safe: create or
//! scale the canary, scale the stable, remove the canary. The canary's record (state, commands)
//! is the Lease of [`super::store`]; the abort that uses both is [`super::abort`].

use std::collections::BTreeMap;
use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, PostParams};

use super::objects::{self, CanaryMatch};
use super::state;
use crate::error::{Error, Result};

pub(super) use crate::kube::retry::{backoff, transient};
pub use crate::kube::{Apps as Apis, FIELD_MANAGER};

impl Apis {
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

pub use crate::kube::apps::{
    current_replicas, ready_replicas, selector_of as match_labels_selector,
};
