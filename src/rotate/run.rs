//! The rotation against the cluster: read (the Deployment, every Deployment of the namespace,
//! the Secret) → decide ([`super::plan`]) → validate with PostHog → keep the old value in
//! `NAME-previous` → patch the one key under the Secret's resourceVersion (a 409 is re-read and
//! re-decided) → restart every reader like `kubectl rollout restart` and wait like `rollout
//! status` → verify → restore the old value and restart again when verification fails.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

use super::plan::{
    self, KeyRef, STATE_ANNOTATION, previous_name, previous_secret, refusal, restart_patch,
    secret_patch, secret_value,
};
use crate::error::{Error, Result};
use crate::kube::{Cluster, api_error};
use crate::posthog::{PostHogClient, ProjectKeyCheck, Region, mask};
use crate::rollout::wait::{WaitOutcome, wait};

/// What the rotation needs, as plain values.
pub struct Inputs {
    pub deployment: String,
    /// The variable holding the project key (`names.apiKeyEnv`).
    pub api_key_env: String,
    /// The variable holding the host (`names.hostEnv`).
    pub host_env: String,
    pub new_key: String,
    /// Overrides the Deployment's host (self-hosted, a proxy, a test).
    pub posthog_host: Option<String>,
    /// The integration's health endpoint, checked after each restart.
    pub health_url: Option<url::Url>,
    /// For each rollout to complete.
    pub rollout_timeout: Duration,
    pub remote_timeout: Duration,
    pub dry_run: bool,
    pub revert: bool,
    /// `--resume`: finish the rotation (or the revert) the Secret's state annotation records;
    /// `new_key` may then be empty (the Secret holds it).
    pub resume: bool,
    /// With Prometheus: no 401/403 from the restarted pods over a window before success.
    pub auth_check: Option<AuthCheck>,
    pub now: jiff::Timestamp,
}

/// The check after the restarts that the new pods get no 401/403 (issue 19 step 5).
pub struct AuthCheck {
    pub prometheus: crate::prometheus::Prometheus,
    pub naming: crate::prometheus::alert_table::Naming,
    /// How long the new pods serve before their 401/403 are counted (`--verify-window`).
    pub window: Duration,
}

impl AuthCheck {
    /// The 401/403 responses of `deployment`'s pods over the window (0 when it served none).
    pub fn query(&self, namespace: &str, deployment: &str) -> String {
        let n = &self.naming;
        let selector = n.deployment_selector(namespace, deployment);
        format!(
            r#"sum(increase({}{{{selector},{}=~"401|403"}}[{}s])) or sum({}{{{selector}}}) * 0"#,
            n.requests,
            n.status,
            self.window.as_secs().max(1),
            n.requests
        )
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Result_ {
    /// The new key is in use by every reader, verified.
    Rotated,
    /// Refused before anything changed.
    Refused,
    /// `--dry-run`: the plan only.
    DryRun,
    /// Verification failed and the old key was restored.
    Reverted,
    /// Verification failed; `--no-revert` left the new key in place.
    FailedNotReverted,
    /// Verification failed and restoring the old key failed too: a person must act.
    RevertFailed,
}

/// One step, as the report shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub id: String,
    pub ok: bool,
    pub title: String,
    pub measured: String,
}

/// Everything that happened.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    pub secret: String,
    pub key: String,
    pub readers: Vec<String>,
    /// The keys, masked (`phc_…1234`).
    pub old_key: String,
    pub new_key: String,
    pub region: String,
    pub result: Result_,
    pub steps: Vec<StepRecord>,
    /// 409s re-read while patching the Secret.
    pub conflicts: u32,
}

impl Rotation {
    fn step(&mut self, id: &str, ok: bool, title: &str, measured: impl Into<String>) {
        self.steps.push(StepRecord {
            id: id.to_string(),
            ok,
            title: title.to_string(),
            measured: measured.into(),
        });
    }
}

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

