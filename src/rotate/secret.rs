//! The Secret side of a rotation: read it, keep the old value in `NAME-previous`, and patch
//! the one key under the Secret's resourceVersion (a 409 is re-read and re-decided).

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::plan::{KeyRef, previous_name, previous_secret, secret_patch, secret_value};
use crate::error::{Error, Result};
use crate::kube::{Cluster, api_error};
use crate::posthog::mask;

pub(super) async fn get_secret(
    cluster: &Cluster,
    secrets: &Api<Secret>,
    name: &str,
) -> Result<Secret> {
    secrets.get(name).await.map_err(|e| {
        api_error(
            &format!("get secret {}/{name}", cluster.namespace),
            &cluster.server,
            e,
        )
    })
}

pub(super) async fn previous_value(secrets: &Api<Secret>, key: &KeyRef) -> Option<String> {
    let previous = secrets.get_opt(&previous_name(&key.secret)).await.ok()??;
    secret_value(&previous, &key.key)
}

/// Writes `NAME-previous` with the old value (server-side apply: created, or replaced).
pub(super) async fn keep_previous(
    cluster: &Cluster,
    secrets: &Api<Secret>,
    secret: &Secret,
    key: &KeyRef,
    old: &str,
) -> Result<()> {
    let previous = previous_secret(secret, &key.key, old);
    let mut body = serde_json::to_value(&previous).map_err(|e| Error::Input(e.to_string()))?;
    body["apiVersion"] = serde_json::json!("v1");
    body["kind"] = serde_json::json!("Secret");
    secrets
        .patch(
            &previous_name(&key.secret),
            &PatchParams::apply("kubectl-posthog").force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| {
            api_error(
                &format!(
                    "apply secret {}/{}",
                    cluster.namespace,
                    previous_name(&key.secret)
                ),
                &cluster.server,
                e,
            )
        })?;
    Ok(())
}

/// Sets the key from `from` to `to` under the Secret's resourceVersion. A 409 is re-read: the
/// key still `from` → patched again; already `to` → done; anything else → someone else is
/// rotating it, stop. Returns the conflicts seen.
pub(super) async fn set_key(
    cluster: &Cluster,
    secrets: &Api<Secret>,
    key: &KeyRef,
    from: &str,
    to: &str,
    state: Option<&str>,
) -> Result<u32> {
    let mut conflicts = 0;
    loop {
        let secret = get_secret(cluster, secrets, &key.secret).await?;
        let current = secret_value(&secret, &key.key).unwrap_or_default();
        let rv = secret.metadata.resource_version.clone().unwrap_or_default();
        if current != from && current != to {
            return Err(Error::Cluster(format!(
                "key {} of secret {}/{} changed while we worked (now {}, expected {}): another actor is rotating it; nothing more was changed",
                key.key,
                cluster.namespace,
                key.secret,
                mask(&current),
                mask(from)
            )));
        }
        let patch = secret_patch(&key.key, to, &rv, state);
        match secrets
            .patch(&key.secret, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(conflicts),
            Err(kube::Error::Api(status)) if status.code == 409 && conflicts < 5 => {
                conflicts += 1;
                tracing::info!(
                    "secret {} changed since it was read (409): re-reading",
                    key.secret
                );
            }
            Err(e) => {
                return Err(api_error(
                    &format!("patch secret {}/{}", cluster.namespace, key.secret),
                    &cluster.server,
                    e,
                ));
            }
        }
    }
}
