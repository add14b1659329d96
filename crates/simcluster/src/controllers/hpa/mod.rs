//! The HorizontalPodAutoscaler controller. Every HPA is synced once per 15 s of sim time
//! (`--horizontal-pod-autoscaler-sync-period`; the first sync comes one period after its
//! creation, as the workqueue's fixed rate limiter delays it; a clock jump runs at most one
//! sync). A sync reads
//! the target's scale (a Deployment's or ReplicaSet's `spec.replicas` and selector), the pods
//! that selector matches (whichever workload owns them), their usage from the image scripts
//! and loads, then writes `spec.replicas` conditionally on the resourceVersion it read, the
//! status, and the events, as upstream's controller does.

mod calc;
mod normalize;
mod reconcile;
pub(crate) mod spec;
mod status;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::behavior::pod_image;
use crate::clock::{add_secs, parse_time};
use crate::meta;
use crate::quantity::parse_milli;
use crate::resources::{self, ResId, Sub, def, ids};
use crate::selector::LabelSelector;
use crate::state::{Shared, lock};
use crate::store::UpdateMode;
use crate::usage::{PodUsage, current_shares, pod_usage};
use calc::{PodView, Samples};
use normalize::History;
use reconcile::{ScaleView, World};
use spec::{HpaSpec, MetricSpec};

/// `--horizontal-pod-autoscaler-sync-period`.
const SYNC_SECS: f64 = 15.0;

/// One write of a target's `spec.replicas` by the HPA controller.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaScaling {
    /// Sim time of the write.
    pub at: Timestamp,
    pub namespace: String,
    pub hpa: String,
    /// `Deployment/web`.
    pub target: String,
    pub from: i32,
    pub to: i32,
    /// As in the SuccessfulRescale event: `cpu resource utilization (percentage of request)
    /// above target`, `All metrics below target`, …
    pub reason: String,
}

#[derive(Debug)]
struct Tracked {
    next_sync: Timestamp,
    history: History,
    /// The selector of its target's scale at the last sync: what other HPAs of the namespace
    /// check for overlap, as upstream's selector store (unknown until the first sync).
    selector: Option<LabelSelector>,
    namespace: String,
    name: String,
}

/// What the controller keeps between passes.
#[derive(Debug, Default)]
pub(crate) struct HpaState {
    tracked: HashMap<String, Tracked>,
    pub(crate) scalings: Vec<HpaScaling>,
}

pub(crate) fn sync_all(shared: &Shared) {
    let now = shared.now();
    let hpas = shared.store().list(ids::HPAS, None);
    let due: Vec<Arc<Value>> = {
        let mut st = lock(&shared.hpa);
        let live: HashSet<&str> = hpas.iter().map(|h| meta::uid(h)).collect();
        st.tracked.retain(|uid, _| live.contains(uid.as_str()));
        hpas.into_iter()
            .filter(|h| {
                // The informer sees a new HPA at once and the workqueue holds it one period.
                let created = meta::str_at(h, &["metadata", "creationTimestamp"])
                    .and_then(parse_time)
                    .unwrap_or(now);
                let t = st
                    .tracked
                    .entry(meta::uid(h).to_string())
                    .or_insert_with(|| Tracked {
                        next_sync: add_secs(created, SYNC_SECS),
                        history: History::default(),
                        selector: None,
                        namespace: meta::namespace(h).to_string(),
                        name: meta::name(h).to_string(),
                    });
                if now < t.next_sync {
                    return false;
                }
                t.next_sync = add_secs(now, SYNC_SECS);
                true
            })
            .collect()
    };
    for hpa in due {
        sync_one(shared, &hpa, now);
    }
}

/// The scale subresource of the target: its resource, object and scale view.
fn read_scale(
    shared: &Shared,
    ns: &str,
    spec: &HpaSpec,
) -> Result<(ResId, Value, ScaleView), String> {
    let Some(res) = resources::by_kind(&spec.target_api_version, &spec.target_kind) else {
        let (group, _) = resources::split_api_version(&spec.target_api_version);
        return Err(format!(
            "no matches for kind {:?} in group {group:?}",
            spec.target_kind
        ));
    };
    if !def(res).subresources.contains(&Sub::Scale) {
        return Err("the server could not find the requested resource".into());
    }
    let obj = shared
        .get_obj(res, ns, &spec.target_name)
        .map_err(|e| e.message)?;
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_object(s).ok())
        .map(|s| s.to_query())
        .unwrap_or_default();
    let replicas = meta::i64_at(&obj, &["spec", "replicas"]).unwrap_or(1);
    let view = ScaleView {
        spec_replicas: replicas.clamp(0, i64::from(i32::MAX)) as i32,
        selector,
    };
    Ok((res, obj, view))
}

fn pod_view(pod: &Value) -> PodView {
    let ready = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| {
            let since = parse_time(c.get("lastTransitionTime").and_then(Value::as_str)?)?;
            Some((
                c.get("status").and_then(Value::as_str) == Some("True"),
                since,
            ))
        });
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let requests: BTreeMap<String, i64> = c
                .pointer("/resources/requests")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), parse_milli(v.as_str()?)?)))
                .collect();
            (
                c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                requests,
            )
        })
        .collect();
    PodView {
        name: meta::name(pod).to_string(),
        deleting: pod.pointer("/metadata/deletionTimestamp").is_some(),
        phase: meta::str_at(pod, &["status", "phase"])
            .unwrap_or("Pending")
            .to_string(),
        ready,
        start_time: meta::str_at(pod, &["status", "startTime"]).and_then(parse_time),
        containers,
    }
}

