//! The bundle's `k8s/` files: the Deployment and its canary, ReplicaSets and pods (managedFields
//! stripped, credentials blanked in them and in the documents they embed), the rollout history, the
//! referenced Secrets by name and key name, and events, HPAs and PDBs when they could be listed.

use k8s_openapi::api::core::v1::Event;

use super::bundle::Bundle;
use super::gather::SecretsRead;
use super::manifest::Missing;
use super::objects::{
    Related, RevisionRow, redacted_yaml, redacted_yaml_list, rollout_history, rollout_history_text,
    strip, yaml,
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
    strip(&mut deployment.metadata);
    let (text, blanked) = redacted_yaml(&deployment, redactor);
    write("k8s/deployment.yaml", &text, blanked)?;
    if let Some(canary) = &workload.canary {
        let mut canary = canary.clone();
        strip(&mut canary.metadata);
        let (text, blanked) = redacted_yaml(&canary, redactor);
        write("k8s/canary-deployment.yaml", &text, blanked)?;
    }
    let mut replica_sets = workload.replica_sets.clone();
    for rs in &mut replica_sets {
        strip(&mut rs.metadata);
    }
    let (text, blanked) = redacted_yaml_list(&replica_sets, redactor);
    write("k8s/replicasets.yaml", &text, blanked)?;
    let mut pods: Vec<_> = workload.pods.iter().map(|(p, _)| p.clone()).collect();
    for pod in &mut pods {
        strip(&mut pod.metadata);
    }
    let (text, blanked) = redacted_yaml_list(&pods, redactor);
    write("k8s/pods.yaml", &text, blanked)?;
    let history = rollout_history(&workload.replica_sets);
    write(
        "k8s/rollout-history.txt",
        &rollout_history_text(&history),
        0,
    )?;
    write_secrets(bundle, &secrets.uses)?;
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
            related
                .events
                .as_ref()
                .map(|e| redacted_yaml_list(e, redactor)),
        ),
        (
            "k8s/hpa.yaml",
            related
                .hpas
                .as_ref()
                .map(|h| redacted_yaml_list(h, redactor)),
        ),
        (
            "k8s/pdb.yaml",
            related
                .pdbs
                .as_ref()
                .map(|p| redacted_yaml_list(p, redactor)),
        ),
    ] {
        match result {
            Ok((text, blanked)) => write(path, &text, blanked)?,
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

/// `k8s/secrets.yaml`: the referenced Secrets by name, type and key names, as read. It holds no
/// value by construction, so it is not run through the pattern redactor, which would take
/// `secretType: Opaque` for a credential (issue 18 item 6).
pub fn write_secrets(
    bundle: &Bundle,
    uses: &[super::secrets::SecretUse],
) -> Result<super::bundle::Entry> {
    bundle.add("k8s/secrets.yaml", yaml(&uses).as_bytes(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::secrets::SecretUse;

    /// Issue 18 item 6: `secretType: [REDACTED]` and "1 redaction" for a file without values.
    #[test]
    fn secrets_yaml_keeps_the_type_and_key_names_and_redacts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = Bundle::directory(&dir.path().join("b")).unwrap();
        let uses = vec![SecretUse {
            name: "posthog".into(),
            used_as: vec!["env POSTHOG_API_KEY <- api-key".into()],
            keys: vec!["api-key".into(), "password".into(), "secret_token".into()],
            secret_type: Some("Opaque".into()),
            unreadable: None,
        }];
        let entry = write_secrets(&bundle, &uses).unwrap();
        assert_eq!(entry.redactions, 0);
        let text = std::fs::read_to_string(dir.path().join("b/k8s/secrets.yaml")).unwrap();
        assert!(text.contains("secretType: Opaque"), "{text}");
        for key in ["api-key", "password", "secret_token", "POSTHOG_API_KEY"] {
            assert!(text.contains(key), "{key} in {text}");
        }
        assert!(!text.contains("REDACTED"), "{text}");
    }
}
