//! The pod status the kubelet reports: phase, conditions, IPs and container statuses
//! (state, lastState, restartCount, ready) derived from the pod's runtime state.

use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{PodRuntime, Stage, backoff_secs};
use crate::clock::rfc3339;
use crate::meta;

use super::HOST_IP;

fn container_id(uid: &str, restarts: u32) -> String {
    let mut h = Sha256::new();
    h.update(format!("{uid}/{restarts}"));
    format!("containerd://{}", hex::encode(h.finalize()))
}

fn cond(type_: &str, ok: bool, at: Timestamp) -> Value {
    json!({"type": type_, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": rfc3339(at)})
}

/// The pod status the kubelet reports for `rt`.
pub(crate) fn pod_status(pod: &Value, rt: &PodRuntime) -> Value {
    let uid = meta::uid(pod);
    let ready = rt.ready_at.is_some() && rt.stage == Stage::Running;
    let running = rt.stage != Stage::Creating;
    let state = match rt.stage {
        Stage::Creating => json!({"waiting": {"reason": "ContainerCreating"}}),
        Stage::Running => json!({"running": {"startedAt": rt.started_at.map(rfc3339)}}),
        Stage::BackOff => {
            let c = pod
                .pointer("/spec/containers/0/name")
                .and_then(Value::as_str)
                .unwrap_or("app");
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off {}s restarting failed container={c} pod={}_{}({uid})",
                backoff_secs(rt.restarts) as i64, meta::name(pod), meta::namespace(pod))}})
        }
    };
    let last_state = match &rt.last_term {
        Some(t) => json!({"terminated": {
            "exitCode": t.exit_code, "reason": t.reason,
            "startedAt": rfc3339(t.started), "finishedAt": rfc3339(t.finished),
            "containerID": container_id(uid, rt.restarts.saturating_sub(1)),
        }}),
        None => json!({}),
    };
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let mut s = json!({
                "name": c.get("name").cloned().unwrap_or(Value::Null),
                "image": image,
                "imageID": format!("docker.io/library/{image}@sha256:{}", &hex::encode(Sha256::digest(image.as_bytes()))),
                "ready": ready,
                "restartCount": rt.restarts,
                "started": rt.stage == Stage::Running,
                "state": state,
                "lastState": last_state,
            });
            if running {
                s["containerID"] = json!(container_id(uid, rt.restarts));
            }
            s
        })
        .collect();
    let started = rt.started_at.unwrap_or(rt.scheduled_at);
    json!({
        "phase": if running { "Running" } else { "Pending" },
        "conditions": [
            cond("PodReadyToStartContainers", running, started),
            cond("Initialized", true, rt.scheduled_at),
            cond("Ready", ready, rt.ready_changed),
            cond("ContainersReady", ready, rt.ready_changed),
            cond("PodScheduled", true, rt.scheduled_at),
        ],
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": rt.ip,
        "podIPs": [{"ip": rt.ip}],
        "startTime": rfc3339(rt.scheduled_at),
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    })
}
