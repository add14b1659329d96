//! The rotation against the cluster: read (the Deployment, every Deployment of the namespace,
//! the Secret) → decide ([`super::plan`]) → validate with PostHog → keep the old value in
//! `NAME-previous` → patch the one key under the Secret's resourceVersion (a 409 is re-read and
//! re-decided) → restart every reader like `kubectl rollout restart` and wait like `rollout
//! status` → verify → restore the old value and restart again when verification fails.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;

use super::plan::{self, KeyRef, STATE_ANNOTATION, previous_name, refusal, secret_value};
use super::restart::restart_all;
use super::rotation::{Inputs, Result_, Rotation};
use super::secret::{get_secret, keep_previous, previous_value, set_key};
use crate::error::{Error, Result};
use crate::kube::{Cluster, api_error};
use crate::posthog::{PostHogClient, ProjectKeyCheck, Region, mask};

/// Runs the rotation. `Err` only when the tool broke (the cluster or PostHog unreachable)
/// before anything changed or while it could not tell; refusals and reverts are a [`Rotation`].
pub async fn rotate(cluster: &Cluster, inputs: &Inputs) -> Result<Rotation> {
    let ns = &cluster.namespace;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let deployment = deployments.get(&inputs.deployment).await.map_err(|e| {
        api_error(
            &format!("get deployment {ns}/{}", inputs.deployment),
            &cluster.server,
            e,
        )
    })?;
    let key = plan::key_ref(&deployment, &inputs.api_key_env).ok_or_else(|| {
        Error::Input(format!(
            "deployment/{} reads no {} from a Secret (secretKeyRef): move the key to a Secret first (preflight --fix writes it)",
            inputs.deployment, inputs.api_key_env
        ))
    })?;
    let all = deployments
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error(&format!("list deployments in {ns}"), &cluster.server, e))?;
    let readers = plan::readers(&inputs.deployment, &all.items, &key);
    let secret = get_secret(cluster, &secrets, &key.secret).await?;
    let current = secret_value(&secret, &key.key);
    let state = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(STATE_ANNOTATION))
        .cloned();
    let host = inputs
        .posthog_host
        .clone()
        .or_else(|| plan::env_value(&deployment, &inputs.host_env))
        .unwrap_or_else(|| "https://us.i.posthog.com".to_string());
    let region = Region::from_host(&host).unwrap_or(Region::Us);
    let given = inputs.new_key.trim();
    // A revert was under way (killed while restoring the old key): finish it, never re-apply
    // the key that failed.
    if state.as_deref() == Some("reverting") {
        return finish_revert(cluster, &secrets, &key, readers, current, region, inputs).await;
    }
    let new_key = match (inputs.resume, state.as_deref(), current.as_deref()) {
        (true, Some(_), Some(current)) if given.is_empty() || given == current => current,
        (true, Some(_), _) => {
            return Err(Error::Usage(format!(
                "--resume: secret {ns}/{} holds another key than the one given: the rotation \
                 under way is to {}; resume without a key, or finish it first",
                key.secret,
                mask(current.as_deref().unwrap_or_default())
            )));
        }
        (true, None, _) if given.is_empty() => {
            return Err(Error::Usage(format!(
                "--resume: no rotation is under way on secret {ns}/{} (no {STATE_ANNOTATION} \
                 annotation); give the new key (--from-env, --from-file or stdin) to start one",
                key.secret
            )));
        }
        _ => given,
    };
    // Resuming: the Secret already holds the new key and says a rotation was under way.
    let resuming = state.is_some() && current.as_deref() == Some(new_key);
    let old = match (&state, resuming) {
        (Some(_), true) => previous_value(&secrets, &key).await.unwrap_or_default(),
        _ => current.clone().unwrap_or_default(),
    };
    let mut rotation = Rotation {
        secret: key.secret.clone(),
        key: key.key.clone(),
        readers: readers.clone(),
        old_key: mask(&old),
        new_key: mask(new_key),
        region: region.name(),
        result: Result_::Refused,
        steps: Vec::new(),
        conflicts: 0,
    };
    rotation.step(
        "rotate.readers",
        true,
        "Deployments reading the key",
        format!(
            "secret {}/{} key {}: {}",
            ns,
            key.secret,
            key.key,
            readers.join(", ")
        ),
    );

    if !resuming {
        if let Some(why) = refusal(new_key, current.as_deref()) {
            rotation.step("rotate.validate", false, "The new key is refused", why);
            return Ok(rotation);
        }
        let client =
            PostHogClient::new(inputs.remote_timeout).map_err(|e| Error::Remote(e.to_string()))?;
        let ingest = region.ingest_url();
        match client.check_project_key(&ingest, new_key).await {
            Ok(ProjectKeyCheck::Valid { .. }) => rotation.step(
                "rotate.validate",
                true,
                "PostHog accepts the new key",
                format!("POST {}flags?v=2 answered 200 ({})", ingest, region.name()),
            ),
            Ok(ProjectKeyCheck::Rejected { status, .. }) => {
                rotation.step(
                    "rotate.validate",
                    false,
                    "PostHog rejects the new key",
                    format!(
                        "POST {}flags?v=2 answered {status} for {} ({}): a key of another project or region, or revoked",
                        ingest,
                        mask(new_key),
                        region.name()
                    ),
                );
                return Ok(rotation);
            }
            Err(e) => {
                return Err(Error::Remote(format!(
                    "validate the new key against PostHog ({}): {e}; nothing was changed",
                    region.name()
                )));
            }
        }
    } else {
        rotation.step(
            "rotate.resume",
            true,
            "A rotation was under way",
            format!(
                "state {:?}: the Secret already holds the new key",
                state.unwrap_or_default()
            ),
        );
    }

    if inputs.dry_run {
        rotation.result = Result_::DryRun;
        rotation.step(
            "rotate.plan",
            true,
            "Would rotate (dry run: nothing changed)",
            format!(
                "copy {} to secret {}, patch key {} of secret {} ({} → {}) under its resourceVersion, then restart and wait for {}",
                rotation.old_key,
                previous_name(&key.secret),
                key.key,
                key.secret,
                rotation.old_key,
                rotation.new_key,
                readers.join(", ")
            ),
        );
        return Ok(rotation);
    }

    if !resuming {
        keep_previous(cluster, &secrets, &secret, &key, &old).await?;
        rotation.step(
            "rotate.previous",
            true,
            "The old key is kept in the cluster",
            format!(
                "secret {}/{} (label {}={}, owned by the Secret)",
                ns,
                previous_name(&key.secret),
                plan::PREVIOUS_LABEL,
                key.secret
            ),
        );
        let conflicts = set_key(cluster, &secrets, &key, &old, new_key, Some("restarting")).await?;
        rotation.conflicts += conflicts;
        rotation.step(
            "rotate.secret",
            true,
            "The Secret's key is patched, its other keys kept",
            format!(
                "key {} of secret {}: {} → {}{}",
                key.key,
                key.secret,
                rotation.old_key,
                rotation.new_key,
                match conflicts {
                    0 => String::new(),
                    n => format!(
                        " (after {n} 409 Conflict re-read{})",
                        if n == 1 { "" } else { "s" }
                    ),
                }
            ),
        );
    }

    let verified = restart_all(
        cluster,
        &readers,
        inputs,
        &mut rotation,
        "rotate.restart",
        inputs.now,
    )
    .await;
    if verified {
        set_key(cluster, &secrets, &key, new_key, new_key, None).await?;
        rotation.result = Result_::Rotated;
        return Ok(rotation);
    }
    if !inputs.revert {
        rotation.result = Result_::FailedNotReverted;
        rotation.step(
            "rotate.revert",
            false,
            "The old key was not restored (--no-revert)",
            format!("restore it from secret {}", previous_name(&key.secret)),
        );
        return Ok(rotation);
    }
    match set_key(cluster, &secrets, &key, new_key, &old, Some("reverting")).await {
        Ok(conflicts) => {
            rotation.conflicts += conflicts;
            rotation.step(
                "rotate.revert",
                true,
                "The old key is restored",
                format!(
                    "key {} of secret {}: {} → {}",
                    key.key, key.secret, rotation.new_key, rotation.old_key
                ),
            );
        }
        Err(e) => {
            rotation.result = Result_::RevertFailed;
            rotation.step(
                "rotate.revert",
                false,
                "The old key could not be restored",
                e.to_string(),
            );
            return Ok(rotation);
        }
    }
    let restored = restart_all(
        cluster,
        &readers,
        inputs,
        &mut rotation,
        "rotate.revert-restart",
        // A restartedAt different from the first restart's, or nothing would roll out.
        jiff::Timestamp::now().max(inputs.now + jiff::SignedDuration::from_secs(1)),
    )
    .await;
    let _ = set_key(cluster, &secrets, &key, &old, &old, None).await;
    rotation.result = if restored {
        Result_::Reverted
    } else {
        Result_::RevertFailed
    };
    Ok(rotation)
}

