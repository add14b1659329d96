//! A Deployment's environment as the checks see it: for every variable of every container, where
//! its value comes from (a literal, a Secret key, a ConfigMap key, `envFrom`) and, when the facts
//! allow, the value itself. Pure: reads only the objects already gathered.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;

use super::facts::{ClusterFacts, Lookup, SecretValue};

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvSource {
    Literal,
    SecretKey {
        secret: String,
        key: String,
        optional: bool,
    },
    ConfigMapKey {
        config_map: String,
        key: String,
        optional: bool,
    },
    /// `envFrom: secretRef` (the variable is one of the Secret's keys).
    SecretEnvFrom {
        secret: String,
    },
    ConfigMapEnvFrom {
        config_map: String,
    },
    /// `fieldRef` / `resourceFieldRef`: Kubernetes fills it in.
    Downward,
}

impl EnvSource {
    pub fn from_secret(&self) -> bool {
        matches!(
            self,
            EnvSource::SecretKey { .. } | EnvSource::SecretEnvFrom { .. }
        )
    }

    pub fn describe(&self) -> String {
        match self {
            EnvSource::Literal => "a literal value in the manifest".to_string(),
            EnvSource::SecretKey { secret, key, .. } => format!("secret {secret} key {key}"),
            EnvSource::ConfigMapKey {
                config_map, key, ..
            } => format!("configmap {config_map} key {key}"),
            EnvSource::SecretEnvFrom { secret } => format!("envFrom secret {secret}"),
            EnvSource::ConfigMapEnvFrom { config_map } => format!("envFrom configmap {config_map}"),
            EnvSource::Downward => "the downward API".to_string(),
        }
    }
}

/// What we know of a variable's value.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Known(SecretValue),
    /// The Secret/ConfigMap exists but lacks the key, or the value is empty.
    Absent(String),
    /// We cannot tell (offline without the Secret, unreadable, downward API).
    Unknown(String),
}

impl EnvValue {
    pub fn known(&self) -> Option<&SecretValue> {
        match self {
            EnvValue::Known(v) => Some(v),
            _ => None,
        }
    }
}

/// One environment variable of one container.
#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: String,
    pub container: String,
    pub source: EnvSource,
    pub value: EnvValue,
    /// JSON pointer of the `env` item (or the `envFrom` item) inside the Deployment.
    pub pointer: String,
}

/// `envFrom` sources whose keys we could not list (offline, unreadable): any variable may come from them.
#[derive(Debug, Clone)]
pub struct OpaqueEnvFrom {
    pub container: String,
    pub source: EnvSource,
    pub reason: String,
    pub pointer: String,
}

#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: Vec<EnvVar>,
    pub opaque: Vec<OpaqueEnvFrom>,
}

impl Environment {
    /// The variable as the container sees it: explicit `env` wins over `envFrom`, as in Kubernetes.
    pub fn get(&self, name: &str) -> Option<&EnvVar> {
        self.vars.iter().filter(|v| v.name == name).min_by_key(|v| {
            matches!(
                v.source,
                EnvSource::SecretEnvFrom { .. } | EnvSource::ConfigMapEnvFrom { .. }
            )
        })
    }

    pub fn containers_with(&self, name: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .vars
            .iter()
            .filter(|v| v.name == name)
            .map(|v| v.container.as_str())
            .collect();
        names.dedup();
        names
    }
}

pub fn containers(deploy: &Deployment) -> &[Container] {
    deploy
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
}

