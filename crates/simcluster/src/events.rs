//! Recording core/v1 Events the way the controllers and kubelet do, with the client-side
//! aggregation Kubernetes applies (a repeat bumps `count` and `lastTimestamp`).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::meta;
use crate::resources::ids;
use crate::state::{Shared, lock};
use crate::store::UpdateMode;

/// Maps (involved uid, reason, message) to the event's name, for aggregation.
#[derive(Debug, Default)]
pub(crate) struct EventIndex {
    /// When expired events were last deleted (sim time).
    last_expiry: Option<jiff::Timestamp>,
    by_key: HashMap<(String, String, String), String>,
    seq: u64,
}

impl Shared {
    /// Records an event about `involved` from `component` (`deployment-controller`, `kubelet`, …).
    pub(crate) fn record_event(
        &self,
        involved: &Value,
        type_: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let now = self.now();
        let ns = match meta::namespace(involved) {
            "" => "default".to_string(),
            n => n.to_string(),
        };
        let key = (
            meta::uid(involved).to_string(),
            reason.to_string(),
            message.to_string(),
        );
        let existing = lock(&self.events).by_key.get(&key).cloned();
        // Bind the event first: a guard in an `if let` condition would live through the
        // block and deadlock the update below.
        let current = existing.and_then(|name| self.store().get(ids::EVENTS, &ns, &name));
        if let Some(ev) = current {
            let mut ev = (*ev).clone();
            let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
            ev["count"] = json!(count);
            ev["lastTimestamp"] = json!(rfc3339(now));
            let _ = self.store().update(ids::EVENTS, ev, UpdateMode::Main);
            return;
        }
        let name = {
            let mut idx = lock(&self.events);
            idx.seq += 1;
            let nanos = now.as_nanosecond() as u128 + u128::from(idx.seq);
            format!("{}.{:x}", meta::name(involved), nanos)
        };
        let mut involved_ref = json!({
            "kind": involved.get("kind").cloned().unwrap_or(Value::Null),
            "namespace": ns,
            "name": meta::name(involved),
            "uid": meta::uid(involved),
            "apiVersion": involved.get("apiVersion").cloned().unwrap_or(Value::Null),
            "resourceVersion": meta::resource_version(involved),
        });
        if component == "kubelet"
            && involved.get("kind").and_then(Value::as_str) == Some("Pod")
            && let Some(c) = involved
                .pointer("/spec/containers/0/name")
                .and_then(Value::as_str)
        {
            involved_ref["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
        }
        let mut source = json!({"component": component});
        if component == "kubelet" {
            source["host"] = json!("sim-node-1");
        }
        let ev = json!({
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
            "type": type_,
            "eventTime": Value::Null,
            "reportingComponent": component,
            "reportingInstance": if component == "kubelet" { "sim-node-1" } else { "" },
        });
        if self.store().create(ids::EVENTS, ev, now).is_ok() {
            lock(&self.events).by_key.insert(key, name);
        }
    }
}

/// Events live an hour (the apiserver's default `--event-ttl`).
const EVENT_TTL_SECS: f64 = 3600.0;

/// Deletes expired events, at most once a sim minute.
pub(crate) fn expire(shared: &Shared) {
    let now = shared.now();
    {
        let mut idx = lock(&shared.events);
        if idx
            .last_expiry
            .is_some_and(|t| crate::clock::secs_between(t, now) < 60.0)
        {
            return;
        }
        idx.last_expiry = Some(now);
    }
    let expired: Vec<(String, String)> = shared
        .store()
        .list(ids::EVENTS, None)
        .iter()
        .filter(|e| {
            meta::str_at(e, &["lastTimestamp"])
                .and_then(crate::clock::parse_time)
                .is_some_and(|t| crate::clock::secs_between(t, now) > EVENT_TTL_SECS)
        })
        .map(|e| (meta::namespace(e).to_string(), meta::name(e).to_string()))
        .collect();
    if expired.is_empty() {
        return;
    }
    for (ns, name) in &expired {
        let _ = shared.store().delete(ids::EVENTS, ns, name);
    }
    let names: std::collections::HashSet<&String> = expired.iter().map(|(_, n)| n).collect();
    lock(&shared.events)
        .by_key
        .retain(|_, n| !names.contains(n));
}
