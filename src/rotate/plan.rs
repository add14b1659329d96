//! The pure half of a key rotation: which Secret key the Deployment reads its PostHog key from,
//! which other Deployments read the same key, whether a new key may replace the old one, and
//! the exact patches (the Secret's one key under a resourceVersion precondition, the
//! `NAME-previous` copy, `kubectl rollout restart`'s annotation).

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::posthog::{KeyKind, classify, mask};

/// The annotation kept on the Secret while a rotation is under way (what from, what to), so a
/// re-run after an interruption can tell what was done.
pub const STATE_ANNOTATION: &str = "kubectl-posthog/rotation";
/// The label on the `NAME-previous` Secret naming the Secret it keeps the old value of.
pub const PREVIOUS_LABEL: &str = "kubectl-posthog/previous-of";
/// `kubectl rollout restart`'s annotation on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Where a Deployment reads its key: the Secret, the key in it, the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub secret: String,
    pub key: String,
    pub env: String,
}

fn pod_spec(deployment: &Deployment) -> Option<&PodSpec> {
    deployment.spec.as_ref()?.template.spec.as_ref()
}

/// The `secretKeyRef` of `env_name` in the first container that sets it.
pub fn key_ref(deployment: &Deployment, env_name: &str) -> Option<KeyRef> {
    let spec = pod_spec(deployment)?;
    spec.containers.iter().find_map(|c| {
        c.env.iter().flatten().find_map(|e| {
            let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
            (e.name == env_name).then(|| KeyRef {
                secret: r.name.clone(),
                key: r.key.clone(),
                env: e.name.clone(),
            })
        })
    })
}

/// A literal `POSTHOG_HOST`-style variable of the first container that sets it.
pub fn env_value(deployment: &Deployment, env_name: &str) -> Option<String> {
    let spec = pod_spec(deployment)?;
    spec.containers.iter().find_map(|c| {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == env_name)
            .and_then(|e| e.value.clone())
    })
}

/// Whether a Deployment reads `secret`'s `key` (through `secretKeyRef`, or `envFrom` of the
/// whole Secret), in any container or init container.
pub fn reads(deployment: &Deployment, secret: &str, key: &str) -> bool {
    let Some(spec) = pod_spec(deployment) else {
        return false;
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.env.iter().flatten().any(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .is_some_and(|r| r.name == secret && r.key == key)
            }) || c
                .env_from
                .iter()
                .flatten()
                .any(|f| f.secret_ref.as_ref().is_some_and(|s| s.name == secret))
        })
}

/// Every Deployment that reads the key, `first` first, the others by name.
pub fn readers(first: &str, deployments: &[Deployment], key: &KeyRef) -> Vec<String> {
    let mut names: Vec<String> = deployments
        .iter()
        .filter(|d| reads(d, &key.secret, &key.key))
        .filter_map(|d| d.metadata.name.clone())
        .filter(|n| n != first)
        .collect();
    names.sort();
    names.insert(0, first.to_string());
    names
}

/// The value of `key` in the Secret, as text.
pub fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
}

/// Why a new key may not replace the old one, before PostHog is asked.
pub fn refusal(new: &str, old: Option<&str>) -> Option<String> {
    let new = new.trim();
    if new.is_empty() {
        return Some("the new key is empty".to_string());
    }
    if old.is_some_and(|old| old.trim() == new) {
        return Some(format!(
            "the new key {} is the key already in use",
            mask(new)
        ));
    }
    match classify(new) {
        KeyKind::Project | KeyKind::Unprefixed => None,
        kind => Some(format!(
            "the new key {} is a {}: a project key (phc_…) belongs here; ingestion rejects any other",
            mask(new),
            kind.describe()
        )),
    }
}

/// The Secret's one key replaced, nothing else: a merge patch whose resourceVersion makes the
/// API server refuse it (409) if the Secret changed since it was read. `state` is recorded in
/// the same write.
pub fn secret_patch(key: &str, value: &str, resource_version: &str, state: Option<&str>) -> Value {
    json!({
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": {STATE_ANNOTATION: state},
        },
        "data": {key: base64::engine::general_purpose::STANDARD.encode(value)},
    })
}

