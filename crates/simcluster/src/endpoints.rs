//! The endpoints controller: each Service with a selector gets an Endpoints object listing
//! its matching pods, ready ones under `addresses` and the rest under `notReadyAddresses`.

use serde_json::{Value, json};

use crate::controllers::replicaset::ready_since;
use crate::meta;
use crate::resources::ids;
use crate::selector::LabelSelector;
use crate::state::Shared;
use crate::store::UpdateMode;

const MANAGED: &str = "endpoints.kubernetes.io/managed-by";

pub(crate) fn sync_all(shared: &Shared) {
    let services = shared.store().list(ids::SERVICES, None);
    for svc in &services {
        sync_one(shared, svc);
    }
    // Endpoints we made for a Service that is gone go with it.
    let stale: Vec<(String, String)> = shared
        .store()
        .list(ids::ENDPOINTS, None)
        .iter()
        .filter(|e| meta::at(e, &["metadata", "labels", MANAGED]).is_some())
        .filter(|e| {
            !services
                .iter()
                .any(|s| meta::namespace(s) == meta::namespace(e) && meta::name(s) == meta::name(e))
        })
        .map(|e| (meta::namespace(e).to_string(), meta::name(e).to_string()))
        .collect();
    for (ns, name) in stale {
        let _ = shared.store().delete(ids::ENDPOINTS, &ns, &name);
    }
}

/// Ready pods behind a Service (used by the service proxy too).
pub(crate) fn service_pods(shared: &Shared, svc: &Value) -> (Vec<Value>, Vec<Value>) {
    let Some(sel) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
        return (Vec::new(), Vec::new());
    };
    if sel.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let sel = LabelSelector::from_map(sel);
    let pods = shared.store().list(ids::PODS, Some(meta::namespace(svc)));
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for p in pods.iter().filter(|p| sel.matches(meta::labels(p))) {
        // Terminating pods leave the endpoints at once, as with the endpoints controller.
        if meta::str_at(p, &["status", "podIP"]).is_none()
            || p.pointer("/metadata/deletionTimestamp").is_some()
        {
            continue;
        }
        if ready_since(p).is_some() {
            ready.push((**p).clone());
        } else {
            not_ready.push((**p).clone());
        }
    }
    (ready, not_ready)
}

/// Resolves a Service port's targetPort (number or container port name) on one pod.
pub(crate) fn target_port(svc_port: &Value, pod: Option<&Value>) -> i64 {
    let port = svc_port.get("port").and_then(Value::as_i64).unwrap_or(0);
    match svc_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(port),
        Some(Value::String(name)) => pod
            .and_then(|p| p.pointer("/spec/containers").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64))
            .unwrap_or(port),
        _ => port,
    }
}

fn address(p: &Value) -> Value {
    json!({
        "ip": meta::str_at(p, &["status", "podIP"]),
        "nodeName": meta::str_at(p, &["spec", "nodeName"]).unwrap_or(crate::kubelet::NODE),
        "targetRef": {"kind": "Pod", "namespace": meta::namespace(p), "name": meta::name(p), "uid": meta::uid(p)},
    })
}

fn sync_one(shared: &Shared, svc: &Value) {
    if svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .is_none_or(|s| s.is_empty())
    {
        return;
    }
    let (ready, not_ready) = service_pods(shared, svc);
    let sample = ready.first().or(not_ready.first());
    let ports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let mut e = json!({"port": target_port(p, sample), "protocol": p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")});
            if let Some(n) = p.get("name") {
                e["name"] = n.clone();
            }
            e
        })
        .collect();
    let mut subset = serde_json::Map::new();
    if !ready.is_empty() {
        subset.insert("addresses".into(), ready.iter().map(address).collect());
    }
    if !not_ready.is_empty() {
        subset.insert(
            "notReadyAddresses".into(),
            not_ready.iter().map(address).collect(),
        );
    }
    let subsets = if subset.is_empty() {
        json!([])
    } else {
        subset.insert("ports".into(), json!(ports));
        json!([subset])
    };
    let (ns, name) = (meta::namespace(svc), meta::name(svc));
    let mut labels = meta::labels(svc).clone();
    labels.insert(MANAGED.into(), json!("simcluster"));
    let existing = shared.store().get(ids::ENDPOINTS, ns, name);
    match existing {
        None => {
            let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
            let now = shared.now();
            let _ = shared.store().create(ids::ENDPOINTS, ep, now);
        }
        Some(ep) if ep.get("subsets") != Some(&subsets) => {
            shared.mutate(ids::ENDPOINTS, ns, name, UpdateMode::Main, |o| {
                o["subsets"] = subsets
            });
        }
        Some(_) => {}
    }
}
