//! The quick triage's fetch step, shared by `triage` and `evidence`: the status page, the health
//! endpoint, the error rates, the logs' error lines and the pods, all at once.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use url::Url;

use super::EvidenceConfig;
use super::facts::{Observed, PodsView, TriageFacts};
use super::metrics::{AlertQuery, alert_queries, instant_rates};
use super::redact::{Redactor, SecretValue};
use super::secrets::{SecretUse, key_source, read_secrets, referenced_secrets};
use super::settings::Settings;
use super::sources::{
    HealthTarget, StatusSettings, health_target_for, probe_health, region_for, status_view,
};
use super::workload::{Workload, container_env, pod_health};
use crate::error::{Error, Result};
use crate::kube::Cluster;
use crate::posthog::{PostHogClient, STATUS_FALLBACK_URL, STATUS_URL};
use crate::prometheus::Prometheus;

/// What the user asked for the outside sources (`--health-url`, `--status-url`).
#[derive(Debug, Clone, Default)]
pub struct SourceFlags {
    pub health_url: Option<String>,
    pub status_url: Option<String>,
}

/// Clients and settings for the outside sources.
pub struct Connections {
    pub posthog: PostHogClient,
    pub status: StatusSettings,
    pub prometheus: std::result::Result<Prometheus, String>,
    pub prometheus_url: Option<String>,
    /// For the service proxy: no retry of 503 (see `Cluster::client_without_retries_within`).
    pub proxy: std::result::Result<kube::Client, String>,
}

/// Builds the clients. A bad flag or config value is an error (exit 2); an unconfigured
/// Prometheus is not: it becomes a recorded missing source.
pub fn connect(
    settings: &Settings,
    cluster: &Cluster,
    workload: &Workload,
    args: &SourceFlags,
    prometheus: Option<Prometheus>,
) -> Result<Connections> {
    let posthog = PostHogClient::new(settings.posthog_timeout)
        .map_err(|e| Error::Input(format!("cannot build the HTTP client: {e}")))?;
    let parse = |what: &str, raw: &str| {
        Url::parse(raw).map_err(|e| Error::Usage(format!("{what} {raw:?} is not a URL: {e}")))
    };
    let config = &settings.posthog;
    let primary_raw = args
        .status_url
        .clone()
        .or_else(|| config.status_url.clone())
        .unwrap_or_else(|| STATUS_URL.to_string());
    let primary = parse("--status-url", &primary_raw)?;
    // An explicit status URL (a mirror, a stand-in) is not silently replaced by the public page.
    let fallback = match (&config.status_fallback_url, &args.status_url) {
        (Some(raw), _) if raw.is_empty() => None,
        (Some(raw), _) => Some(parse("posthog.statusFallbackUrl", raw)?),
        (None, Some(_)) => None,
        (None, None) => Some(parse("fallback", STATUS_FALLBACK_URL)?),
    };
    if let Some(url) = &args.health_url {
        parse("--health-url", url)?;
    }
    let status = StatusSettings {
        primary,
        fallback,
        region: region_for(config.region, workload.pod_spec()),
    };
    let prometheus_url = prometheus.as_ref().map(|p| p.url().to_string());
    let prometheus = prometheus.ok_or_else(|| {
        "not configured (pass --prometheus-url, set PROMETHEUS_URL or prometheus.url)".to_string()
    });
    Ok(Connections {
        posthog,
        status,
        prometheus,
        prometheus_url,
        // Through the proxy a 503 is an answer: no retries, and the settings' bounded wait.
        proxy: cluster
            .client_without_retries_within(Some(settings.proxy_timeout))
            .map_err(|e| e.to_string()),
    })
}

/// The referenced Secrets, read once: names and key names for the bundle, values for redaction.
pub struct SecretsRead {
    pub uses: Vec<SecretUse>,
    pub values: Vec<SecretValue>,
}

pub async fn secrets(cluster: &Cluster, workload: &Workload) -> SecretsRead {
    let mut uses = workload
        .pod_spec()
        .map(referenced_secrets)
        .unwrap_or_default();
    // The canary may reference Secrets the stable does not (a rotated key under test).
    if let Some(spec) = workload
        .canary
        .as_ref()
        .and_then(|c| c.spec.as_ref()?.template.spec.as_ref())
    {
        for extra in referenced_secrets(spec) {
            if !uses.iter().any(|u| u.name == extra.name) {
                uses.push(extra);
            }
        }
    }
    let values = read_secrets(cluster, &mut uses).await;
    SecretsRead { uses, values }
}

/// The alert queries for the triage window, or why there are none.
pub fn triage_queries(
    settings: &Settings,
    namespace: &str,
    workload: &Workload,
) -> Result<Vec<AlertQuery>> {
    alert_queries(
        &settings.naming,
        &settings.evidence.queries,
        namespace,
        workload.name(),
        settings.triage_window,
    )
    .map_err(Error::Input)
}

