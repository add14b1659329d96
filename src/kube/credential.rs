//! A credential named in the config file (`{ env: VAR }` or `{ secret: { name, key } }`), read
//! from the environment or the cluster. One reader for every section that names one
//! (`prometheus.bearerToken`, `notify.destinations.*`).

use crate::config::prometheus::{CredentialRef, SecretKeyRef};
use crate::error::{Error, Result};

use super::Cluster;

/// The value `reference` names; `what` is the config key, for the error message.
pub async fn resolve_credential(
    reference: &CredentialRef,
    what: &str,
    cluster: Option<&Cluster>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    match (&reference.env, &reference.secret) {
        (Some(name), None) => env(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Input(format!("{what}: environment variable {name} is not set"))),
        (None, Some(secret)) => {
            let cluster = cluster.ok_or_else(|| {
                Error::Input(format!(
                    "{what}: reading Secret {} needs a cluster connection",
                    secret.name
                ))
            })?;
            read_secret_key(cluster, secret, what).await
        }
        _ => Err(Error::Input(format!(
            "{what}: give exactly one of `env` or `secret`"
        ))),
    }
}

async fn read_secret_key(cluster: &Cluster, secret: &SecretKeyRef, what: &str) -> Result<String> {
    use k8s_openapi::api::core::v1::Secret;
    let namespace = secret.namespace.as_deref().unwrap_or(&cluster.namespace);
    let api: kube::Api<Secret> = kube::Api::namespaced(cluster.client.clone(), namespace);
    let object = api.get(&secret.name).await.map_err(|e| {
        super::api_error(
            &format!("get secret {namespace}/{} for {what}", secret.name),
            &cluster.server,
            e,
        )
    })?;
    let bytes = object
        .data
        .as_ref()
        .and_then(|data| data.get(&secret.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            object
                .string_data
                .as_ref()
                .and_then(|d| d.get(&secret.key))
                .map(|s| s.as_bytes().to_vec())
        })
        .ok_or_else(|| {
            Error::Input(format!(
                "{what}: Secret {namespace}/{} has no key {:?}",
                secret.name, secret.key
            ))
        })?;
    String::from_utf8(bytes)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|_| {
            Error::Input(format!(
                "{what}: key {:?} of Secret {namespace}/{} is not UTF-8 text",
                secret.key, secret.name
            ))
        })
}
