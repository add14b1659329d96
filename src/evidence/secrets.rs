//! The Secrets a Deployment references (env `secretKeyRef`, `envFrom`, volumes, image pull
//! secrets): read so their values can be redacted from the bundle, and so the bundle can list
//! them by name and key name — never by value.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, Secret};
use kube::api::Api;
use serde::Serialize;

use super::facts::KeySource;
use super::redact::SecretValue;
use crate::kube::{Cluster, is_not_found};
use crate::posthog::keys::{KeyKind, classify, mask};

/// Env var names the PostHog project key is conventionally read from, most specific first.
const KEY_ENV_NAMES: [&str; 4] = [
    "POSTHOG_API_KEY",
    "POSTHOG_PROJECT_API_KEY",
    "POSTHOG_KEY",
    "POSTHOG_PERSONAL_API_KEY",
];

/// One referenced Secret and how it is used, for `secrets.yaml` (names only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretUse {
    pub name: String,
    /// `env KEY_NAME <- key`, `envFrom`, `volume NAME`, `imagePullSecret`.
    pub used_as: Vec<String>,
    /// Key names the Secret holds (filled in once it was read).
    pub keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Why it could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Every Secret the pod template references, in first-use order.
pub fn referenced_secrets(spec: &PodSpec) -> Vec<SecretUse> {
    let mut uses: BTreeMap<String, SecretUse> = BTreeMap::new();
    let mut order = Vec::new();
    let mut add = |name: &str, how: String| {
        let entry = uses.entry(name.to_string()).or_insert_with(|| {
            order.push(name.to_string());
            SecretUse {
                name: name.to_string(),
                ..SecretUse::default()
            }
        });
        if !entry.used_as.contains(&how) {
            entry.used_as.push(how);
        }
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for container in containers {
        for env in container.env.iter().flatten() {
            if let Some(r) = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                add(&r.name, format!("env {} <- {}", env.name, r.key));
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                add(&r.name, format!("envFrom ({})", container.name));
            }
        }
    }
    for volume in spec.volumes.iter().flatten() {
        if let Some(name) = volume
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
        {
            add(name, format!("volume {}", volume.name));
        }
        for source in volume
            .projected
            .as_ref()
            .and_then(|p| p.sources.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some(s) = &source.secret {
                add(&s.name, format!("volume {}", volume.name));
            }
        }
    }
    for pull in spec.image_pull_secrets.iter().flatten() {
        add(&pull.name, "imagePullSecret".to_string());
    }
    order
        .into_iter()
        .filter_map(|name| uses.remove(&name))
        .collect()
}

/// Reads the referenced Secrets concurrently: their values (for the redactor) and key names
/// (for the bundle). A Secret that cannot be read is recorded, not fatal.
pub async fn read_secrets(cluster: &Cluster, uses: &mut [SecretUse]) -> Vec<SecretValue> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let reads = uses.iter().map(|u| {
        let api = api.clone();
        let name = u.name.clone();
        async move { api.get(&name).await }
    });
    let results = futures::future::join_all(reads).await;
    let mut values = Vec::new();
    for (secret_use, result) in uses.iter_mut().zip(results) {
        match result {
            Ok(secret) => {
                secret_use.secret_type = secret.type_.clone();
                for (key, value) in secret.data.into_iter().flatten() {
                    secret_use.keys.push(key.clone());
                    values.push(SecretValue {
                        secret: secret_use.name.clone(),
                        key,
                        value: value.0,
                    });
                }
                for (key, value) in secret.string_data.into_iter().flatten() {
                    secret_use.keys.push(key.clone());
                    values.push(SecretValue {
                        secret: secret_use.name.clone(),
                        key,
                        value: value.into_bytes(),
                    });
                }
            }
            Err(e) if is_not_found(&e) => {
                secret_use.unreadable = Some("not found".to_string());
            }
            Err(e) => {
                let reason = match &e {
                    kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
                    other => other.to_string(),
                };
                secret_use.unreadable = Some(reason);
            }
        }
    }
    values
}

