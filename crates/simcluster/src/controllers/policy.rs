//! Status for the objects preflight checks read: PodDisruptionBudgets (healthy, desired and
//! allowed disruptions from the matching pods) and HorizontalPodAutoscalers (current and
//! desired replicas from their target). No autoscaling happens.

use serde_json::{Value, json};

use crate::controllers::replicaset::ready_since;
use crate::meta::{self, int_or_percent};
use crate::resources::{self, ids};
use crate::selector::LabelSelector;
use crate::state::Shared;
use crate::store::UpdateMode;

pub(crate) fn sync_all(shared: &Shared) {
    let (Some(pdbs), Some(hpas)) = (
        resources::by_kind("policy/v1", "PodDisruptionBudget"),
        resources::by_kind("autoscaling/v2", "HorizontalPodAutoscaler"),
    ) else {
        return;
    };
    // Bind the lists first: a guard in a `for` head lives for the whole loop.
    let (pdb_list, hpa_list) = {
        let store = shared.store();
        (store.list(pdbs, None), store.list(hpas, None))
    };
    for pdb in pdb_list {
        let status = pdb_status(shared, &pdb);
        write_status(shared, pdbs, &pdb, status);
    }
    for hpa in hpa_list {
        let status = hpa_status(shared, &hpa);
        write_status(shared, hpas, &hpa, status);
    }
}

fn write_status(shared: &Shared, res: usize, obj: &Value, status: Value) {
    if obj.get("status") != Some(&status) {
        shared.mutate(
            res,
            meta::namespace(obj),
            meta::name(obj),
            UpdateMode::Status,
            |o| o["status"] = status,
        );
    }
}

fn pdb_status(shared: &Shared, pdb: &Value) -> Value {
    let selector = pdb
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_object(s).ok())
        .unwrap_or_default();
    let pods = shared.store().list(ids::PODS, Some(meta::namespace(pdb)));
    let matching: Vec<_> = pods
        .iter()
        .filter(|p| selector.matches(meta::labels(p)))
        .collect();
    let expected = matching.len() as i64;
    let healthy = matching.iter().filter(|p| ready_since(p).is_some()).count() as i64;
    let desired = match (
        pdb.pointer("/spec/minAvailable"),
        pdb.pointer("/spec/maxUnavailable"),
    ) {
        (Some(min), _) => int_or_percent(Some(min), expected, true, "0"),
        (None, Some(max)) => expected - int_or_percent(Some(max), expected, true, "0"),
        (None, None) => expected,
    }
    .max(0);
    json!({
        "observedGeneration": meta::i64_at(pdb, &["metadata", "generation"]).unwrap_or(1),
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": (healthy - desired).max(0),
        "expectedPods": expected,
    })
}

fn hpa_status(shared: &Shared, hpa: &Value) -> Value {
    let target = hpa
        .pointer("/spec/scaleTargetRef")
        .cloned()
        .unwrap_or(Value::Null);
    let field = |k: &str| target.get(k).and_then(Value::as_str).unwrap_or("");
    let current = resources::by_kind(field("apiVersion"), field("kind"))
        .and_then(|res| shared.store().get(res, meta::namespace(hpa), field("name")))
        .map(|t| {
            let spec = meta::i64_at(&t, &["spec", "replicas"]).unwrap_or(1);
            (meta::i64_at(&t, &["status", "replicas"]).unwrap_or(0), spec)
        });
    let mut s = json!({"currentReplicas": 0, "desiredReplicas": 0});
    if let Some((current, desired)) = current {
        s = json!({"currentReplicas": current, "desiredReplicas": desired});
    }
    s
}