/// Resolves every container's environment against the Secrets and ConfigMaps in `facts`.
pub fn resolve(deploy: &Deployment, namespace: &str, facts: &ClusterFacts) -> Environment {
    let mut env = Environment::default();
    for (ci, container) in containers(deploy).iter().enumerate() {
        let base = format!("/spec/template/spec/containers/{ci}");
        for (fi, from) in container.env_from.iter().flatten().enumerate() {
            let prefix = from.prefix.clone().unwrap_or_default();
            let pointer = format!("{base}/envFrom/{fi}");
            if let Some(r) = &from.secret_ref {
                let source = EnvSource::SecretEnvFrom {
                    secret: r.name.clone(),
                };
                match facts.secret(namespace, &r.name) {
                    Lookup::Found(secret) => {
                        for (key, value) in &secret.values {
                            env.vars.push(EnvVar {
                                name: format!("{prefix}{key}"),
                                container: container.name.clone(),
                                source: source.clone(),
                                value: known_or_empty(value.clone()),
                                pointer: pointer.clone(),
                            });
                        }
                    }
                    Lookup::Missing => {}
                    Lookup::Unknown(reason) => env.opaque.push(OpaqueEnvFrom {
                        container: container.name.clone(),
                        source,
                        reason,
                        pointer,
                    }),
                }
            } else if let Some(r) = &from.config_map_ref {
                let source = EnvSource::ConfigMapEnvFrom {
                    config_map: r.name.clone(),
                };
                match facts.config_map(namespace, &r.name) {
                    Lookup::Found(cm) => {
                        for (key, value) in cm.object.data.iter().flatten() {
                            env.vars.push(EnvVar {
                                name: format!("{prefix}{key}"),
                                container: container.name.clone(),
                                source: source.clone(),
                                value: known_or_empty(SecretValue::new(value.clone())),
                                pointer: pointer.clone(),
                            });
                        }
                    }
                    Lookup::Missing => {}
                    Lookup::Unknown(reason) => env.opaque.push(OpaqueEnvFrom {
                        container: container.name.clone(),
                        source,
                        reason,
                        pointer,
                    }),
                }
            }
        }
        for (ei, var) in container.env.iter().flatten().enumerate() {
            let (source, value) = explicit(var, namespace, facts);
            env.vars.push(EnvVar {
                name: var.name.clone(),
                container: container.name.clone(),
                source,
                value,
                pointer: format!("{base}/env/{ei}"),
            });
        }
    }
    env
}

fn explicit(
    var: &k8s_openapi::api::core::v1::EnvVar,
    namespace: &str,
    facts: &ClusterFacts,
) -> (EnvSource, EnvValue) {
    let Some(from) = &var.value_from else {
        return (
            EnvSource::Literal,
            known_or_empty(SecretValue::new(var.value.clone().unwrap_or_default())),
        );
    };
    if let Some(r) = &from.secret_key_ref {
        let source = EnvSource::SecretKey {
            secret: r.name.clone(),
            key: r.key.clone(),
            optional: r.optional.unwrap_or(false),
        };
        let value = match facts.secret(namespace, &r.name) {
            Lookup::Found(secret) => match secret.values.get(&r.key) {
                Some(value) => known_or_empty(value.clone()),
                None => EnvValue::Absent(format!("secret {} has no key {}", r.name, r.key)),
            },
            Lookup::Missing => EnvValue::Absent(format!("secret {} does not exist", r.name)),
            Lookup::Unknown(reason) => EnvValue::Unknown(reason),
        };
        return (source, value);
    }
    if let Some(r) = &from.config_map_key_ref {
        let source = EnvSource::ConfigMapKey {
            config_map: r.name.clone(),
            key: r.key.clone(),
            optional: r.optional.unwrap_or(false),
        };
        let value = match facts.config_map(namespace, &r.name) {
            Lookup::Found(cm) => match cm.object.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(value) => known_or_empty(SecretValue::new(value.clone())),
                None => EnvValue::Absent(format!("configmap {} has no key {}", r.name, r.key)),
            },
            Lookup::Missing => EnvValue::Absent(format!("configmap {} does not exist", r.name)),
            Lookup::Unknown(reason) => EnvValue::Unknown(reason),
        };
        return (source, value);
    }
    (
        EnvSource::Downward,
        EnvValue::Unknown("set by Kubernetes at run time".to_string()),
    )
}

fn known_or_empty(value: SecretValue) -> EnvValue {
    if value.is_blank() {
        EnvValue::Absent("the value is empty".to_string())
    } else {
        EnvValue::Known(value)
    }
}
