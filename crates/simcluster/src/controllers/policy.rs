//! PodDisruptionBudget status (healthy, desired and allowed disruptions from the matching
//! pods), which preflight checks read.

use serde_json::{Value, json};

use crate::controllers::replicaset::ready_since;
use crate::meta::{self, int_or_percent};
use crate::resources::{self, ids};
use crate::selector::LabelSelector;
use crate::state::Shared;
use crate::store::UpdateMode;

pub(crate) fn sync_all(shared: &Shared) {
    let Some(pdbs) = resources::by_kind("policy/v1", "PodDisruptionBudget") else {
        return;
    };
    // Bind the list first: a guard in a `for` head lives for the whole loop.
    let pdb_list = shared.store().list(pdbs, None);
    for pdb in pdb_list {
        let status = pdb_status(shared, &pdb);
        write_status(shared, pdbs, &pdb, status);
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
