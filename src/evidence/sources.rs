//! The outside sources triage and evidence read besides the pods: the PostHog status page
//! (region-filtered, through `posthog::PostHogClient`) and the integration's health endpoint,
//! asked at `--health-url` or through the API server's service proxy, as
//! `kubectl get --raw /api/v1/namespaces/NS/services/NAME:PORT/proxy/health` would.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use serde::Serialize;
use url::Url;

use super::facts::{HealthView, Observed, StatusIncidentView, StatusView};
use crate::kube::Cluster;
use crate::posthog::{PostHogClient, Region, StatusSnapshot, parse_health};

/// Where the health endpoint is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "via")]
pub enum HealthTarget {
    /// `--health-url`, asked directly.
    Url { url: String },
    /// The API server's proxy to a Service selecting the Deployment's pods.
    Proxy {
        service: String,
        port: String,
        path: String,
    },
}

impl HealthTarget {
    pub fn describe(&self, namespace: &str) -> String {
        match self {
            HealthTarget::Url { url } => format!("GET {url}"),
            HealthTarget::Proxy {
                service,
                port,
                path,
            } => {
                format!("GET /api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path}")
            }
        }
    }
}

/// The Service whose selector picks the pods (a subset of their labels), preferring one named
/// like the Deployment, and its HTTP port (named `http`, else the first).
pub fn health_target_for(
    deployment: &str,
    pod_labels: &BTreeMap<String, String>,
    services: &[Service],
    path: &str,
) -> Result<HealthTarget, String> {
    let selects = |svc: &&Service| {
        svc.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| {
                !sel.is_empty() && sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
            })
    };
    let mut matching: Vec<&Service> = services.iter().filter(selects).collect();
    matching.sort_by_key(|s| s.metadata.name.as_deref() != Some(deployment));
    let service = matching
        .first()
        .ok_or_else(|| "no Service selects the Deployment's pods: pass --health-url".to_string())?;
    let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
    let port = ports
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some("http"))
                .or_else(|| ports.first())
        })
        .map(|p| {
            p.name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| p.port.to_string())
        })
        .ok_or_else(|| "the Service has no ports: pass --health-url".to_string())?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok(HealthTarget::Proxy {
        service: service.metadata.name.clone().unwrap_or_default(),
        port,
        path,
    })
}