async fn get_secret(cluster: &Cluster, secrets: &Api<Secret>, name: &str) -> Result<Secret> {
    secrets.get(name).await.map_err(|e| {
        api_error(
            &format!("get secret {}/{name}", cluster.namespace),
            &cluster.server,
            e,
        )
    })
}

async fn previous_value(secrets: &Api<Secret>, key: &KeyRef) -> Option<String> {
    let previous = secrets.get_opt(&previous_name(&key.secret)).await.ok()??;
    secret_value(&previous, &key.key)
}

/// Writes `NAME-previous` with the old value (server-side apply: created, or replaced).
async fn keep_previous(
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
async fn set_key(
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

/// Restarts every reader and waits for each; then checks the health endpoint. `true` when all
/// completed and the endpoint (if any) reports PostHog connected.
async fn restart_all(
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

/// Once the new pods have served for the window: any 401/403 from them fails the rotation. A
/// check Prometheus cannot answer is reported and does not undo a rotation that otherwise
/// verified.
async fn check_auth(
    cluster: &Cluster,
    readers: &[String],
    check: &AuthCheck,
    rotation: &mut Rotation,
) -> bool {
    tokio::time::sleep(check.window).await;
    let window = humantime::format_duration(check.window);
    let mut all_ok = true;
    for name in readers {
        let query = check.query(&cluster.namespace, name);
        match check.prometheus.instant(&query).await {
            Ok(Some(n)) if n > 0.0 => {
                all_ok = false;
                rotation.step(
                    "rotate.verify-auth",
                    false,
                    &format!("deployment/{name}'s new pods get 401/403"),
                    format!("{n:.0} 401/403 responses over {window} ({query})"),
                );
            }
            Ok(_) => rotation.step(
                "rotate.verify-auth",
                true,
                &format!("deployment/{name}'s new pods get no 401/403"),
                format!("0 over {window} ({query})"),
            ),
            Err(e) => rotation.step(
                "rotate.verify-auth",
                false,
                &format!("401/403 of deployment/{name} could not be read (not reverted for it)"),
                e.to_string(),
            ),
        }
    }
    all_ok
}

/// The health endpoint after the restarts (when `--health-url` is given).
async fn check_health(inputs: &Inputs, rotation: &mut Rotation, require_health: bool) -> bool {
    let Some(url) = &inputs.health_url else {
        rotation.step(
            "rotate.verify",
            true,
            "Health endpoint not checked",
            "no --health-url given: readiness only",
        );
        return true;
    };
    match crate::rollout::wait::probe_health(url).await {
        Ok((status, Some(health)))
            if (200..300).contains(&status) && health.posthog_connected() =>
        {
            rotation.step(
                "rotate.verify",
                true,
                "The integration reports PostHog connected",
                format!("GET {url} answered {status}: {}", health.describe()),
            );
            true
        }
        Ok((status, health)) => {
            // After a revert the key is the one that worked before: a health endpoint still
            // failing says the trouble is elsewhere; it is reported, and not undone again.
            rotation.step(
                "rotate.verify",
                false,
                "The integration does not report PostHog connected",
                format!(
                    "GET {url} answered {status}: {}",
                    health
                        .map(|h| h.describe())
                        .unwrap_or_else(|| "not the checklist's health shape".to_string())
                ),
            );
            !require_health
        }
        Err(e) => {
            rotation.step(
                "rotate.verify",
                false,
                "The health endpoint did not answer",
                e,
            );
            !require_health
        }
    }
}

fn describe(outcome: &WaitOutcome) -> String {
    match outcome {
        WaitOutcome::Complete(_) => "complete".to_string(),
        WaitOutcome::DeadlineExceeded { message } => {
            format!("progress deadline exceeded: {message}")
        }
        WaitOutcome::PodsFailing { problems } => format!("{} pod problem(s)", problems.len()),
        WaitOutcome::TimedOut { timeout, last } => {
            format!("not complete within {}s: {last}", timeout.as_secs())
        }
    }
}
