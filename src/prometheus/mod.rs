//! Prometheus HTTP API: instant queries for the canary analysis, query validation, and the
//! connection settings (URL, bearer token or basic auth from the environment or a Secret).

mod client;

pub use crate::config::prometheus::{
    BasicAuthConfig, CredentialRef, PrometheusConfig, SecretKeyRef,
};
pub use client::{Auth, Prometheus, QueryError, RangeSeries};

pub mod alert_table;
pub mod promql;
pub mod rules;

use crate::error::Result;

/// Environment variables read when the config file names no credentials.
pub const TOKEN_ENV: &str = "PROMETHEUS_BEARER_TOKEN";
pub const USERNAME_ENV: &str = "PROMETHEUS_USERNAME";
pub const PASSWORD_ENV: &str = "PROMETHEUS_PASSWORD";

impl PrometheusConfig {
    pub fn timeout(&self) -> Result<std::time::Duration> {
        match &self.timeout {
            None => Ok(std::time::Duration::from_secs(10)),
            Some(raw) => crate::config::duration::config_duration(
                "prometheus.timeout",
                raw,
                std::time::Duration::ZERO,
                crate::config::duration::MAX_DURATION,
            ),
        }
    }
}

/// The environment variable every command reads the Prometheus URL from when no flag gives one.
pub const URL_ENV: &str = "PROMETHEUS_URL";

/// Where the Prometheus URL comes from, in order: the command's `--prometheus-url`, then
/// `$PROMETHEUS_URL`, then a command's own config key (preflight's older `preflight.prometheusUrl`),
/// then `prometheus.url`. Empty values count as unset.
pub fn choose_url(
    flag: Option<&str>,
    env: Option<&str>,
    command_key: Option<&str>,
    config: &PrometheusConfig,
) -> Option<String> {
    [flag, env, command_key, config.url.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|url| !url.is_empty())
        .map(str::to_string)
}

impl PrometheusConfig {
    /// Whether the credentials are read from a Secret (so the cluster must be reached first).
    pub fn reads_a_secret(&self) -> bool {
        self.bearer_token
            .as_ref()
            .is_some_and(|c| c.secret.is_some())
            || self
                .basic_auth
                .as_ref()
                .is_some_and(|b| b.username.secret.is_some() || b.password.secret.is_some())
    }
}

/// Resolves the configured credentials. Secrets are read from the cluster (only when named).
pub async fn resolve_auth(
    config: &PrometheusConfig,
    cluster: Option<&crate::kube::Cluster>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Auth> {
    if let Some(token) = &config.bearer_token {
        let token = resolve(token, "prometheus.bearerToken", cluster, env).await?;
        return Ok(Auth::Bearer(token));
    }
    if let Some(basic) = &config.basic_auth {
        let username = resolve(
            &basic.username,
            "prometheus.basicAuth.username",
            cluster,
            env,
        )
        .await?;
        let password = resolve(
            &basic.password,
            "prometheus.basicAuth.password",
            cluster,
            env,
        )
        .await?;
        return Ok(Auth::Basic { username, password });
    }
    if let Some(token) = env(TOKEN_ENV).filter(|t| !t.is_empty()) {
        return Ok(Auth::Bearer(token));
    }
    if let (Some(username), Some(password)) = (env(USERNAME_ENV), env(PASSWORD_ENV)) {
        return Ok(Auth::Basic { username, password });
    }
    Ok(Auth::None)
}

async fn resolve(
    reference: &CredentialRef,
    what: &str,
    cluster: Option<&crate::kube::Cluster>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    crate::kube::resolve_credential(reference, what, cluster, env).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_url_comes_from_the_flag_then_the_environment_then_the_config() {
        let config = PrometheusConfig {
            url: Some("http://config:9090".into()),
            ..PrometheusConfig::default()
        };
        let chosen = |flag, env, key| choose_url(flag, env, key, &config);
        assert_eq!(
            chosen(Some("http://flag"), Some("http://env"), None).unwrap(),
            "http://flag"
        );
        assert_eq!(
            chosen(None, Some("http://env"), Some("http://key")).unwrap(),
            "http://env"
        );
        assert_eq!(
            chosen(None, Some(" "), Some("http://key")).unwrap(),
            "http://key"
        );
        assert_eq!(chosen(None, None, None).unwrap(), "http://config:9090");
        assert_eq!(
            choose_url(None, None, None, &PrometheusConfig::default()),
            None
        );
    }

    #[tokio::test]
    async fn credentials_from_env_by_default_or_as_configured() {
        let config = PrometheusConfig::default();
        let auth = resolve_auth(&config, None, &env_of(&[(TOKEN_ENV, "t0k")]))
            .await
            .unwrap();
        assert_eq!(auth, Auth::Bearer("t0k".into()));
        let auth = resolve_auth(
            &config,
            None,
            &env_of(&[(USERNAME_ENV, "u"), (PASSWORD_ENV, "p")]),
        )
        .await
        .unwrap();
        assert_eq!(
            auth,
            Auth::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            resolve_auth(&config, None, &env_of(&[])).await.unwrap(),
            Auth::None
        );

        let config = PrometheusConfig {
            bearer_token: Some(CredentialRef {
                env: Some("MY_TOKEN".into()),
                secret: None,
            }),
            ..PrometheusConfig::default()
        };
        let err = resolve_auth(&config, None, &env_of(&[])).await.unwrap_err();
        assert!(err.to_string().contains("MY_TOKEN is not set"), "{err}");
        assert_eq!(err.exit().code(), 2);
    }

    #[test]
    fn config_section_parses() {
        let config: crate::config::Config = crate::config::Config::parse(
            "prometheus:\n  url: http://prom:9090\n  timeout: 5s\n  basicAuth:\n    username: {env: U}\n    password: {secret: {name: prom, key: password}}\n",
        )
        .unwrap();
        assert_eq!(config.prometheus.url.as_deref(), Some("http://prom:9090"));
        assert_eq!(
            config.prometheus.timeout().unwrap(),
            std::time::Duration::from_secs(5)
        );
        let basic = config.prometheus.basic_auth.unwrap();
        assert_eq!(basic.password.secret.unwrap().key, "password");
    }
}