/// Asks the health endpoint; any HTTP answer is a fact, only a failure to ask is not.
pub async fn probe_health(
    cluster: &Cluster,
    proxy: &kube::Client,
    posthog: &PostHogClient,
    target: &HealthTarget,
) -> Observed<HealthView> {
    let asked = target.describe(&cluster.namespace);
    let (status, body) = match target {
        HealthTarget::Url { url } => {
            let url = Url::parse(url).map_err(|e| format!("--health-url {url:?}: {e}"))?;
            match posthog.probe(&url).await {
                Ok(probe) => (probe.status, probe.body),
                Err(e) => {
                    return Ok(HealthView {
                        asked,
                        status: None,
                        reported: None,
                        posthog_connected: None,
                        posthog_latency_ms: None,
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        HealthTarget::Proxy {
            service,
            port,
            path,
        } => {
            let uri = format!(
                "/api/v1/namespaces/{}/services/{service}:{port}/proxy{path}",
                cluster.namespace
            );
            let request = http::Request::get(&uri)
                .body(kube::client::Body::empty())
                .map_err(|e| format!("{uri}: {e}"))?;
            let response = proxy
                .send(request)
                .await
                .map_err(|e| format!("{asked}: {}", super::logs::short_error(&e)))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| format!("{asked}: reading the answer: {e}"))?;
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    Ok(health_view(asked, status, &body))
}

/// Reads a health answer: the checklist's or the runbook's JSON shape; an API server Status
/// (no endpoints) or plain text only has its code.
pub fn health_view(asked: String, status: u16, body: &str) -> HealthView {
    let parsed = parse_health(body).ok();
    let is_status_object = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Status"));
    let (reported, connected, latency) = match parsed {
        Some(report) if !is_status_object => (report.status, report.connected, report.latency_ms),
        _ => (None, None, None),
    };
    let error = (is_status_object || (status >= 400 && reported.is_none())).then(|| {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.chars().take(160).collect());
        message.trim().to_string()
    });
    HealthView {
        asked,
        status: Some(status),
        reported,
        posthog_connected: connected,
        posthog_latency_ms: latency,
        error: error.filter(|e| !e.is_empty()),
    }
}

/// The status page settings: primary and fallback URLs and the region to filter by.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub primary: Url,
    pub fallback: Option<Url>,
    pub region: Option<Region>,
}

pub async fn status_view(
    posthog: &PostHogClient,
    settings: &StatusSettings,
) -> Observed<StatusView> {
    posthog
        .status(
            &settings.primary,
            settings.fallback.as_ref(),
            settings.region.as_ref(),
        )
        .await
        .map(|snapshot| to_status_view(&snapshot, settings.region.as_ref()))
        .map_err(|e| e.to_string())
}

pub fn to_status_view(snapshot: &StatusSnapshot, region: Option<&Region>) -> StatusView {
    StatusView {
        page_url: snapshot.page_url.clone(),
        region: region.map_or_else(|| "all".to_string(), Region::name),
        incidents: snapshot
            .incidents
            .iter()
            .map(|i| StatusIncidentView {
                name: i.name.clone(),
                impact: i.impact.clone(),
                status: i.status.clone(),
                url: i.url.clone(),
            })
            .collect(),
        indicator: snapshot.indicator.clone(),
    }
}

/// The region to filter the status page by: the config's, else the one `POSTHOG_HOST` names in
/// the pod template (a literal value), else none (every incident counts).
pub fn region_for(
    configured: Option<crate::posthog::RegionName>,
    spec: Option<&k8s_openapi::api::core::v1::PodSpec>,
) -> Option<Region> {
    if let Some(name) = configured {
        return Some(Region::from_name(name));
    }
    spec?
        .containers
        .iter()
        .flat_map(|c| c.env.iter().flatten())
        .filter(|e| e.name == "POSTHOG_HOST" || e.name == "POSTHOG_API_HOST")
        .find_map(|e| Region::from_host(e.value.as_deref()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, selector: serde_json::Value, ports: serde_json::Value) -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"selector": selector, "ports": ports}}),
        )
        .unwrap()
    }

    fn labels() -> BTreeMap<String, String> {
        [("app", "web"), ("tier", "api")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_service_selecting_the_pods_is_used_with_its_http_port() {
        let services = [
            service("other", json!({"app": "db"}), json!([{"port": 5432}])),
            service(
                "web-metrics",
                json!({"app": "web"}),
                json!([{"port": 9090}]),
            ),
            service(
                "web",
                json!({"app": "web", "tier": "api"}),
                json!([{"name": "grpc", "port": 9000}, {"name": "http", "port": 80}]),
            ),
        ];
        let target = health_target_for("web", &labels(), &services, "health").unwrap();
        assert_eq!(
            target,
            HealthTarget::Proxy {
                service: "web".into(),
                port: "http".into(),
                path: "/health".into()
            }
        );
        assert_eq!(
            target.describe("prod"),
            "GET /api/v1/namespaces/prod/services/web:http/proxy/health"
        );
        let only_metrics = &services[..2];
        let target = health_target_for("web", &labels(), only_metrics, "/health").unwrap();
        assert_eq!(
            target.describe("p"),
            "GET /api/v1/namespaces/p/services/web-metrics:9090/proxy/health"
        );
        let err = health_target_for("web", &labels(), &services[..1], "/health").unwrap_err();
        assert!(err.contains("--health-url"), "{err}");
    }

    #[test]
    fn health_answers_are_read_in_both_shapes_and_failures_keep_their_reason() {
        let ok = health_view(
            "x".into(),
            200,
            r#"{"status":"healthy","posthog":{"connected":true,"latencyMs":42}}"#,
        );
        assert!(ok.is_healthy());
        assert_eq!(
            (ok.posthog_connected, ok.posthog_latency_ms),
            (Some(true), Some(42.0))
        );
        let runbook = health_view(
            "x".into(),
            200,
            r#"{"services":{"posthog":{"status":"down"}}}"#,
        );
        assert_eq!(runbook.posthog_connected, Some(false));
        let degraded = health_view(
            "x".into(),
            503,
            r#"{"status":"degraded","posthog":{"connected":false}}"#,
        );
        assert!(!degraded.is_healthy());
        assert_eq!(degraded.error, None);
        let no_endpoints = health_view(
            "x".into(),
            503,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"web\"","code":503}"#,
        );
        assert!(!no_endpoints.is_healthy());
        assert_eq!(no_endpoints.reported, None);
        assert_eq!(
            no_endpoints.error.as_deref(),
            Some("no endpoints available for service \"web\"")
        );
    }

    #[test]
    fn region_from_config_or_posthog_host() {
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(json!({"containers": [
            {"name": "app", "env": [{"name": "POSTHOG_HOST", "value": "https://eu.i.posthog.com"}]}
        ]}))
        .unwrap();
        assert_eq!(region_for(None, Some(&spec)), Some(Region::Eu));
        assert_eq!(
            region_for(Some(crate::posthog::RegionName::Us), Some(&spec)),
            Some(Region::Us)
        );
        assert_eq!(region_for(None, None), None);
    }
}
