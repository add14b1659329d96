//! The service and pod proxy (`…/services/NAME[:PORT]/proxy/PATH`, `…/pods/NAME[:PORT]/proxy/PATH`),
//! answered from the scripted behaviour of a ready pod instead of a real connection.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::{Req, error_response, json_response, text_response};
use crate::behavior::pod_image;
use crate::error::ApiError;
use crate::meta;
use crate::resources::{ResId, ids};
use crate::state::Shared;

/// `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT`.
fn base_name(spec: &str) -> &str {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [scheme, name, _] if matches!(*scheme, "http" | "https") => name,
        [name, ..] => name,
        [] => spec,
    }
}

pub(crate) fn handle(
    shared: &Arc<Shared>,
    res: ResId,
    ns: &str,
    name_spec: &str,
    rest: &str,
    _req: &Req,
) -> Response {
    let name = base_name(name_spec);
    let pod = if res == ids::SERVICES {
        let svc = match shared.get_obj(ids::SERVICES, ns, name) {
            Ok(s) => s,
            Err(e) => return error_response(&e),
        };
        let (ready, _) = crate::endpoints::service_pods(shared, &svc);
        if ready.is_empty() {
            return error_response(&ApiError::new(
                503,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{name}\""),
            ));
        }
        // Spread requests over the ready pods, as kube-proxy would.
        let i = shared.store().rv() as usize % ready.len();
        ready[i].clone()
    } else {
        let pod = match shared.get_obj(ids::PODS, ns, name) {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        if meta::str_at(&pod, &["status", "phase"]) != Some("Running") {
            return error_response(&ApiError::new(
                503,
                "ServiceUnavailable",
                format!("error trying to reach service: pod {name} is not running"),
            ));
        }
        pod
    };
    answer(shared, &pod, rest)
}

fn answer(shared: &Arc<Shared>, pod: &Value, rest: &str) -> Response {
    let path = format!("/{}", rest.trim_start_matches('/'));
    if path == "/metrics" {
        let text = crate::traffic::pod_exposition(shared, meta::namespace(pod), meta::name(pod));
        return text_response(200, "text/plain; version=0.0.4; charset=utf-8", text);
    }
    let behavior = shared.scripts().for_image(pod_image(pod)).clone();
    let health = behavior.health;
    let is_health = ["health", "live", "ready", "status"]
        .iter()
        .any(|k| path.contains(k))
        || path == "/";
    if is_health {
        return json_response(health.status, &health.body);
    }
    json_response(
        health.status,
        &json!({"path": path, "pod": meta::name(pod), "ok": health.status < 400}),
    )
}
