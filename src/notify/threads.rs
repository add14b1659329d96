//! Where a Slack bot's incident thread is remembered between runs (a canary aborts in one run
//! and is promoted in the next): the first post's `ts` in the ConfigMap
//! `kubectl-posthog-notify` of the target's namespace, one key per destination and incident.
//! Written with merge patches of that one key (idempotent); a resolution deletes the key so
//! the next incident starts its own thread. The ConfigMap holds no credential.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use sha2::Digest;

/// The ConfigMap holding the threads.
pub const CONFIG_MAP: &str = "kubectl-posthog-notify";

/// The ConfigMap key for a destination and incident: `slack-thread.<dest>.<16 hex>`.
pub fn key(destination: &str, incident_key: &str) -> String {
    let dest: String = destination
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let hash = sha2::Sha256::digest(incident_key.as_bytes());
    format!("slack-thread.{dest}.{}", &hex::encode(hash)[..16])
}

/// The threads of one cluster.
#[derive(Clone)]
pub struct ThreadStore {
    client: kube::Client,
}

impl ThreadStore {
    pub fn new(client: kube::Client) -> Self {
        ThreadStore { client }
    }

    fn api(&self, namespace: &str) -> kube::Api<ConfigMap> {
        kube::Api::namespaced(self.client.clone(), namespace)
    }

    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, kube::Error> {
        match self.api(namespace).get_opt(CONFIG_MAP).await? {
            Some(map) => Ok(map.data.and_then(|d| d.get(key).cloned())),
            None => Ok(None),
        }
    }

    /// Sets (`Some`) or deletes (`None`) one key, creating the ConfigMap when it is missing.
    pub async fn set(
        &self,
        namespace: &str,
        key: &str,
        ts: Option<&str>,
    ) -> Result<(), kube::Error> {
        let api = self.api(namespace);
        let patch = serde_json::json!({"data": {key: ts}});
        match api
            .patch(CONFIG_MAP, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                let Some(ts) = ts else { return Ok(()) };
                let map = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some(CONFIG_MAP.to_string()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".to_string(),
                            "kubectl-posthog".to_string(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(key.to_string(), ts.to_string())])),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &map).await {
                    Ok(_) => Ok(()),
                    // Another run created it meanwhile: the merge patch now applies.
                    Err(kube::Error::Api(status)) if status.code == 409 => api
                        .patch(CONFIG_MAP, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_config_map_keys_and_stable() {
        let k = key(
            "incidents thread/1",
            "kubectl-posthog/prod/posthog-integration",
        );
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{k}"
        );
        assert_eq!(
            k,
            key(
                "incidents thread/1",
                "kubectl-posthog/prod/posthog-integration"
            )
        );
        assert_ne!(k, key("incidents thread/1", "kubectl-posthog/prod/other"));
    }
}
