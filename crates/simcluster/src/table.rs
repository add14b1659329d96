//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl shows for a real
//! cluster (the apiserver's printers), NAME/AGE for everything else.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clock::{parse_time, secs_between};
use crate::meta;
use crate::resources::ResourceDef;

/// Kubernetes' `duration.HumanDuration`, used for AGE and LAST SEEN.
pub(crate) fn human_duration(secs: f64) -> String {
    let s = secs as i64;
    if s < -1 {
        return "<invalid>".into();
    }
    if s < 0 {
        return "0s".into();
    }
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rs = s % 60;
        return if rs == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rs}s")
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = s / 3600;
    if h < 8 {
        let rm = m % 60;
        return if rm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rm}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let rh = h % 24;
        return if rh == 0 {
            format!("{}d", h / 24)
        } else {
            format!("{}d{rh}h", h / 24)
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    if h < 24 * 365 * 8 {
        let dy = (h / 24) % 365;
        return if dy == 0 {
            format!("{}y", h / 24 / 365)
        } else {
            format!("{}y{dy}d", h / 24 / 365)
        };
    }
    format!("{}y", h / 24 / 365)
}

fn since(t: Option<&str>, now: Timestamp) -> String {
    match t.and_then(parse_time) {
        Some(t) => human_duration(secs_between(t, now)),
        None => "<unknown>".into(),
    }
}

fn age(o: &Value, now: Timestamp) -> Value {
    json!(since(
        meta::str_at(o, &["metadata", "creationTimestamp"]),
        now
    ))
}

fn col(name: &str, type_: &str, priority: i64) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": type_, "format": format, "description": "", "priority": priority})
}

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

/// Columns and cells for one resource.
fn columns(kind: &str) -> Vec<Value> {
    match kind {
        "Deployment" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "ReplicaSet" => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "Pod" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        "Event" => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Message", "string", 0),
        ],
        "Service" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            col("Age", "string", 0),
            col("Selector", "string", 1),
        ],
        "Secret" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Data", "string", 0),
            col("Age", "string", 0),
        ],
        "ConfigMap" => vec![
            col("Name", "string", 0),
            col("Data", "string", 0),
            col("Age", "string", 0),
        ],
        "Namespace" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        "Endpoints" => vec![
            col("Name", "string", 0),
            col("Endpoints", "string", 0),
            col("Age", "string", 0),
        ],
        "Node" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
        ],
        "HorizontalPodAutoscaler" => vec![
            col("Name", "string", 0),
            col("Reference", "string", 0),
            col("Targets", "string", 0),
            col("MinPods", "string", 0),
            col("MaxPods", "string", 0),
            col("Replicas", "string", 0),
            col("Age", "string", 0),
        ],
        "PodDisruptionBudget" => vec![
            col("Name", "string", 0),
            col("Min Available", "string", 0),
            col("Max Unavailable", "string", 0),
            col("Allowed Disruptions", "integer", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn cells(kind: &str, o: &Value, now: Timestamp) -> Vec<Value> {
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
                json!(meta::str_at(o, &["message"]).unwrap_or("")),
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
        "HorizontalPodAutoscaler" => {
            let r = o
                .pointer("/spec/scaleTargetRef")
                .cloned()
                .unwrap_or(Value::Null);
            let reference = format!(
                "{}/{}",
                r.get("kind").and_then(Value::as_str).unwrap_or(""),
                r.get("name").and_then(Value::as_str).unwrap_or("")
            );
            vec![
                name,
                json!(reference),
                json!("<unknown>"),
                json!(
                    meta::i64_at(o, &["spec", "minReplicas"])
                        .unwrap_or(1)
                        .to_string()
                ),
                json!(i(o, &["spec", "maxReplicas"]).to_string()),
                json!(i(o, &["status", "currentReplicas"]).to_string()),
                age(o, now),
            ]
        }
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
fn pod_cells(o: &Value, now: Timestamp) -> Vec<Value> {
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

/// The row object for `includeObject=Metadata` (the default): a PartialObjectMetadata.
fn row_object(o: &Value, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => o.clone(),
        _ => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({}))})
        }
    }
}

/// A Table of `items` (`list_meta` carries resourceVersion and continue).
pub(crate) fn table(
    def: &ResourceDef,
    items: &[Value],
    list_meta: Value,
    include: &str,
    now: Timestamp,
) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells": cells(def.kind, o, now), "object": row_object(o, include)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(def.kind),
        "rows": rows,
    })
}

pub(crate) fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5.0), "5s");
        assert_eq!(human_duration(119.0), "119s");
        assert_eq!(human_duration(150.0), "2m30s");
        assert_eq!(human_duration(600.0), "10m");
        assert_eq!(human_duration(3.0 * 3600.0 + 60.0), "3h1m");
        assert_eq!(human_duration(50.0 * 3600.0), "2d2h");
    }

    #[test]
    fn crashing_pod_row() {
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "web"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"finishedAt": "2024-01-01T00:00:48Z"}}}]}});
        let c = pod_cells(&pod, now);
        assert_eq!(c[1], "0/1");
        assert_eq!(c[2], "CrashLoopBackOff");
        assert_eq!(c[3], "3 (12s ago)");
        assert_eq!(c[4], "60s");
    }
}