/// `NAME-previous`: the old value, labelled with the Secret it belongs to and owned by it, so
/// it is found (`-l kubectl-posthog/previous-of=NAME`) and deleted with the Secret.
pub fn previous_secret(secret: &Secret, key: &str, old: &str) -> Secret {
    let name = secret.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: ObjectMeta {
            name: Some(previous_name(&name)),
            labels: Some(BTreeMap::from([
                (PREVIOUS_LABEL.to_string(), name.clone()),
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-posthog".to_string(),
                ),
            ])),
            owner_references: secret.metadata.uid.clone().map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_string(),
                    kind: "Secret".to_string(),
                    name: name.clone(),
                    uid,
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([(
            key.to_string(),
            k8s_openapi::ByteString(old.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

pub fn previous_name(secret: &str) -> String {
    format!("{secret}-previous")
}

/// What `kubectl rollout restart` sends: the pod template's `restartedAt` annotation.
pub fn restart_patch(now: jiff::Timestamp) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }}}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const READER: &str = "
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    spec:
      containers:
      - name: app
        env:
        - {name: POSTHOG_API_KEY, valueFrom: {secretKeyRef: {name: posthog-secrets, key: api-key}}}
        - {name: POSTHOG_HOST, value: 'https://eu.i.posthog.com'}
";

    #[test]
    fn finds_the_key_and_every_reader() {
        let api = deployment(READER);
        let key = key_ref(&api, "POSTHOG_API_KEY").unwrap();
        assert_eq!(
            (key.secret.as_str(), key.key.as_str()),
            ("posthog-secrets", "api-key")
        );
        assert_eq!(
            env_value(&api, "POSTHOG_HOST").as_deref(),
            Some("https://eu.i.posthog.com")
        );
        let worker = deployment(&READER.replace("name: api}", "name: worker}"));
        let env_from = deployment(
            "metadata: {name: batch}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n      - name: a\n        envFrom: [{secretRef: {name: posthog-secrets}}]\n",
        );
        let other = deployment(
            &READER
                .replace("name: api}", "name: other}")
                .replace("key: api-key", "key: other"),
        );
        let all = [worker, api, env_from, other];
        assert_eq!(readers("api", &all, &key), ["api", "batch", "worker"]);
    }

    #[test]
    fn refuses_a_personal_key_the_same_key_and_nothing() {
        let old = "phc_OldProjectKey000000000000000000000000001";
        assert!(
            refusal("phx_PersonalKey00000000000000000000000000001", Some(old))
                .unwrap()
                .contains("project key (phc_…) belongs here")
        );
        assert!(refusal(old, Some(old)).unwrap().contains("already in use"));
        assert!(refusal("  ", Some(old)).is_some());
        assert_eq!(
            refusal("phc_NewProjectKey000000000000000000000000001", Some(old)),
            None
        );
        // The refusal never shows the key itself.
        assert!(!refusal(old, Some(old)).unwrap().contains(&old[4..]));
    }

    #[test]
    fn the_patch_changes_one_key_under_a_precondition() {
        let patch = secret_patch("api-key", "phc_new", "42", Some("restarting"));
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert_eq!(patch["data"].as_object().unwrap().len(), 1);
        assert_eq!(patch["data"]["api-key"], "cGhjX25ldw==");
        assert_eq!(
            patch["metadata"]["annotations"][STATE_ANNOTATION],
            "restarting"
        );
        assert_eq!(
            secret_patch("k", "v", "1", None)["metadata"]["annotations"][STATE_ANNOTATION],
            Value::Null
        );
        let restart = restart_patch("2026-12-02T01:00:00Z".parse().unwrap());
        assert_eq!(
            restart["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT],
            "2026-12-02T01:00:00Z"
        );
    }
}