/// Per-pod samples of one metric, as metrics-server or a custom metrics adapter answers.
fn samples(usage: &[PodUsage], m: &MetricSpec) -> Result<Samples, String> {
    let out: Samples = match m {
        MetricSpec::Resource { name, .. } => usage
            .iter()
            .filter_map(|u| {
                let v = match name.as_str() {
                    "cpu" => u.cpu_millicores,
                    "memory" => u.memory_bytes * 1000.0,
                    _ => return None,
                };
                Some((u.name.clone(), v.round() as i64))
            })
            .collect(),
        MetricSpec::Pods { name, .. } => usage
            .iter()
            .filter_map(|u| {
                Some((
                    u.name.clone(),
                    (u.custom.get(name)? * 1000.0).round() as i64,
                ))
            })
            .collect(),
        MetricSpec::Unsupported(_) => Samples::new(),
    };
    if !out.is_empty() {
        return Ok(out);
    }
    Err(match m {
        MetricSpec::Pods { name, .. } => format!(
            "unable to fetch metrics from custom metrics API: the server could not find the metric {name} for pods"
        ),
        _ => "no metrics returned from resource metrics API".into(),
    })
}

fn sync_one(shared: &Shared, hpa: &Value, now: Timestamp) {
    let (ns, uid) = (meta::namespace(hpa).to_string(), meta::uid(hpa).to_string());
    let spec = HpaSpec::read(hpa);
    let scale = read_scale(shared, &ns, &spec);
    let selector = scale
        .as_ref()
        .ok()
        .and_then(|(_, _, v)| LabelSelector::parse(&v.selector).ok());
    let all_pods = shared.store().list(ids::PODS, Some(&ns));
    let matched: Vec<Arc<Value>> = match &selector {
        Some(sel) => all_pods
            .iter()
            .filter(|p| sel.matches(meta::labels(p)))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let selecting = {
        let mut st = lock(&shared.hpa);
        if let Some(t) = st.tracked.get_mut(&uid) {
            t.selector = selector.clone();
        }
        let mut keys: Vec<String> = st
            .tracked
            .values()
            .filter(|t| t.namespace == ns)
            .filter(|t| {
                t.selector
                    .as_ref()
                    .is_some_and(|s| matched.iter().any(|p| s.matches(meta::labels(p))))
            })
            .map(|t| format!("{}/{}", t.namespace, t.name))
            .collect();
        keys.sort();
        keys
    };
    let shares = current_shares(shared, &all_pods);
    let scripts = shared.scripts().clone();
    let usage: Vec<PodUsage> = matched
        .iter()
        .filter_map(|p| {
            let rps = shares.get(meta::uid(p)).copied().unwrap_or(0.0);
            pod_usage(p, scripts.for_image(pod_image(p)), rps)
        })
        .collect();
    let views: Vec<PodView> = matched.iter().map(|p| pod_view(p)).collect();
    let source = |m: &MetricSpec| samples(&usage, m);
    let world = World {
        hpa,
        scale: scale
            .as_ref()
            .map(|(_, _, v)| v.clone())
            .map_err(Clone::clone),
        selecting,
        pods: &views,
        samples: &source,
        now,
    };
    let mut write = |to: i32| -> Result<(), String> {
        let Ok((res, target, _)) = &scale else {
            return Err("the target's scale was not read".into());
        };
        // The scale subresource's update: only spec.replicas, conditional on what was read.
        let mut obj = target.clone();
        obj["spec"]["replicas"] = json!(to);
        shared
            .store()
            .update(*res, obj, UpdateMode::Main)
            .map(|_| ())
            .map_err(|e| e.message)
    };
    let mut history = lock(&shared.hpa)
        .tracked
        .get(&uid)
        .map(|t| t.history.clone())
        .unwrap_or_default();
    let outcome = reconcile::reconcile(&world, &mut history, &mut write);
    {
        let mut st = lock(&shared.hpa);
        if let Some(t) = st.tracked.get_mut(&uid) {
            t.history = history;
        }
        if let Some((from, to, reason)) = &outcome.scaled {
            st.scalings.push(HpaScaling {
                at: now,
                namespace: ns.clone(),
                hpa: meta::name(hpa).to_string(),
                target: format!("{}/{}", spec.target_kind, spec.target_name),
                from: *from,
                to: *to,
                reason: reason.clone(),
            });
        }
    }
    let written = if hpa.get("status") != Some(&outcome.status) {
        shared.mutate(ids::HPAS, &ns, meta::name(hpa), UpdateMode::Status, |o| {
            o["status"] = outcome.status
        })
    } else {
        None
    };
    let involved = written.unwrap_or_else(|| hpa.clone());
    for (type_, reason, message) in &outcome.events {
        shared.record_event(
            &involved,
            type_,
            reason,
            message,
            "horizontal-pod-autoscaler",
        );
    }
}
