//! The canary's cluster operations, each idempotent so a re-run after a kill is safe: read and
//! write the state annotations, create or scale the canary, scale the stable, remove the canary,
//! and [`abort`], which the rollback command reuses.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

use super::objects::{self, CanaryMatch};
use super::state::{self, CanaryState, Command, Phase};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::rollout::status::wait_for_rollout;

/// Field manager named on every write, as kubectl names its own.
pub const FIELD_MANAGER: &str = "kubectl-posthog";

/// The Deployments and Pods of one namespace, and the server for error messages.
#[derive(Clone)]
pub struct Apis {
    pub deployments: Api<Deployment>,
    pub pods: Api<Pod>,
    pub namespace: String,
    pub server: String,
}

/// Retries requests that failed for reasons that pass (overload, a dropped connection), three
/// times with backoff; a refusal (404, 409, 422, 403) is answered at once.
fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(3)
}

impl Apis {
    pub fn new(client: kube::Client, namespace: &str, server: &str) -> Self {
        Apis {
            deployments: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client, namespace),
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

    /// Writes the state annotation; returns the stable as the server has it, whose command
    /// annotation tells the driver about `canary promote` / `canary abort`.
    pub async fn write_state(&self, stable: &str, state: &CanaryState) -> Result<Deployment> {
        let patch = state::annotation_patch(state::STATE_ANNOTATION, Some(&state.encode()));
        self.merge(stable, patch, "record the canary state on")
            .await
    }

    pub async fn write_command(
        &self,
        stable: &str,
        command: Option<&Command>,
    ) -> Result<Deployment> {
        let encoded = command.map(Command::encode);
        let patch = state::annotation_patch(state::COMMAND_ANNOTATION, encoded.as_deref());
        self.merge(stable, patch, "record the canary command on")
            .await
    }

    pub async fn scale(&self, name: &str, replicas: u32) -> Result<Deployment> {
        self.merge(
            name,
            objects::scale_patch(replicas),
            &format!("scale to {replicas}"),
        )
        .await
    }

    /// Creates the canary, or brings an existing one of ours to these images and replicas.
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
        match self.get_opt(&name).await? {
            None => {
                let params = PostParams::default();
                let created = (|| self.deployments.create(&params, &wanted))
                    .retry(backoff())
                    .when(transient)
                    .await;
                match created {
                    Ok(d) => Ok(d),
                    // Created by an earlier attempt whose answer was lost: fall through to scaling.
                    Err(kube::Error::Api(s)) if s.code == 409 => self.scale(&name, replicas).await,
                    Err(e) => Err(crate::kube::api_error(
                        &format!("create deployment {}/{name}", self.namespace),
                        &self.server,
                        e,
                    )),
                }
            }
            Some(existing) => match objects::canary_matches(&existing, &stable_name, images) {
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
                    let patch =
                        serde_json::json!({"spec": {"replicas": replicas, "template": template}});
                    self.merge(&name, patch, "update the template of").await
                }
            },
        }
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

/// In which order an abort restores capacity and removes the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortOrder {
    /// The canary is bad: scale it to zero at once while the stable scales back up (capacity
    /// dips to the stable's ready pods until its new pods are ready).
    CanaryFirst,
    /// Nothing is known to be wrong (an operator's abort, Ctrl-C): scale the stable back up,
    /// wait until it is ready, then remove the canary, so capacity never dips.
    StableFirst,
}

pub struct AbortOptions {
    pub order: AbortOrder,
    /// How long to wait for the stable to be ready and the canary's pods to go.
    pub timeout: Duration,
    pub reason: String,
}

/// What an abort did.
#[derive(Debug, Clone, PartialEq)]
pub struct AbortSummary {
    /// False when there was no canary and no state: nothing to do.
    pub found: bool,
    pub stable_replicas: u32,
    pub stable_ready: u32,
    pub canary_removed: bool,
    /// When the canary's replicas were set to zero.
    pub canary_zeroed_at: Option<jiff::Timestamp>,
    pub state: Option<CanaryState>,
}