/// Where the PostHog key comes from, with its mask and kind when the Secret could be read.
pub fn key_source(spec: Option<&PodSpec>, uses: &[SecretUse], values: &[SecretValue]) -> KeySource {
    let Some(spec) = spec else {
        return KeySource::default();
    };
    let candidates = spec
        .containers
        .iter()
        .flat_map(|c| c.env.iter().flatten().map(move |e| (c, e)));
    let rank = |name: &str| {
        KEY_ENV_NAMES.iter().position(|n| *n == name).or_else(|| {
            let upper = name.to_ascii_uppercase();
            (upper.contains("POSTHOG") && (upper.contains("KEY") || upper.contains("TOKEN")))
                .then_some(KEY_ENV_NAMES.len())
        })
    };
    let best = candidates
        .filter_map(|(c, e)| rank(&e.name).map(|r| (r, c, e)))
        .min_by_key(|(r, _, _)| *r);
    let Some((_, container, env)) = best else {
        return KeySource::default();
    };
    let mut source = KeySource {
        container: Some(container.name.clone()),
        env: Some(env.name.clone()),
        ..KeySource::default()
    };
    if let Some(value) = &env.value {
        source.literal = true;
        describe_value(&mut source, value.as_bytes());
        return source;
    }
    let Some(r) = env
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
    else {
        return source;
    };
    source.secret = Some(r.name.clone());
    source.key = Some(r.key.clone());
    if let Some(secret_use) = uses.iter().find(|u| u.name == r.name) {
        source.other_keys = secret_use
            .keys
            .iter()
            .filter(|k| **k != r.key)
            .cloned()
            .collect();
    }
    if let Some(value) = values.iter().find(|v| v.secret == r.name && v.key == r.key) {
        describe_value(&mut source, &value.value);
    }
    source
}

fn describe_value(source: &mut KeySource, value: &[u8]) {
    let text = String::from_utf8_lossy(value);
    let kind = classify(&text);
    source.kind = Some(
        match kind {
            KeyKind::Project => "project",
            KeyKind::Personal => "personal",
            KeyKind::ProjectSecret => "project-secret",
            KeyKind::OAuthAccess => "oauth-access",
            KeyKind::OAuthRefresh => "oauth-refresh",
            KeyKind::Unprefixed => "unprefixed",
            KeyKind::Unknown => "unknown",
        }
        .to_string(),
    );
    source.masked = Some(mask(&text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> PodSpec {
        serde_json::from_value(json!({
            "imagePullSecrets": [{"name": "registry"}],
            "initContainers": [{"name": "migrate", "env": [
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
            ]}],
            "containers": [{"name": "app",
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "POSTHOG_API_KEY", "valueFrom": {"secretKeyRef": {"name": "posthog-secrets", "key": "api-key"}}},
                    {"name": "POSTHOG_HOST", "value": "https://eu.i.posthog.com"}
                ],
                "envFrom": [{"secretRef": {"name": "app-env"}}]
            }],
            "volumes": [
                {"name": "tls", "secret": {"secretName": "app-tls"}},
                {"name": "bundle", "projected": {"sources": [{"secret": {"name": "posthog-secrets"}}]}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn every_kind_of_reference_is_found_once() {
        let uses = referenced_secrets(&spec());
        let names: Vec<&str> = uses.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            ["db", "posthog-secrets", "app-env", "app-tls", "registry"]
        );
        assert_eq!(
            uses[1].used_as,
            ["env POSTHOG_API_KEY <- api-key", "volume bundle"]
        );
    }

    #[test]
    fn the_key_source_names_secret_key_and_the_others() {
        let mut uses = referenced_secrets(&spec());
        uses[1].keys = vec!["api-key".into(), "personal-key".into()];
        let values = vec![SecretValue {
            secret: "posthog-secrets".into(),
            key: "api-key".into(),
            value: b"phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543\n".to_vec(),
        }];
        let source = key_source(Some(&spec()), &uses, &values);
        assert_eq!(source.secret.as_deref(), Some("posthog-secrets"));
        assert_eq!(source.key.as_deref(), Some("api-key"));
        assert_eq!(source.env.as_deref(), Some("POSTHOG_API_KEY"));
        assert_eq!(source.other_keys, ["personal-key"]);
        assert_eq!(source.kind.as_deref(), Some("personal"));
        assert_eq!(source.masked.as_deref(), Some("phx_…6543"));
        assert!(!source.literal);
    }

    #[test]
    fn a_literal_key_is_flagged() {
        let spec: PodSpec = serde_json::from_value(json!({"containers": [{"name": "app", "env": [
            {"name": "MY_POSTHOG_TOKEN", "value": "phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u"}
        ]}]}))
        .unwrap();
        let source = key_source(Some(&spec), &[], &[]);
        assert!(source.literal);
        assert_eq!(source.secret, None);
        assert_eq!(source.masked.as_deref(), Some("phc_…9T0u"));
    }
}
