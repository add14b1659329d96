//! The `prometheus:` section of the configuration file: where Prometheus is and how to
//! authenticate. One section for every command that reads Prometheus.
//!
//! ```yaml
//! prometheus:
//!   url: http://prometheus.monitoring:9090
//!   timeout: 10s
//!   bearerToken: { secret: { name: prom-auth, key: token } }   # or { env: PROM_TOKEN }
//!   # basicAuth: { username: { env: PROM_USER }, password: { secret: { name: prom, key: password } } }
//! ```

use serde::Deserialize;

/// The `prometheus:` section of the configuration file.
///
/// ```yaml
/// prometheus:
///   url: http://prometheus.monitoring:9090
///   timeout: 10s
///   bearerToken: { secret: { name: prom-auth, key: token } }   # or { env: PROM_TOKEN }
///   # basicAuth: { username: { env: PROM_USER }, password: { secret: { name: prom, key: password } } }
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API (`--prometheus-url` wins).
    pub url: Option<String>,
    /// Per-request timeout, e.g. `10s`.
    pub timeout: Option<String>,
    pub bearer_token: Option<CredentialRef>,
    pub basic_auth: Option<BasicAuthConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: CredentialRef,
    pub password: CredentialRef,
}

/// Where a credential comes from: an environment variable or a key of a Secret.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialRef {
    pub env: Option<String>,
    pub secret: Option<SecretKeyRef>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
    /// Default: the target's namespace.
    pub namespace: Option<String>,
}