/// Restores the stable Deployment `name` to its full pre-canary replica count and removes its
/// canary; safe to call at any point of a canary, again after an interruption, or from another
/// machine. Refuses when the canary was already promoted (the stable runs the new template:
/// that is a rollback, not an abort).
pub async fn abort(
    apis: &Apis,
    name: &str,
    options: &AbortOptions,
    clock: &dyn Clock,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<AbortSummary> {
    let stable = apis.get(name).await?;
    let (state, _) = state::read_annotations(stable.metadata.annotations.as_ref())
        .map_err(|e| Error::Input(format!("deployment {}/{name}: {e}", apis.namespace)))?;
    let canary_name = state
        .as_ref()
        .map(|s| s.canary_name.clone())
        .unwrap_or_else(|| objects::canary_name(name));
    let canary = apis
        .get_opt(&canary_name)
        .await?
        .filter(|c| objects::canary_matches(c, name, &BTreeMap::new()) != CanaryMatch::NotOurs);
    if let Some(s) = &state
        && matches!(
            s.phase,
            Phase::Promoting | Phase::Promoted | Phase::PromotionFailed
        )
    {
        // Name what the stable runs now, not what was promoted: a rollback may have followed.
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} {} ({}; the stable now runs {}): \
             an abort cannot undo a promotion; use `kubectl posthog rollback deployment/{name}`",
            match s.phase {
                Phase::Promoting => "is being promoted",
                Phase::PromotionFailed => "was promoted and its rollout failed",
                _ => "was already promoted",
            },
            objects::images_text(&s.images),
            objects::images_text(&objects::template_images(&stable))
        )));
    }
    let active = state.as_ref().filter(|s| !s.phase.is_terminal()).cloned();
    if active.is_none() && canary.is_none() {
        return Ok(AbortSummary {
            found: false,
            stable_replicas: current_replicas(&stable),
            stable_ready: ready_replicas(&stable),
            canary_removed: false,
            canary_zeroed_at: None,
            state,
        });
    }
    // Without a state (a canary left by hand), the stable keeps its size: there is nothing
    // recorded to restore to.
    let replicas = active
        .as_ref()
        .map(|s| s.stable_replicas)
        .unwrap_or_else(|| current_replicas(&stable));
    let mut state = active;
    if let Some(s) = state.as_mut() {
        s.phase = Phase::Aborting;
        s.reason = Some(options.reason.clone());
        s.heartbeat = clock.now();
        apis.write_state(name, s).await?;
    }
    let mut zeroed_at = None;
    let canary_exists = canary.is_some();
    match options.order {
        AbortOrder::CanaryFirst => {
            let (a, b) = tokio::join!(
                async {
                    if canary_exists {
                        apis.scale(&canary_name, 0).await.map(Some)
                    } else {
                        Ok(None)
                    }
                },
                apis.scale(name, replicas)
            );
            if a?.is_some() {
                zeroed_at = Some(clock.now());
                on_event(&format!("canary {canary_name} scaled to 0"));
            }
            b?;
            on_event(&format!("stable {name} scaled to {replicas}"));
        }
        AbortOrder::StableFirst => {
            apis.scale(name, replicas).await?;
            on_event(&format!(
                "stable {name} scaled to {replicas}; waiting until it is ready"
            ));
        }
    }
    let ready = wait_for_rollout(&apis.deployments, name, options.timeout, |_, _| {}).await;
    let stable_after = match ready {
        Ok(d) => d,
        Err(e) => {
            // Capacity did not come back in time: still remove a bad canary, and say so.
            on_event(&format!("the stable is not fully ready: {e}"));
            apis.get(name).await?
        }
    };
    if canary_exists && zeroed_at.is_none() {
        apis.scale(&canary_name, 0).await?;
        zeroed_at = Some(clock.now());
        on_event(&format!("canary {canary_name} scaled to 0"));
    }
    let removed = apis.remove_canary(&canary_name, options.timeout).await?;
    if removed {
        on_event(&format!("canary {canary_name} removed"));
    }
    if let Some(s) = state.as_mut() {
        s.phase = Phase::Aborted;
        s.heartbeat = clock.now();
        apis.write_state(name, s).await?;
        apis.write_command(name, None).await?;
    }
    Ok(AbortSummary {
        found: true,
        stable_replicas: replicas,
        stable_ready: ready_replicas(&stable_after),
        canary_removed: removed,
        canary_zeroed_at: zeroed_at,
        state,
    })
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
