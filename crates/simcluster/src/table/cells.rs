//! The cells of each row, computed like the apiserver's printers (pods' READY, STATUS and
//! RESTARTS as kubectl shows them; events' LAST SEEN and OBJECT; services' PORT(S); …).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{age, since};
use crate::meta;

fn i(o: &Value, path: &[&str]) -> i64 {
    meta::i64_at(o, path).unwrap_or(0)
}

fn containers_and_images(o: &Value, pointer: &str) -> (String, String) {
    let cs = o
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: Option<&Value>) -> String {
    sel.and_then(|s| crate::selector::LabelSelector::from_object(s).ok())
        .map(|s| s.to_query())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into())
}

pub(super) fn cells(kind: &str, o: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(meta::name(o));
    match kind {
        "Deployment" => {
            let (c, im) = containers_and_images(o, "/spec/template/spec/containers");
            let desired = meta::i64_at(o, &["spec", "replicas"]).unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{desired}", i(o, &["status", "readyReplicas"]))),
                json!(i(o, &["status", "updatedReplicas"])),
                json!(i(o, &["status", "availableReplicas"])),
                age(o, now),
                json!(c),
                json!(im),
                json!(selector_string(o.pointer("/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let (c, im) = containers_and_images(o, "/spec/template/spec/containers");
            vec![
                name,
                json!(meta::i64_at(o, &["spec", "replicas"]).unwrap_or(1)),
                json!(i(o, &["status", "replicas"])),
                json!(i(o, &["status", "readyReplicas"])),
                age(o, now),
                json!(c),
                json!(im),
                json!(selector_string(o.pointer("/spec/selector"))),
            ]
        }
        "Pod" => pod_cells(o, now),
        "Event" => {
            let involved = o.get("involvedObject").cloned().unwrap_or(Value::Null);
            let kind = involved
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            let last = meta::str_at(o, &["lastTimestamp"]).or(meta::str_at(o, &["eventTime"]));
            vec![
                json!(since(last, now)),
                json!(meta::str_at(o, &["type"]).unwrap_or("")),
                json!(meta::str_at(o, &["reason"]).unwrap_or("")),
                json!(format!(
                    "{kind}/{}",
                    involved.get("name").and_then(Value::as_str).unwrap_or("")
                )),
                json!(
                    involved
                        .get("fieldPath")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
                json!(event_source(o)),
                json!(meta::str_at(o, &["message"]).unwrap_or("")),
                json!(since(meta::str_at(o, &["firstTimestamp"]), now)),
                json!(meta::i64_at(o, &["count"]).unwrap_or(1).to_string()),
                json!(meta::name(o)),
            ]
        }
        "Service" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) => format!("{port}:{np}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect();
            let sel = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| crate::selector::LabelSelector::from_map(m).to_query())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                json!(meta::str_at(o, &["spec", "type"]).unwrap_or("ClusterIP")),
                json!(meta::str_at(o, &["spec", "clusterIP"]).unwrap_or("<none>")),
                json!("<none>"),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
                age(o, now),
                json!(sel),
            ]
        }
        "Secret" => vec![
            name,
            json!(meta::str_at(o, &["type"]).unwrap_or("Opaque")),
            json!(
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
                    .to_string()
            ),
            age(o, now),
        ],
        "ConfigMap" => vec![
            name,
            json!(
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
                    .to_string()
            ),
            age(o, now),
        ],
        "Namespace" => vec![
            name,
            json!(meta::str_at(o, &["status", "phase"]).unwrap_or("Active")),
            age(o, now),
        ],
        "Endpoints" => {
            let mut addrs = Vec::new();
            for s in o
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = s
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("port").and_then(Value::as_i64))
                    .collect();
                for a in s
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = a.get("ip").and_then(Value::as_str).unwrap_or("");
                    if ports.is_empty() {
                        addrs.push(ip.to_string())
                    } else {
                        addrs.extend(ports.iter().map(|p| format!("{ip}:{p}")))
                    }
                }
            }
            vec![
                name,
                json!(if addrs.is_empty() {
                    "<none>".to_string()
                } else {
                    addrs.join(",")
                }),
                age(o, now),
            ]
        }
        "Node" => vec![
            name,
            json!("Ready"),
            json!("<none>"),
            age(o, now),
            json!(meta::str_at(o, &["status", "nodeInfo", "kubeletVersion"]).unwrap_or("v1.34.0")),
        ],
        "HorizontalPodAutoscaler" => super::hpa::cells(o, now),
        "Lease" => vec![
            name,
            json!(meta::str_at(o, &["spec", "holderIdentity"]).unwrap_or("")),
            age(o, now),
        ],
        "PodDisruptionBudget" => {
            let show = |k: &str| {
                o.pointer(&format!("/spec/{k}"))
                    .map(|v| {
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_else(|| "N/A".into())
            };
            vec![
                name,
                json!(show("minAvailable")),
                json!(show("maxUnavailable")),
                json!(i(o, &["status", "disruptionsAllowed"])),
                age(o, now),
            ]
        }
        _ => vec![name, age(o, now)],
    }
}

/// The STATUS, READY and RESTARTS cells as kubectl's pod printer computes them.
pub(super) fn pod_cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let mut reason = meta::str_at(o, &["status", "reason"])
        .or(meta::str_at(o, &["status", "phase"]))
        .unwrap_or("Pending")
        .to_string();
    let mut restarts = 0;
    let mut last_restart: Option<&str> = None;
    for s in statuses.iter().rev() {
        restarts += s.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        if let Some(f) = s
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
        {
            last_restart = Some(last_restart.map_or(f, |l| l.max(f)));
        }
        if let Some(w) = s.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = w.to_string();
        } else if let Some(t) = s.pointer("/state/terminated") {
            reason = t
                .get("reason")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| "Error".into());
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    vec![
        json!(meta::name(o)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(o, now),
        json!(meta::str_at(o, &["status", "podIP"]).unwrap_or("<none>")),
        json!(meta::str_at(o, &["spec", "nodeName"]).unwrap_or("<none>")),
        json!("<none>"),
        json!("<none>"),
    ]
}

/// `component, host` as kubectl's event printer shows the source.
fn event_source(o: &Value) -> String {
    let component = meta::str_at(o, &["source", "component"]).unwrap_or("");
    match meta::str_at(o, &["source", "host"]) {
        Some(h) if !h.is_empty() => format!("{component}, {h}"),
        _ => component.to_string(),
    }
}