/// What the quick triage reads with, besides the cluster.
pub struct TriageInputs<'a> {
    pub connections: &'a Connections,
    pub secrets: &'a SecretsRead,
    pub redactor: &'a Redactor,
    pub settings: &'a Settings,
    pub health_url: Option<&'a str>,
    pub queries: &'a [AlertQuery],
    pub now: jiff::Timestamp,
}

/// The quick triage's whole fetch: the alert queries for the window, the referenced Secrets
/// (their values only to redact the log lines), then the five reads at once.
pub async fn fetch_triage(
    cluster: &Cluster,
    workload: &Workload,
    settings: &Settings,
    connections: &Connections,
    health_url: Option<&str>,
    now: jiff::Timestamp,
) -> Result<TriageFacts> {
    let queries = triage_queries(settings, &cluster.namespace, workload)?;
    let secrets = secrets(cluster, workload).await;
    let (redactor, _) = Redactor::new(&secrets.values);
    let inputs = TriageInputs {
        connections,
        secrets: &secrets,
        redactor: &redactor,
        settings,
        health_url,
        queries: &queries,
        now,
    };
    Ok(triage_facts(cluster, workload, inputs).await)
}

/// Runs the quick triage's five reads at once.
pub async fn triage_facts(
    cluster: &Cluster,
    workload: &Workload,
    inputs: TriageInputs<'_>,
) -> TriageFacts {
    let window = inputs.settings.triage_window;
    let config = &inputs.settings.evidence;
    let pods: Vec<_> = workload.pods.iter().map(|(p, _)| p.clone()).collect();
    let (remote, log_errors) = tokio::join!(
        remote_facts(
            cluster,
            workload,
            inputs.connections,
            config,
            inputs.health_url,
            inputs.queries
        ),
        super::logs::recent_errors(
            cluster,
            &pods,
            window.as_secs() as i64,
            config.log_concurrency(),
            inputs.redactor
        ),
    );
    assemble(
        cluster,
        workload,
        inputs.secrets,
        remote,
        log_errors,
        inputs.now,
    )
}

/// The triage's reads of everything but the logs: status page, health endpoint, error rates.
pub struct RemoteFacts {
    pub status_page: Observed<super::facts::StatusView>,
    pub health: Observed<super::facts::HealthView>,
    pub error_rates: Observed<super::facts::ErrorRates>,
}

pub async fn remote_facts(
    cluster: &Cluster,
    workload: &Workload,
    connections: &Connections,
    config: &EvidenceConfig,
    health_url: Option<&str>,
    queries: &[AlertQuery],
) -> RemoteFacts {
    let (status_page, health, error_rates) = tokio::join!(
        status_view(&connections.posthog, &connections.status),
        health(cluster, workload, connections, config, health_url),
        async {
            match &connections.prometheus {
                Ok(prometheus) => instant_rates(prometheus, queries).await,
                Err(reason) => Err(format!("Prometheus {reason}")),
            }
        },
    );
    RemoteFacts {
        status_page,
        health,
        error_rates,
    }
}

/// The facts from the reads and the objects already fetched (pods, key source, env).
pub fn assemble(
    cluster: &Cluster,
    workload: &Workload,
    secrets: &SecretsRead,
    remote: RemoteFacts,
    log_errors: super::facts::LogErrors,
    now: jiff::Timestamp,
) -> TriageFacts {
    let streams: usize = workload
        .pods
        .iter()
        .map(|(p, _)| super::workload::container_names(p).len())
        .sum();
    let log_errors: Observed<_> = if streams > 0 && log_errors.unreadable.len() == streams {
        Err(format!(
            "no pod's log could be read: {}",
            log_errors.unreadable.join("; ")
        ))
    } else {
        Ok(log_errors)
    };
    TriageFacts {
        deployment: workload.name().to_string(),
        namespace: cluster.namespace.clone(),
        selector: workload.selector(),
        observed_at: now,
        status_page: remote.status_page,
        health: remote.health,
        error_rates: remote.error_rates,
        log_errors,
        pods: Ok(PodsView {
            desired: workload.desired(),
            pods: workload
                .pods
                .iter()
                .map(|(p, t)| pod_health(p, *t))
                .collect(),
        }),
        api_key: key_source(workload.pod_spec(), &secrets.uses, &secrets.values),
        containers: container_env(workload.pod_spec()),
    }
}

async fn health(
    cluster: &Cluster,
    workload: &Workload,
    connections: &Connections,
    config: &EvidenceConfig,
    health_url: Option<&str>,
) -> Observed<super::facts::HealthView> {
    let target = match health_url {
        Some(url) => HealthTarget::Url {
            url: url.to_string(),
        },
        None => {
            let services: Api<Service> =
                Api::namespaced(cluster.client.clone(), &cluster.namespace);
            let list = services
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("list services: {}", super::logs::short_error(&e)))?;
            let labels: BTreeMap<String, String> = workload
                .deployment
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref()?.labels.clone())
                .unwrap_or_default();
            health_target_for(workload.name(), &labels, &list.items, config.health_path())?
        }
    };
    let proxy = connections
        .proxy
        .as_ref()
        .map_err(|e| format!("service proxy: {e}"))?;
    probe_health(cluster, proxy, &connections.posthog, &target).await
}
