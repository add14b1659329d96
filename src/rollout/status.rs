//! Waiting for a Deployment the way `kubectl rollout status` does.
//!
//! [`rollout_status`] is kubectl's completion rule as a pure function over the Deployment:
//! done when the spec generation was observed, every replica is updated, no old replica is left
//! and every updated replica is available; failed when the Progressing condition says
//! `ProgressDeadlineExceeded`. [`wait_for_rollout`] applies it to one LIST (for the current
//! object and its resourceVersion) and then one WATCH, re-opened from the last resourceVersion
//! only when the server ends it, all under one deadline, calling back on every change.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

/// Where a Deployment's rollout stands, with the numbers kubectl prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Every replica runs the current template and is available.
    Complete { replicas: i32 },
    /// Still rolling; `message` is kubectl's wording.
    Progressing {
        message: String,
        desired: i32,
        updated: i32,
        available: i32,
    },
    /// The controller gave up: the progress deadline passed.
    Failed { message: String },
}

impl RolloutStatus {
    pub fn is_complete(&self) -> bool {
        matches!(self, RolloutStatus::Complete { .. })
    }

    pub fn message(&self, name: &str) -> String {
        match self {
            RolloutStatus::Complete { .. } => {
                format!("deployment {name:?} successfully rolled out")
            }
            RolloutStatus::Progressing { message, .. } | RolloutStatus::Failed { message } => {
                message.clone()
            }
        }
    }
}

/// kubectl's `rollout status` rule (`DeploymentStatusViewer`), over the object alone.
pub fn rollout_status(deployment: &Deployment) -> RolloutStatus {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let generation = deployment.metadata.generation.unwrap_or(0);
    let status = deployment.status.clone().unwrap_or_default();
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let current = status.replicas.unwrap_or(0);
    let progressing = |message: String| RolloutStatus::Progressing {
        message,
        desired,
        updated,
        available,
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return progressing("Waiting for deployment spec update to be observed...".to_string());
    }
    let timed_out = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return RolloutStatus::Failed {
            message: format!("deployment {name:?} exceeded its progress deadline"),
        };
    }
    if updated < desired {
        return progressing(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if current > updated {
        return progressing(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            current - updated
        ));
    }
    if available < updated {
        return progressing(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    RolloutStatus::Complete { replicas: desired }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("deployment {name:?} did not finish rolling out within {}: {last}", humantime::format_duration(*.timeout))]
    Timeout {
        name: String,
        timeout: Duration,
        last: String,
    },
    #[error("{0}")]
    Failed(String),
    #[error("deployment {0:?} was deleted while waiting for its rollout")]
    Deleted(String),
    #[error("deployment {0:?} not found")]
    NotFound(String),
    #[error("{context}: {source}")]
    Api {
        context: String,
        #[source]
        source: kube::Error,
    },
}

impl WaitError {
    /// Into the crate's error with its exit code: a failed or timed-out rollout is the cluster's
    /// answer (3 unless the caller reports it as a verdict).
    pub fn into_error(self, server: &str) -> crate::error::Error {
        match self {
            WaitError::Api { context, source } => crate::kube::api_error(&context, server, source),
            // The command words it with the namespace and context (lib::run).
            WaitError::NotFound(name) => crate::error::Error::DeploymentNotFound {
                message: format!("deployment {name:?} not found"),
                name,
            },
            other => crate::error::Error::Cluster(other.to_string()),
        }
    }
}

/// Waits until [`rollout_status`] says complete (returns the Deployment) or failed, or the
/// deadline passes. `on_change` sees every status the watch delivers (for progress bars).
pub async fn wait_for_rollout(
    api: &Api<Deployment>,
    name: &str,
    timeout: Duration,
    on_change: impl FnMut(&Deployment, &RolloutStatus) + Send,
) -> Result<Deployment, WaitError> {
    wait_inner(api, name, None, timeout, on_change).await
}

/// [`wait_for_rollout`] starting from a Deployment already in hand (the answer to a PATCH):
/// it is judged first and the watch starts at its resourceVersion, so no LIST is needed.
pub async fn wait_for_rollout_from(
    api: &Api<Deployment>,
    deployment: &Deployment,
    timeout: Duration,
    on_change: impl FnMut(&Deployment, &RolloutStatus) + Send,
) -> Result<Deployment, WaitError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    wait_inner(api, &name, Some(deployment), timeout, on_change).await
}

/// The wait itself: from a Deployment in hand, one watch from its resourceVersion
/// ([`follow_from`]); then (or without one) kube-runtime's watcher lists the one Deployment and
/// watches it, re-listing on a 410 Gone or a cut watch; every object delivered is judged. A client error (4xx other
/// than 429) ends the wait; a transient one is retried with the watcher's backoff until the
/// deadline.
async fn wait_inner(
    api: &Api<Deployment>,
    name: &str,
    start: Option<&Deployment>,
    timeout: Duration,
    mut on_change: impl FnMut(&Deployment, &RolloutStatus) + Send,
) -> Result<Deployment, WaitError> {
    let mut last = String::from("no status observed yet");
    let wait = async {
        if let Some(start) = start
            && let Some(result) = follow_from(api, start, &mut last, &mut on_change).await
        {
            return result;
        }
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = watcher::watcher(api.clone(), config)
            .default_backoff()
            .boxed();
        // Whether the Deployment was seen (or handed in): a (re-)list without it means deleted.
        let mut seen = start.is_some();
        let mut listed = false;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Apply(d) | Event::InitApply(d)) => {
                    listed |= matches!(d.metadata.name.as_deref(), Some(n) if n == name);
                    seen = true;
                    if let Some(result) = judge(&d, &mut last, &mut on_change) {
                        return result;
                    }
                }
                Ok(Event::Delete(_)) => return Err(WaitError::Deleted(name.to_string())),
                Ok(Event::Init) => listed = false,
                Ok(Event::InitDone) if !listed && seen => {
                    return Err(WaitError::Deleted(name.to_string()));
                }
                Ok(Event::InitDone) if !listed => {
                    return Err(WaitError::NotFound(name.to_string()));
                }
                Ok(Event::InitDone) => {}
                Err(e) => {
                    if let Some(error) = lasting(e, name) {
                        return Err(error);
                    }
                }
            }
        }
        Err(WaitError::Failed(format!(
            "the watch of deployment {name} ended"
        )))
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Err(WaitError::Timeout {
            name: name.to_string(),
            timeout,
            last,
        }),
    }
}

