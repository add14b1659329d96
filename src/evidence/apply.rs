//! `triage --apply`: the runbook's env-var actions (`RATE_LIMIT_MODE=queue`,
//! `POSTHOG_FALLBACK=true`) as the one strategic merge patch `kubectl set env` would send.
//! Deciding what to send is pure ([`plan`]); sending it is [`send`]. Key rotation is never
//! applied: it needs a new key that only a person can get.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use kube::api::{Api, Patch, PatchParams};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::signals::EnvChange;
use super::triage::TriageOutcome;
use crate::error::Result;
use crate::kube::Cluster;

/// What `--apply` did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub env: String,
    /// `applied`, `dry-run` or `already-set`.
    pub result: &'static str,
    pub detail: String,
}

/// What `--apply` would do for a triage outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    pub deployment: String,
    pub namespace: String,
    /// Actions whose value every container already has.
    pub already_set: Vec<Applied>,
    /// The values to set, in the order of the actions.
    pub changes: Vec<EnvChange>,
    /// The strategic merge patch; `None` when there is nothing to send.
    pub patch: Option<Value>,
}

impl ApplyPlan {
    /// `RATE_LIMIT_MODE=queue POSTHOG_FALLBACK=true`, as `kubectl set env` takes them.
    pub fn assignments(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect()
    }

    /// The `kubectl` command the patch amounts to.
    pub fn command(&self) -> String {
        format!(
            "kubectl set env deployment/{} -n {} {}",
            self.deployment,
            self.namespace,
            self.assignments().join(" ")
        )
    }

    /// What a dry run reports: the patch that would be sent, per value.
    pub fn dry_run(&self) -> Vec<Applied> {
        let mut applied = self.already_set.clone();
        if let Some(patch) = &self.patch {
            for change in &self.changes {
                applied.push(Applied {
                    env: change.name.to_string(),
                    result: "dry-run",
                    detail: format!(
                        "would send the strategic merge patch {patch} ({})",
                        self.command()
                    ),
                });
            }
        }
        applied
    }
}

/// The env changes the outcome's actions ask for, each once, minus those already in place.
pub fn plan(outcome: &TriageOutcome, deployment: &Deployment, namespace: &str) -> ApplyPlan {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let mut changes: Vec<EnvChange> = Vec::new();
    let mut already_set: Vec<Applied> = Vec::new();
    for action in &outcome.actions {
        let Some(change) = &action.env else { continue };
        if changes.contains(change) || already_set.iter().any(|a| a.env == change.name) {
            continue;
        }
        if action.already_done {
            already_set.push(Applied {
                env: change.name.to_string(),
                result: "already-set",
                detail: format!("{}={} on every container", change.name, change.value),
            });
        } else {
            changes.push(change.clone());
        }
    }
    let patch = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|spec| env_patch(spec, &changes));
    ApplyPlan {
        deployment: name,
        namespace: namespace.to_string(),
        already_set,
        changes,
        patch,
    }
}

/// Sends the plan's patch (field manager `kubectl-posthog`) and reports each value applied.
pub async fn send(cluster: &Cluster, plan: &ApplyPlan) -> Result<Vec<Applied>> {
    let mut applied = plan.already_set.clone();
    let Some(patch) = &plan.patch else {
        return Ok(applied);
    };
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = PatchParams {
        field_manager: Some("kubectl-posthog".to_string()),
        ..PatchParams::default()
    };
    let name = &plan.deployment;
    let patched = api
        .patch(name, &params, &Patch::Strategic(patch))
        .await
        .map_err(|e| {
            crate::kube::api_error(
                &format!("patch deployment {}/{name}", cluster.namespace),
                &cluster.server,
                e,
            )
        })?;
    let generation = patched.metadata.generation.unwrap_or_default();
    for change in &plan.changes {
        applied.push(Applied {
            env: change.name.to_string(),
            result: "applied",
            detail: format!(
                "{}={} on every container (generation {generation}); follow the rollout with \
                 `kubectl rollout status deployment/{name} -n {}`",
                change.name, change.value, cluster.namespace
            ),
        });
    }
    Ok(applied)
}

/// The strategic merge patch `kubectl set env deployment/NAME K=V …` amounts to: every container
/// gets each value (merged by name, other env vars untouched). `None` when every container
/// already has them, so re-running `--apply` changes nothing and starts no rollout.
pub fn env_patch(spec: &PodSpec, changes: &[EnvChange]) -> Option<Value> {
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .filter_map(|c| {
            let missing: Vec<Value> = changes
                .iter()
                .filter(|change| {
                    !c.env.iter().flatten().any(|e| {
                        e.name == change.name
                            && e.value.as_deref() == Some(change.value)
                            && e.value_from.is_none()
                    })
                })
                .map(|change| json!({"name": change.name, "value": change.value}))
                .collect();
            (!missing.is_empty()).then(|| json!({"name": c.name, "env": missing}))
        })
        .collect();
    (!containers.is_empty())
        .then(|| json!({"spec": {"template": {"spec": {"containers": containers}}}}))
}
