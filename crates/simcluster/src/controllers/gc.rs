//! Garbage collection: objects whose owners are all gone are deleted (background
//! propagation), the way the garbage collector finishes a `kubectl delete deployment` (and
//! removes a Lease owned by a deleted Deployment).

use serde_json::Value;

use crate::meta;
use crate::ops::Propagation;
use crate::resources::{RESOURCES, ResId, ids};
use crate::state::Shared;

/// Resources whose objects can have owners. Namespaces and nodes are cluster-scoped roots;
/// events are never owned, and there can be many of them.
pub(crate) fn ownable() -> impl Iterator<Item = ResId> {
    (0..RESOURCES.len())
        .filter(|r| !matches!(*r, ids::NAMESPACES | ids::NODES | ids::EVENTS | ids::SSAR))
}

pub(crate) fn collect(shared: &Shared) {
    crate::events::expire(shared);
    let doomed: Vec<(usize, String, String)> = {
        let store = shared.store();
        let mut out = Vec::new();
        for res in ownable() {
            for o in store.list(res, None) {
                let refs = meta::owner_refs(&o);
                let orphaned = !refs.is_empty()
                    && refs.iter().all(|r| {
                        r.get("uid")
                            .and_then(Value::as_str)
                            .is_none_or(|u| !store.has_uid(u))
                    });
                if orphaned {
                    out.push((
                        res,
                        meta::namespace(&o).to_string(),
                        meta::name(&o).to_string(),
                    ));
                }
            }
        }
        out
    };
    for (res, ns, name) in doomed {
        let _ = shared.delete_obj(res, &ns, &name, Propagation::Background);
    }
}
