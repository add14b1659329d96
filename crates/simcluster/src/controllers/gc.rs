//! Garbage collection: objects whose owners are all gone are deleted (background
//! propagation), the way the garbage collector finishes a `kubectl delete deployment`.

use serde_json::Value;

use crate::meta;
use crate::ops::Propagation;
use crate::resources::ids;
use crate::state::Shared;

pub(crate) fn collect(shared: &Shared) {
    crate::events::expire(shared);
    let doomed: Vec<(usize, String, String)> = {
        let store = shared.store();
        let mut out = Vec::new();
        for res in [ids::REPLICASETS, ids::PODS] {
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
