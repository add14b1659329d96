//! The ReplicaSet controller: keeps `spec.replicas` pods (`<rs-name>-<5 random chars>`,
//! controller-owned) and reports replicas, ready and available counts, where available
//! means ready for at least `minReadySeconds`.

use serde_json::{Value, json};

use crate::clock::{parse_time, secs_between};
use crate::meta;
use crate::resources::ids;
use crate::state::Shared;
use crate::store::UpdateMode;

const BURST: i64 = 500;

pub(crate) fn sync_all(shared: &Shared) {
    let sets = shared.store().list(ids::REPLICASETS, None);
    for rs in sets {
        sync_one(shared, &rs);
    }
}

/// Ready and not being deleted: what endpoints and traffic count.
pub(crate) fn serving(pod: &Value) -> bool {
    ready_since(pod).is_some() && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Whether the pod's Ready condition is True, and since when.
pub(crate) fn ready_since(pod: &Value) -> Option<&str> {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
        .map(|c| {
            c.get("lastTransitionTime")
                .and_then(Value::as_str)
                .unwrap_or("")
        })
}

fn sync_one(shared: &Shared, rs: &Value) {
    if rs.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = meta::namespace(rs).to_string();
    let uid = meta::uid(rs).to_string();
    let want = meta::i64_at(rs, &["spec", "replicas"]).unwrap_or(1).max(0);
    let mut pods: Vec<Value> = shared
        .store()
        .list(ids::PODS, Some(&ns))
        .iter()
        .filter(|p| meta::controller_uid(p) == Some(uid.as_str()))
        // Terminating pods are no longer counted; their replacements start at once.
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .map(|p| (**p).clone())
        .collect();
    let have = pods.len() as i64;
    if have < want {
        // At most BURST creations per pass, like the controller's burstReplicas.
        for _ in have..want.min(have + BURST) {
            if let Some(p) = create_pod(shared, rs) {
                pods.push(p);
            }
        }
    } else if have > want {
        // Delete the least useful first: not ready before ready, newest before oldest.
        pods.sort_by_key(|p| {
            let ready = ready_since(p).is_some();
            let running = meta::str_at(p, &["status", "phase"]) == Some("Running");
            let created = meta::str_at(p, &["metadata", "creationTimestamp"])
                .unwrap_or("")
                .to_string();
            (ready, running, std::cmp::Reverse(created))
        });
        let doomed: Vec<Value> = pods.drain(..(have - want) as usize).collect();
        for p in doomed {
            let pod_name = meta::name(&p).to_string();
            if shared
                .delete_obj(
                    ids::PODS,
                    &ns,
                    &pod_name,
                    crate::ops::Propagation::Background,
                )
                .is_ok()
            {
                shared.record_event(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pod_name}"),
                    "replicaset-controller",
                );
            }
        }
    }
    write_status(shared, rs, &pods);
}

fn create_pod(shared: &Shared, rs: &Value) -> Option<Value> {
    let rs_name = meta::name(rs);
    let template = rs
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let now = shared.now();
    let mut store = shared.store();
    let name = format!("{rs_name}-{}", store.random_suffix(5));
    let mut metadata = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let m = meta::obj_mut(&mut metadata, &[]);
    m.insert("name".into(), json!(name));
    m.insert("generateName".into(), json!(format!("{rs_name}-")));
    m.insert("namespace".into(), json!(meta::namespace(rs)));
    m.insert("ownerReferences".into(), json!([meta::controller_ref(rs)]));
    let spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let created = store.create(ids::PODS, pod, now).ok()?;
    drop(store);
    shared.record_event(
        rs,
        "Normal",
        "SuccessfulCreate",
        &format!("Created pod: {name}"),
        "replicaset-controller",
    );
    Some(created)
}

fn write_status(shared: &Shared, rs: &Value, pods: &[Value]) {
    let now = shared.now();
    let min_ready = meta::i64_at(rs, &["spec", "minReadySeconds"]).unwrap_or(0) as f64;
    let selector = rs
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            let l = meta::labels(p);
            selector.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count() as i64;
    let ready = pods.iter().filter(|p| ready_since(p).is_some()).count() as i64;
    let available = pods
        .iter()
        .filter_map(|p| ready_since(p))
        .filter(|since| {
            min_ready <= 0.0 || parse_time(since).is_some_and(|t| secs_between(t, now) >= min_ready)
        })
        .count() as i64;
    let mut status = serde_json::Map::new();
    status.insert("replicas".into(), json!(pods.len()));
    for (k, v) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if v > 0 {
            status.insert(k.into(), json!(v));
        }
    }
    status.insert(
        "observedGeneration".into(),
        json!(meta::i64_at(rs, &["metadata", "generation"]).unwrap_or(1)),
    );
    let status = Value::Object(status);
    if rs.get("status") != Some(&status) {
        shared.mutate(
            ids::REPLICASETS,
            meta::namespace(rs),
            meta::name(rs),
            UpdateMode::Status,
            |o| o["status"] = status,
        );
    }
}
