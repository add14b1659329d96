//! Reading a Deployment's history from the cluster and sending the undo patch, re-reading and
//! re-deciding when the Deployment changed under us (409), a bounded number of times.

use crate::kube::retry::{backoff, transient};
use backon::Retryable;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::undo::{self, UndoAction, UndoError, UndoPlan};

/// How many times a patch answered 409 is re-decided on a fresh read before giving up.
pub const MAX_CONFLICT_RETRIES: u32 = 5;

/// A failure to read or write the cluster, naming the request; or an undo kubectl would refuse.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{request}: {source}")]
    Api {
        request: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Undo(#[from] UndoError),
    #[error("deployment {name:?} is gone: {detail}")]
    Gone { name: String, detail: String },
    #[error(
        "{request} answered 409 Conflict {attempts} times: deployment {name:?} keeps changing under us (another controller or pipeline is writing it); stop it and re-run"
    )]
    KeepsConflicting {
        request: String,
        name: String,
        attempts: u32,
    },
}

impl RolloutError {
    pub fn api(request: impl Into<String>) -> impl FnOnce(kube::Error) -> RolloutError {
        let request = request.into();
        move |source| RolloutError::Api { request, source }
    }

    /// Into the crate's error (exit 3) for failures of the cluster. kubectl's refusals
    /// ([`RolloutError::Undo`]) are reported by the command as a failed verdict instead.
    pub fn into_error(self, server: &str) -> crate::error::Error {
        match self {
            RolloutError::Api { request, source } => {
                crate::kube::api_error(&request, server, source)
            }
            other => crate::error::Error::Cluster(other.to_string()),
        }
    }
}

/// The Deployment and every ReplicaSet its selector matches, as kubectl reads them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub deployment: Deployment,
    pub replica_sets: Vec<ReplicaSet>,
}

pub fn deployment_path(namespace: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
}

/// GET the Deployment, then LIST ReplicaSets by its selector (ownership is checked by the pure code).
pub async fn fetch(
    deployments: &Api<Deployment>,
    replica_sets: &Api<ReplicaSet>,
    namespace: &str,
    name: &str,
) -> Result<Fetched, RolloutError> {
    // Reads are retried on failures that pass (a 500 on the first GET is not the end).
    let deployment = (|| deployments.get(name))
        .retry(backoff())
        .when(transient)
        .await
        .map_err(RolloutError::api(format!(
            "GET {}",
            deployment_path(namespace, name)
        )))?;
    let selector = undo::selector_of(&deployment)?.to_string();
    let params = ListParams::default().labels(&selector);
    let list = (|| replica_sets.list(&params))
        .retry(backoff())
        .when(transient)
        .await
        .map_err(RolloutError::api(format!(
            "LIST /apis/apps/v1/namespaces/{namespace}/replicasets?labelSelector={selector}"
        )))?;
    Ok(Fetched {
        deployment,
        replica_sets: list.items,
    })
}

/// What [`undo`] did.
#[derive(Debug, Clone)]
pub struct UndoOutcome {
    pub plan: UndoPlan,
    /// The Deployment as the server answered the patch (absent when nothing was sent).
    pub patched: Option<Deployment>,
    /// The Deployment as last read (before the patch).
    pub before: Deployment,
    /// Patches answered 409 and re-decided.
    pub conflicts: u32,
}

/// Decides the undo on `first` (or a fresh read) and sends it; on 409 reads again and decides
/// again, at most [`MAX_CONFLICT_RETRIES`] times.
pub async fn undo(
    deployments: &Api<Deployment>,
    replica_sets: &Api<ReplicaSet>,
    namespace: &str,
    name: &str,
    to_revision: i64,
    first: Option<Fetched>,
) -> Result<UndoOutcome, RolloutError> {
    let mut first = first;
    let request = format!(
        "PATCH {} (application/json-patch+json)",
        deployment_path(namespace, name)
    );
    let mut conflicts = 0;
    loop {
        let fetched = match first.take() {
            Some(fetched) => fetched,
            None => fetch(deployments, replica_sets, namespace, name).await?,
        };
        let plan = undo::undo_patch(&fetched.deployment, &fetched.replica_sets, to_revision)?;
        let UndoAction::Patch { patch, .. } = &plan.action else {
            return Ok(UndoOutcome {
                plan,
                patched: None,
                before: fetched.deployment,
                conflicts,
            });
        };
        match deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch.clone()),
            )
            .await
        {
            Ok(patched) => {
                return Ok(UndoOutcome {
                    plan,
                    patched: Some(patched),
                    before: fetched.deployment,
                    conflicts,
                });
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                conflicts += 1;
                tracing::info!(conflicts, "deployment {name} changed under us; re-reading");
                if conflicts > MAX_CONFLICT_RETRIES {
                    return Err(RolloutError::KeepsConflicting {
                        request,
                        name: name.to_string(),
                        attempts: conflicts,
                    });
                }
            }
            Err(e) => return Err(RolloutError::api(request)(e)),
        }
    }
}
