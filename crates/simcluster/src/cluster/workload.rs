//! The Rust API for load and autoscaling: offering a request rate to a set of pods (which
//! drives their CPU and the HPA controller), reading what each pod uses, and the log of the
//! HPA controller's writes to its targets.

use super::SimCluster;
use crate::controllers::hpa::HpaScaling;
use crate::error::SimError;
use crate::requests::ReplicaWrite;
use crate::selector::LabelSelector;
use crate::state::lock;
use crate::usage::{Load, PodUsage};

impl SimCluster {
    /// Offers `rps` requests per second to the pods `selector` matches in `namespace`,
    /// spread evenly over the ready ones, as a Service spreads a fixed offered load: adding
    /// pods lowers each one's share, and so its CPU (`Usage` in the image's script). Replaces
    /// the load set before for the same namespace and selector text; "the load doubles now"
    /// is another call with twice the rate. Pods under a load also serve their share as
    /// traffic (instead of `Traffic::rps`).
    pub fn set_load(&self, namespace: &str, selector: &str, rps: f64) -> Result<(), SimError> {
        let parsed =
            LabelSelector::parse(selector).map_err(|e| SimError::Selector(e.to_string()))?;
        let mut loads = lock(&self.shared.loads);
        loads.retain(|l| !(l.namespace == namespace && l.text == selector));
        loads.push(Load {
            namespace: namespace.to_string(),
            text: selector.to_string(),
            selector: parsed,
            rps: if rps.is_finite() { rps.max(0.0) } else { 0.0 },
        });
        Ok(())
    }

    /// Removes the load set for this namespace and selector text.
    pub fn clear_load(&self, namespace: &str, selector: &str) {
        lock(&self.shared.loads).retain(|l| !(l.namespace == namespace && l.text == selector));
    }

    /// What every running pod uses now (what metrics-server would report), by namespace
    /// and name.
    pub fn pod_usage(&self) -> Vec<PodUsage> {
        crate::usage::snapshot(&self.shared)
    }

    /// Every write the HPA controller made to a target's `spec.replicas`, oldest first.
    /// Client writes are in [`SimCluster::requests`]; these are not (the controller runs
    /// inside the simulator).
    pub fn hpa_scalings(&self) -> Vec<HpaScaling> {
        lock(&self.shared.hpa).scalings.clone()
    }

    /// Every change of Deployment `namespace/name`'s `spec.replicas`, oldest first, with who
    /// wrote it: the HPA controller's (`horizontal-pod-autoscaler`) and the clients' (their
    /// `fieldManager`, else their `User-Agent`), so a test can tell whether two writers undo
    /// each other.
    pub fn replica_writes(&self, namespace: &str, name: &str) -> Vec<ReplicaWrite> {
        let target = format!("Deployment/{name}");
        let mut writes: Vec<ReplicaWrite> = self
            .hpa_scalings()
            .into_iter()
            .filter(|s| s.namespace == namespace && s.target == target)
            .map(|s| ReplicaWrite {
                at: s.at,
                writer: "horizontal-pod-autoscaler".into(),
                from: i64::from(s.from),
                to: i64::from(s.to),
            })
            .collect();
        let object = format!("/namespaces/{namespace}/deployments/{name}");
        for r in lock(&self.shared.requests).iter() {
            let Some((from, to)) = r.replicas_changed else {
                continue;
            };
            if !(r.path.ends_with(&object) || r.path.ends_with(&format!("{object}/scale"))) {
                continue;
            }
            writes.push(ReplicaWrite {
                at: r.at,
                writer: r
                    .query_param("fieldManager")
                    .or_else(|| r.user_agent.clone())
                    .unwrap_or_else(|| "client".into()),
                from,
                to,
            });
        }
        writes.sort_by_key(|w| w.at);
        writes
    }
}