/// The Secret says a revert was under way: the old key (from `NAME-previous`) is put back if
/// it is not already, every reader restarted, and the state cleared.
async fn finish_revert(
    cluster: &Cluster,
    secrets: &Api<Secret>,
    key: &KeyRef,
    readers: Vec<String>,
    current: Option<String>,
    region: Region,
    inputs: &Inputs,
) -> Result<Rotation> {
    let current = current.unwrap_or_default();
    let old = previous_value(secrets, key).await.ok_or_else(|| {
        Error::Cluster(format!(
            "a revert of secret {}/{} was under way but {} holds no key {:?}: restore the old key by hand",
            cluster.namespace,
            key.secret,
            previous_name(&key.secret),
            key.key
        ))
    })?;
    let mut rotation = Rotation {
        secret: key.secret.clone(),
        key: key.key.clone(),
        readers: readers.clone(),
        old_key: mask(&old),
        new_key: mask(&current),
        region: region.name(),
        result: Result_::Reverted,
        steps: Vec::new(),
        conflicts: 0,
    };
    rotation.step(
        "rotate.resume",
        true,
        "A revert was under way",
        format!(
            "state \"reverting\": restoring {} from secret {}",
            mask(&old),
            previous_name(&key.secret)
        ),
    );
    if inputs.dry_run {
        rotation.result = Result_::DryRun;
        return Ok(rotation);
    }
    rotation.conflicts += set_key(cluster, secrets, key, &current, &old, Some("reverting")).await?;
    rotation.step(
        "rotate.revert",
        true,
        "The old key is restored",
        format!("key {} of secret {}: {}", key.key, key.secret, mask(&old)),
    );
    let restored = restart_all(
        cluster,
        &readers,
        inputs,
        &mut rotation,
        "rotate.revert-restart",
        jiff::Timestamp::now().max(inputs.now),
    )
    .await;
    set_key(cluster, secrets, key, &old, &old, None).await?;
    if !restored {
        rotation.result = Result_::RevertFailed;
    }
    Ok(rotation)
}
