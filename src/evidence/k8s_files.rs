//! The bundle's `k8s/` files: the Deployment and its canary, ReplicaSets and pods (managedFields
//! stripped, literal values of credential-named env vars blanked), the rollout history, the
//! referenced Secrets by name and key name, and events, HPAs and PDBs when they could be listed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;

use super::bundle::Bundle;
use super::gather::SecretsRead;
use super::manifest::Missing;
use super::objects::{
    Related, RevisionRow, blank_sensitive_env, rollout_history, rollout_history_text, strip, yaml,
    yaml_list,
};
use super::redact::Redactor;
use super::workload::Workload;
use crate::error::Result;

/// What the other parts of the bundle read from the objects written here.
pub struct K8sWritten {
    pub history: Vec<RevisionRow>,
    /// Empty when events could not be listed (then `missing` says so).
    pub events: Vec<Event>,
    pub missing: Vec<Missing>,
}

pub fn write_k8s(
    bundle: &Bundle,
    redactor: &Redactor,
    workload: &Workload,
    secrets: &SecretsRead,
    related: Related,
) -> Result<K8sWritten> {
    let write =
        |path: &str, text: &str, blanked: usize| bundle.add_text(path, text, redactor, blanked);
    let mut missing = Vec::new();
    let mut deployment = workload.deployment.clone();
    let blanked = strip_deployment(&mut deployment);
    write("k8s/deployment.yaml", &yaml(&deployment), blanked)?;
    if let Some(canary) = &workload.canary {
        let mut canary = canary.clone();
        let blanked = strip_deployment(&mut canary);
        write("k8s/canary-deployment.yaml", &yaml(&canary), blanked)?;
    }
    let mut replica_sets = workload.replica_sets.clone();
    let mut blanked = 0;
    for rs in &mut replica_sets {
        strip(&mut rs.metadata);
        if let Some(spec) = rs
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut()?.spec.as_mut())
        {
            blanked += blank_sensitive_env(spec);
        }
    }
    write("k8s/replicasets.yaml", &yaml_list(&replica_sets), blanked)?;
    let mut pods: Vec<_> = workload.pods.iter().map(|(p, _)| p.clone()).collect();
    let mut blanked = 0;
    for pod in &mut pods {
        strip(&mut pod.metadata);
        if let Some(spec) = pod.spec.as_mut() {
            blanked += blank_sensitive_env(spec);
        }
    }
    write("k8s/pods.yaml", &yaml_list(&pods), blanked)?;
    let history = rollout_history(&workload.replica_sets);
    write(
        "k8s/rollout-history.txt",
        &rollout_history_text(&history),
        0,
    )?;
    write("k8s/secrets.yaml", &yaml(&secrets.uses), 0)?;
    for secret in secrets.uses.iter().filter(|s| s.unreadable.is_some()) {
        missing.push(Missing::new(
            format!("secret/{}", secret.name),
            format!(
                "{}: its values could not be redacted by value (pattern redaction still applies)",
                secret.unreadable.as_deref().unwrap_or("unreadable")
            ),
        ));
    }
    for (path, result) in [
        (
            "k8s/events.yaml",
            related.events.as_ref().map(|e| yaml_list(e)),
        ),
        ("k8s/hpa.yaml", related.hpas.as_ref().map(|h| yaml_list(h))),
        ("k8s/pdb.yaml", related.pdbs.as_ref().map(|p| yaml_list(p))),
    ] {
        match result {
            Ok(text) => write(path, &text, 0)?,
            Err(reason) => missing.push(Missing::new(
                path.trim_start_matches("k8s/").trim_end_matches(".yaml"),
                reason.clone(),
            )),
        }
    }
    Ok(K8sWritten {
        history,
        events: related.events.unwrap_or_default(),
        missing,
    })
}

fn strip_deployment(deployment: &mut Deployment) -> usize {
    strip(&mut deployment.metadata);
    deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .map_or(0, blank_sensitive_env)
}