/// From a Deployment in hand (the answer to a PATCH): judge it, then watch from its
/// resourceVersion, so no LIST is needed while that one watch lasts. `None` when the watch ends
/// undecided (closed, cut, 410 Gone): the watcher takes over from a fresh list.
async fn follow_from(
    api: &Api<Deployment>,
    start: &Deployment,
    last: &mut String,
    on_change: &mut (impl FnMut(&Deployment, &RolloutStatus) + Send),
) -> Option<Result<Deployment, WaitError>> {
    if let Some(result) = judge(start, last, on_change) {
        return Some(result);
    }
    let name = start.metadata.name.as_deref().unwrap_or_default();
    let version = start.metadata.resource_version.as_deref()?;
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(290);
    let mut stream = api.watch(&params, version).await.ok()?.boxed();
    while let Ok(Some(event)) = stream.try_next().await {
        match event {
            WatchEvent::Added(d) | WatchEvent::Modified(d) => {
                if let Some(result) = judge(&d, last, on_change) {
                    return Some(result);
                }
            }
            WatchEvent::Deleted(_) => return Some(Err(WaitError::Deleted(name.to_string()))),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(_) => return None,
        }
    }
    None
}

/// A watcher error that retrying will not cure (the API's refusal: 401, 403, 404, 422 …), as
/// the wait's error; `None` for one the watcher retries (a 410 Gone re-lists; a 5xx, a 429 or a
/// cut stream is retried with backoff).
fn lasting(error: watcher::Error, name: &str) -> Option<WaitError> {
    let (verb, source) = match error {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        watcher::Error::WatchError(status) => ("watch", kube::Error::Api(status)),
        watcher::Error::NoResourceVersion => {
            tracing::debug!("watch deployment {name}: no resourceVersion in the answer");
            return None;
        }
    };
    tracing::debug!("{verb} deployment {name}: {source}");
    match &source {
        kube::Error::Api(status)
            if (400..500).contains(&status.code) && ![410, 429].contains(&status.code) =>
        {
            Some(WaitError::Api {
                context: format!("{verb} deployment {name}"),
                source,
            })
        }
        _ => None,
    }
}

fn judge(
    deployment: &Deployment,
    last: &mut String,
    on_change: &mut (impl FnMut(&Deployment, &RolloutStatus) + Send),
) -> Option<Result<Deployment, WaitError>> {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let status = rollout_status(deployment);
    *last = status.message(name);
    on_change(deployment, &status);
    match status {
        RolloutStatus::Complete { .. } => Some(Ok(deployment.clone())),
        RolloutStatus::Failed { message } => Some(Err(WaitError::Failed(message))),
        RolloutStatus::Progressing { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(value: serde_json::Value) -> Deployment {
        serde_json::from_value(value).unwrap()
    }

    fn with(generation: i64, observed: i64, spec: i32, status: serde_json::Value) -> Deployment {
        let mut status = status;
        status["observedGeneration"] = observed.into();
        deployment(serde_json::json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": spec, "selector": {}, "template": {}},
            "status": status,
        }))
    }

    #[test]
    fn complete_only_when_every_kubectl_condition_holds() {
        let done = with(
            2,
            2,
            3,
            serde_json::json!({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(
            rollout_status(&done),
            RolloutStatus::Complete { replicas: 3 }
        );
        assert_eq!(
            rollout_status(&done).message("web"),
            "deployment \"web\" successfully rolled out"
        );
    }

    #[test]
    fn unobserved_generation_waits() {
        let d = with(
            3,
            2,
            3,
            serde_json::json!({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert!(
            matches!(rollout_status(&d), RolloutStatus::Progressing { message, .. } if message.contains("spec update to be observed"))
        );
    }

    #[test]
    fn waiting_messages_match_kubectl() {
        let d = with(
            2,
            2,
            3,
            serde_json::json!({"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
        );
        assert_eq!(
            rollout_status(&d).message("web"),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        let d = with(
            2,
            2,
            3,
            serde_json::json!({"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(
            rollout_status(&d).message("web"),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination..."
        );
        let d = with(
            2,
            2,
            3,
            serde_json::json!({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
        );
        assert_eq!(
            rollout_status(&d).message("web"),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available..."
        );
    }

    #[test]
    fn progress_deadline_exceeded_fails() {
        let d = with(
            2,
            2,
            3,
            serde_json::json!({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(
            rollout_status(&d),
            RolloutStatus::Failed {
                message: "deployment \"web\" exceeded its progress deadline".into()
            }
        );
    }

    #[test]
    fn scaled_to_zero_is_complete() {
        let d = with(2, 2, 0, serde_json::json!({}));
        assert!(rollout_status(&d).is_complete());
    }
}
