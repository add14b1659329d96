//! The health endpoint through the API server's service proxy
//! (`/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH`), as `kubectl get --raw` would ask it:
//! which Service and port lead to the pods' health path, and one GET that keeps any HTTP answer.

use super::Subject;
use super::remote::{HealthAnswer, Probe};

/// Where the health endpoint is reached through the API server's service proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRoute {
    pub namespace: String,
    pub service: String,
    /// The Service port's name, or its number when unnamed.
    pub port: String,
    pub path: String,
}

impl HealthRoute {
    pub fn proxy_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{}",
            self.namespace, self.service, self.port, self.path
        )
    }
}

/// Picks the Service that selects the pods and the port the readiness probe uses; the path is
/// `names.healthPath`, else the readiness (then liveness) probe's path, else `/health`.
pub fn health_route(s: &Subject) -> std::result::Result<HealthRoute, String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let labels = s
        .deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let containers = s.posthog_containers();
    let probe = containers.iter().find_map(|(_, c)| {
        c.readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.clone())
            .or_else(|| c.liveness_probe.as_ref().and_then(|p| p.http_get.clone()))
    });
    let path = s
        .names
        .health_path
        .clone()
        .or_else(|| probe.as_ref().and_then(|p| p.path.clone()))
        .unwrap_or_else(|| "/health".to_string());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let service = s
        .facts
        .services
        .iter()
        .find(|svc| {
            svc.namespace() == s.namespace
                && super::selector::service_matches(
                    svc.object.spec.as_ref().and_then(|sp| sp.selector.as_ref()),
                    &labels,
                )
        })
        .ok_or_else(|| {
            format!(
                "no Service in {} selects the pods, so the API server cannot proxy to the health endpoint (pass --health-url)",
                s.namespace
            )
        })?;
    let ports = service
        .object
        .spec
        .as_ref()
        .and_then(|sp| sp.ports.clone())
        .unwrap_or_default();
    // The container port number behind a named probe port, to match numeric targetPorts.
    let probe_number = probe.as_ref().and_then(|p| match &p.port {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => containers.iter().find_map(|(_, c)| {
            c.ports
                .iter()
                .flatten()
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .map(|cp| cp.container_port)
        }),
    });
    let chosen = ports
        .iter()
        .find(|sp| match (&sp.target_port, &probe) {
            (Some(IntOrString::String(t)), Some(p)) => p.port == IntOrString::String(t.clone()),
            (Some(IntOrString::Int(t)), _) => Some(*t) == probe_number,
            (None, _) => Some(sp.port) == probe_number,
            _ => false,
        })
        .or_else(|| ports.first())
        .ok_or_else(|| format!("Service {} has no port", service.name()))?;
    Ok(HealthRoute {
        namespace: s.namespace.clone(),
        service: service.name(),
        port: chosen
            .name
            .clone()
            .unwrap_or_else(|| chosen.port.to_string()),
        path,
    })
}

/// The health answer for `s` through the service proxy; skipped without a cluster (`client` is
/// `None` for manifest files and with `--offline`) or when no Service leads to its pods.
pub async fn health_of(
    client: Option<&kube::Client>,
    s: &Subject<'_>,
    timeout: std::time::Duration,
) -> Probe<HealthAnswer> {
    let Some(client) = client else {
        return Probe::Skipped("no cluster".to_string());
    };
    match health_route(s) {
        Ok(route) => probe_health(client, &route, timeout).await,
        Err(why) => Probe::Skipped(why),
    }
}

/// GET through the service proxy. Any HTTP answer is kept (a 503 from the app is an answer).
/// `client` should come from [`crate::kube::Cluster::client_without_retries`], built once per run.
pub async fn probe_health(
    client: &kube::Client,
    route: &HealthRoute,
    timeout: std::time::Duration,
) -> Probe<HealthAnswer> {
    let path = route.proxy_path();
    let via = format!("GET {path} (API server service proxy)");
    let request = match http::Request::get(&path).body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return Probe::Failed(format!("bad proxy path {path}: {e}")),
    };
    let started = std::time::Instant::now();
    let send = async {
        let response = client.send(request.map(kube::client::Body::from)).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect_bytes().await?;
        Ok::<_, kube::Error>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    match tokio::time::timeout(timeout, send).await {
        Err(_) => Probe::Failed(format!(
            "{via} did not answer within {}",
            humantime::format_duration(timeout)
        )),
        Ok(Err(e)) => Probe::Failed(format!("{via}: {e}")),
        Ok(Ok((status, body))) => Probe::Done(HealthAnswer {
            via,
            status,
            body,
            elapsed: started.elapsed(),
        }),
    }
}
