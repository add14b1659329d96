//! Restarting every reader of the key like `kubectl rollout restart` and waiting like
//! `kubectl rollout status`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::plan::restart_patch;
use super::rotation::{Inputs, Rotation};
use super::verify::{check_auth, check_health, describe};
use crate::kube::{Cluster, api_error};
use crate::rollout::wait::{WaitOutcome, wait};

/// Restarts every reader and waits for each; then checks the health endpoint. `true` when all
/// completed and the endpoint (if any) reports PostHog connected.
pub(super) async fn restart_all(
    cluster: &Cluster,
    readers: &[String],
    inputs: &Inputs,
    rotation: &mut Rotation,
    id: &str,
    now: jiff::Timestamp,
) -> bool {
    let require_health = id == "rotate.restart";
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut all_ok = true;
    for name in readers {
        let patched = deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Strategic(restart_patch(now)),
            )
            .await;
        let deployment = match patched {
            Ok(d) => d,
            Err(e) => {
                rotation.step(
                    id,
                    false,
                    &format!("deployment/{name} could not be restarted"),
                    api_error(&format!("patch deployment {name}"), &cluster.server, e).to_string(),
                );
                all_ok = false;
                continue;
            }
        };
        let outcome = wait(
            &deployments,
            &pods,
            name,
            Some(&deployment),
            None,
            inputs.rollout_timeout,
            |_, _| {},
        )
        .await;
        match outcome {
            Ok(WaitOutcome::Complete(_)) => rotation.step(
                id,
                true,
                &format!("deployment/{name} restarted"),
                "successfully rolled out (like `kubectl rollout status`)",
            ),
            Ok(other) => {
                all_ok = false;
                rotation.step(
                    id,
                    false,
                    &format!("deployment/{name} did not roll out"),
                    describe(&other),
                );
            }
            Err(e) => {
                all_ok = false;
                rotation.step(
                    id,
                    false,
                    &format!("deployment/{name} could not be watched"),
                    e.to_string(),
                );
            }
        }
    }
    if !all_ok {
        return false;
    }
    let healthy = check_health(inputs, rotation, require_health).await;
    if !(healthy && require_health) {
        return healthy;
    }
    match &inputs.auth_check {
        Some(check) => check_auth(cluster, readers, check, rotation).await,
        None => true,
    }
}
