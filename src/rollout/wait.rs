//! Waiting for a rollback to finish: kubectl's completion rule over one watch of the Deployment
//! ([`super::status::wait_for_rollout`]), and beside it one watch of the rollback target's pods
//! that ends the wait early when they crash-loop or cannot start, naming them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, WatchEvent, WatchParams};

use super::apply::RolloutError;
use super::pods::{PodProblem, failing_containers};
use super::status::{RolloutStatus, WaitError, wait_for_rollout, wait_for_rollout_from};

/// How a wait ended, when the cluster answered.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    Complete(Box<Deployment>),
    /// The Deployment's Progressing condition says `ProgressDeadlineExceeded`.
    DeadlineExceeded {
        message: String,
    },
    /// The target's pods fail in a way waiting will not fix.
    PodsFailing {
        problems: Vec<PodProblem>,
    },
    /// `--timeout` passed first; `last` is the last status kubectl would have printed.
    TimedOut {
        timeout: Duration,
        last: String,
    },
}

/// Waits for the Deployment `name` to complete, starting from `start` (the answer to the undo
/// patch) when there is one, else from a LIST. `target_pods` is the label selector of the
/// rollback target's pods (the Deployment's selector plus the target's `pod-template-hash`);
/// when watching them is refused, the wait goes on without that early failure.
pub async fn wait(
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
    name: &str,
    start: Option<&Deployment>,
    target_pods: Option<&str>,
    timeout: Duration,
    on_change: impl FnMut(&Deployment, &RolloutStatus) + Send,
) -> Result<WaitOutcome, RolloutError> {
    let rollout = async {
        match start {
            Some(deployment) => {
                wait_for_rollout_from(deployments, deployment, timeout, on_change).await
            }
            None => wait_for_rollout(deployments, name, timeout, on_change).await,
        }
    };
    tokio::pin!(rollout);
    let failing = async {
        match target_pods {
            Some(selector) => watch_for_failing_pods(pods, selector).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(failing);
    let mut watching_pods = true;
    loop {
        tokio::select! {
            result = &mut rollout => return outcome(name, result),
            problems = &mut failing, if watching_pods => match problems {
                Ok(problems) => return Ok(WaitOutcome::PodsFailing { problems }),
                Err(e) => {
                    tracing::warn!("not watching the rollback target's pods: {e}");
                    watching_pods = false;
                }
            },
        }
    }
}

fn outcome(name: &str, result: Result<Deployment, WaitError>) -> Result<WaitOutcome, RolloutError> {
    match result {
        Ok(deployment) => Ok(WaitOutcome::Complete(Box::new(deployment))),
        Err(WaitError::Failed(message)) => Ok(WaitOutcome::DeadlineExceeded { message }),
        Err(WaitError::Timeout { timeout, last, .. }) => {
            Ok(WaitOutcome::TimedOut { timeout, last })
        }
        Err(WaitError::Api { context, source }) => Err(RolloutError::Api {
            request: context,
            source,
        }),
        Err(e @ (WaitError::Deleted(_) | WaitError::NotFound(_))) => Err(RolloutError::Gone {
            name: name.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// One watch of the pods matching `selector` (starting with the current ones, as a watch from
/// resourceVersion 0 does), re-opened where it ended; returns as soon as a container fails.
async fn watch_for_failing_pods(
    pods: &Api<Pod>,
    selector: &str,
) -> Result<Vec<PodProblem>, RolloutError> {
    let mut known: BTreeMap<String, Pod> = BTreeMap::new();
    let mut version = "0".to_string();
    let request = format!("WATCH pods?labelSelector={selector}");
    loop {
        let params = WatchParams::default().labels(selector).timeout(290);
        let stream = match pods.watch(&params, &version).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == 410 => {
                version = "0".to_string();
                known.clear();
                continue;
            }
            Err(e) => return Err(RolloutError::api(request)(e)),
        };
        let mut stream = stream.boxed();
        loop {
            match stream.try_next().await {
                Ok(Some(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    if let Some(v) = pod.metadata.resource_version.clone() {
                        version = v;
                    }
                    known.insert(pod.metadata.name.clone().unwrap_or_default(), pod);
                    let problems = failing_containers(&known.values().cloned().collect::<Vec<_>>());
                    if !problems.is_empty() {
                        return Ok(problems);
                    }
                }
                Ok(Some(WatchEvent::Deleted(pod))) => {
                    known.remove(pod.metadata.name.as_deref().unwrap_or_default());
                }
                Ok(Some(WatchEvent::Bookmark(b))) => version = b.metadata.resource_version,
                Ok(Some(WatchEvent::Error(status))) if status.code == 410 => {
                    version = "0".to_string();
                    known.clear();
                    break;
                }
                Ok(Some(WatchEvent::Error(status))) => {
                    return Err(RolloutError::api(request)(kube::Error::Api(status)));
                }
                // The server ended the watch (its timeout, a restart): re-open it.
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// GETs the health endpoint once the rollout completed: its status and, when it parses, the
/// checklist's shape (`findings::health_finding` judges it).
pub async fn probe_health(
    url: &url::Url,
) -> Result<(u16, Option<crate::posthog::HealthReport>), String> {
    match crate::posthog::PostHogClient::new(Duration::from_secs(10)) {
        Ok(client) => client
            .probe(url)
            .await
            .map(|probe| (probe.status, crate::posthog::parse_health(&probe.body).ok()))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
