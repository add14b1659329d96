//! The control loop: every tick (and on every write or clock jump) it runs garbage
//! collection, the Deployment and ReplicaSet controllers, the kubelet, the endpoints
//! controller, PDB status, the HorizontalPodAutoscaler controller and the traffic
//! simulation, each a pass over the store.

pub(crate) mod deployment;
mod deployment_status;
pub(crate) mod gc;
pub(crate) mod hash;
pub(crate) mod hpa;
mod new_rs;
mod policy;
pub(crate) mod replicaset;
pub(crate) mod rolling;
mod scaling;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::resources::{ResId, ids};
use crate::state::Shared;
use crate::store::UpdateMode;

impl Shared {
    /// Read-modify-write of one object under the store lock; `None` if it is gone.
    pub(crate) fn mutate(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        mode: UpdateMode,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut store = self.store();
        let current = store.get(res, ns, name)?;
        let mut obj = (*current).clone();
        f(&mut obj);
        store.update(res, obj, mode).ok()
    }
}

/// One pass of every controller.
pub(crate) fn reconcile(shared: &Shared) {
    gc::collect(shared);
    deployment::sync_all(shared);
    replicaset::sync_all(shared);
    crate::kubelet::sync_all(shared);
    crate::endpoints::sync_all(shared);
    policy::sync_all(shared);
    hpa::sync_all(shared);
    crate::traffic::accrue(shared);
}

/// Forgets in-memory state about a deleted object.
pub(crate) fn forget_deleted(shared: &Shared, res: ResId, obj: &Value) {
    if res == ids::PODS {
        crate::kubelet::forget(shared, crate::meta::uid(obj));
        crate::traffic::forget(shared, crate::meta::uid(obj));
    }
}

pub(crate) async fn run(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut changed = shared.store().subscribe();
    let jumped = shared.clock.jumped();
    let tick = shared.opts.tick.max(Duration::from_millis(1));
    loop {
        reconcile(&shared);
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = changed.changed() => {
                // Let a burst of writes land before the next pass.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            _ = jumped.notified() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
