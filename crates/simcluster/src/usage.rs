//! Offered load and what pods use under it. A load is a request rate offered to the pods a
//! label selector matches, spread evenly over the ready ones (as a Service spreads it), so
//! adding pods lowers each one's share. A pod's CPU, memory and custom metrics follow its
//! image's [`Usage`](crate::Usage) script from that share; the HPA controller reads them
//! (as it reads metrics-server) and so does the traffic simulation (the rate each pod serves).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::behavior::{MetricScript, PodBehavior, pod_image};
use crate::controllers::replicaset::serving;
use crate::meta;
use crate::resources::ids;
use crate::selector::LabelSelector;
use crate::state::{Shared, lock};

/// A request rate offered to the pods a selector matches in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Load {
    pub(crate) namespace: String,
    /// As given, to replace or clear this load later.
    pub(crate) text: String,
    pub(crate) selector: LabelSelector,
    pub(crate) rps: f64,
}

/// Each ready pod's share of the loads that match it (requests/s), by pod uid. Pods no load
/// matches are absent: they serve their script's own rate.
pub(crate) fn shares(loads: &[Load], pods: &[Arc<Value>]) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for load in loads {
        let targets: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| {
                meta::namespace(p) == load.namespace && load.selector.matches(meta::labels(p))
            })
            .collect();
        let ready = targets.iter().filter(|p| serving(p)).count();
        for p in targets {
            let share = if ready > 0 && serving(p) {
                load.rps.max(0.0) / ready as f64
            } else {
                0.0
            };
            *out.entry(meta::uid(p).to_string()).or_insert(0.0) += share;
        }
    }
    out
}

/// The current loads' shares over every pod in the store.
pub(crate) fn current_shares(shared: &Shared, pods: &[Arc<Value>]) -> HashMap<String, f64> {
    let loads = lock(&shared.loads);
    if loads.is_empty() {
        return HashMap::new();
    }
    shares(&loads, pods)
}

/// Whether metrics-server would have a sample: only running containers are measured.
pub(crate) fn measured(pod: &Value) -> bool {
    pod.pointer("/status/containerStatuses/0/state/running")
        .is_some()
}

fn value(script: &MetricScript, rps: f64) -> f64 {
    (script.base + script.per_rps * rps).max(0.0)
}

/// One pod's usage now.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    /// Requests/s it serves from loads (0 when no load matches it or it is not ready).
    pub rps: f64,
    pub cpu_millicores: f64,
    pub memory_bytes: f64,
    /// Custom per-pod metrics by name.
    pub custom: BTreeMap<String, f64>,
}

/// The usage of a pod whose container runs; `None` when metrics-server would report nothing.
pub(crate) fn pod_usage(pod: &Value, b: &PodBehavior, rps: f64) -> Option<PodUsage> {
    if !measured(pod) {
        return None;
    }
    Some(PodUsage {
        namespace: meta::namespace(pod).to_string(),
        name: meta::name(pod).to_string(),
        rps,
        cpu_millicores: value(&b.usage.cpu, rps),
        memory_bytes: value(&b.usage.memory, rps),
        custom: b
            .usage
            .pods
            .iter()
            .map(|(k, s)| (k.clone(), value(s, rps)))
            .collect(),
    })
}

/// Every measured pod's usage, ordered by namespace and name.
pub(crate) fn snapshot(shared: &Shared) -> Vec<PodUsage> {
    let pods = shared.store().list(ids::PODS, None);
    let shares = current_shares(shared, &pods);
    let scripts = shared.scripts().clone();
    pods.iter()
        .filter_map(|p| {
            let rps = shares.get(meta::uid(p)).copied().unwrap_or(0.0);
            pod_usage(p, scripts.for_image(pod_image(p)), rps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: Value, ready: bool) -> Arc<Value> {
        Arc::new(
            json!({"metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"state": {"running": {}}}]}}),
        )
    }

    #[test]
    fn a_load_is_spread_over_the_ready_pods_it_matches() {
        let pods = vec![
            pod("a", json!({"app": "web"}), true),
            pod("b", json!({"app": "web", "track": "canary"}), true),
            pod("c", json!({"app": "web"}), false),
            pod("d", json!({"app": "db"}), true),
        ];
        let load = Load {
            namespace: "default".into(),
            text: "app=web".into(),
            selector: LabelSelector::parse("app=web").unwrap(),
            rps: 100.0,
        };
        let s = shares(&[load], &pods);
        assert_eq!(s.get("a"), Some(&50.0));
        assert_eq!(s.get("b"), Some(&50.0), "the canary takes its share");
        assert_eq!(s.get("c"), Some(&0.0), "unready pods get no traffic");
        assert_eq!(s.get("d"), None);
    }

    #[test]
    fn usage_follows_the_share_and_the_image_cost() {
        let p = pod("a", json!({}), true);
        let mut b = PodBehavior::default();
        b.usage.cpu = MetricScript {
            base: 10.0,
            per_rps: 2.0,
        };
        b.usage
            .pods
            .insert("queue".into(), MetricScript::fixed(7.0));
        let u = pod_usage(&p, &b, 50.0).unwrap();
        assert_eq!((u.cpu_millicores, u.custom["queue"]), (110.0, 7.0));
        let stopped = Arc::new(
            json!({"metadata": {"name": "s"}, "status": {"containerStatuses": [{"state": {"waiting": {}}}]}}),
        );
        assert!(pod_usage(&stopped, &b, 50.0).is_none());
    }
}
