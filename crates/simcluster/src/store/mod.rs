//! The object store: JSON objects keyed by resource, namespace and name, one monotonic
//! resourceVersion counter for everything, and a bounded history of watch events so
//! watches can resume (and get 410 Gone when they fall behind it).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::resources::{ResId, def, ids};

mod prepare;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WatchEvent {
    pub(crate) rv: u64,
    pub(crate) kind: EventType,
    pub(crate) res: ResId,
    pub(crate) obj: Arc<Value>,
}

pub(crate) type Key = (ResId, String, String);

/// How an update treats the incoming object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateMode {
    /// A write to the main resource: status is kept for controller-owned resources.
    Main,
    /// A write to the `status` subresource: only status changes.
    Status,
}

pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    uids: HashSet<String>,
    history: VecDeque<WatchEvent>,
    cap: usize,
    rng: StdRng,
    changed: tokio::sync::watch::Sender<u64>,
}

/// Characters Kubernetes uses for random name suffixes (`utilrand.String`).
pub(crate) const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Store {
    pub(crate) fn new(history: usize, seed: u64) -> Self {
        let (changed, _) = tokio::sync::watch::channel(0);
        Store {
            rv: 0,
            objects: BTreeMap::new(),
            uids: HashSet::new(),
            history: VecDeque::new(),
            cap: history.max(1),
            rng: StdRng::seed_from_u64(seed),
            changed,
        }
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn rv(&self) -> u64 {
        self.rv
    }

    pub(crate) fn random_suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| SAFE_ALPHABET[self.rng.random_range(0..SAFE_ALPHABET.len())] as char)
            .collect()
    }

    fn new_uid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h = hex::encode(b);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    pub(crate) fn get(&self, res: ResId, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(&(res, ns.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn has_uid(&self, uid: &str) -> bool {
        self.uids.contains(uid)
    }

    /// Objects of a resource, in one namespace or all, ordered by namespace then name.
    pub(crate) fn list(&self, res: ResId, ns: Option<&str>) -> Vec<Arc<Value>> {
        let start = (res, ns.unwrap_or("").to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(|((r, n, _), _)| *r == res && ns.is_none_or(|want| want == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn record(&mut self, kind: EventType, res: ResId, obj: Arc<Value>) {
        self.history.push_back(WatchEvent {
            rv: self.rv,
            kind,
            res,
            obj,
        });
        while self.history.len() > self.cap {
            self.history.pop_front();
        }
        self.changed.send_replace(self.rv);
    }

    /// Events after `rv`, or `Err` when the history no longer reaches back to it.
    pub(crate) fn events_since(&self, rv: u64) -> Result<Vec<WatchEvent>, ApiError> {
        if let Some(first) = self.history.front()
            && first.rv > rv.saturating_add(1)
        {
            return Err(too_old(rv, first.rv));
        }
        if self.history.is_empty() && rv < self.rv {
            return Err(too_old(rv, self.rv));
        }
        let idx = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.iter().skip(idx).cloned().collect())
    }

    pub(crate) fn create(
        &mut self,
        res: ResId,
        obj: Value,
        now: Timestamp,
    ) -> Result<Value, ApiError> {
        let (key, mut obj) = self.prepare_create(res, obj, now)?;
        self.rv += 1;
        let uid = self.new_uid();
        let m = meta::obj_mut(&mut obj, &["metadata"]);
        m.insert("uid".into(), json!(uid));
        m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.uids.insert(uid);
        let arc = Arc::new(obj);
        self.objects.insert(key, arc.clone());
        self.record(EventType::Added, res, arc.clone());
        Ok((*arc).clone())
    }

    pub(crate) fn update(
        &mut self,
        res: ResId,
        obj: Value,
        mode: UpdateMode,
    ) -> Result<Value, ApiError> {
        let (key, mut obj, old) = self.prepare_update(res, obj, mode)?;
        if obj == *old {
            // A no-op write does not bump resourceVersion, like the apiserver.
            return Ok(obj);
        }
        self.rv += 1;
        meta::obj_mut(&mut obj, &["metadata"])
            .insert("resourceVersion".into(), json!(self.rv.to_string()));
        let arc = Arc::new(obj);
        self.objects.insert(key, arc.clone());
        self.record(EventType::Modified, res, arc.clone());
        Ok((*arc).clone())
    }

    /// Starts a graceful deletion: the object stays, with `deletionTimestamp` set.
    pub(crate) fn mark_terminating(
        &mut self,
        res: ResId,
        ns: &str,
        name: &str,
        deletion_timestamp: &str,
        grace: i64,
    ) -> Result<Value, ApiError> {
        let key = (res, ns.to_string(), name.to_string());
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(def(res), name));
        };
        self.rv += 1;
        let mut obj = (*old).clone();
        let m = meta::obj_mut(&mut obj, &["metadata"]);
        m.insert("deletionTimestamp".into(), json!(deletion_timestamp));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        let arc = Arc::new(obj);
        self.objects.insert(key, arc.clone());
        self.record(EventType::Modified, res, arc.clone());
        Ok((*arc).clone())
    }

    pub(crate) fn delete(&mut self, res: ResId, ns: &str, name: &str) -> Result<Value, ApiError> {
        let d = def(res);
        let key = (res, ns.to_string(), name.to_string());
        let Some(old) = self.objects.remove(&key) else {
            return Err(ApiError::not_found(d, name));
        };
        self.uids.remove(meta::uid(&old));
        self.rv += 1;
        let mut obj = (*old).clone();
        meta::obj_mut(&mut obj, &["metadata"])
            .insert("resourceVersion".into(), json!(self.rv.to_string()));
        let arc = Arc::new(obj);
        self.record(EventType::Deleted, res, arc.clone());
        if res == ids::NAMESPACES {
            let doomed: Vec<Key> = self
                .objects
                .keys()
                .filter(|(_, n, _)| n == name)
                .cloned()
                .collect();
            for (r, n, nm) in doomed {
                let _ = self.delete(r, &n, &nm);
            }
        }
        Ok((*arc).clone())
    }
}

fn too_old(rv: u64, oldest: u64) -> ApiError {
    ApiError::gone(format!(
        "too old resource version: {rv} ({})",
        oldest.saturating_sub(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_ns() -> Store {
        let mut s = Store::new(5, 1);
        s.create(
            ids::NAMESPACES,
            json!({"metadata": {"name": "default"}}),
            Timestamp::now(),
        )
        .unwrap();
        s
    }

    #[test]
    fn create_update_conflict_and_generation() {
        let mut s = store_with_ns();
        let d = s
            .create(ids::DEPLOYMENTS, json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}}), Timestamp::now())
            .unwrap();
        assert_eq!(d["metadata"]["generation"], 1);
        assert!(
            s.create(ids::DEPLOYMENTS, d.clone(), Timestamp::now())
                .is_err()
        );
        let mut upd = d.clone();
        upd["spec"]["replicas"] = json!(2);
        upd["status"] = json!({"replicas": 99});
        let u = s
            .update(ids::DEPLOYMENTS, upd.clone(), UpdateMode::Main)
            .unwrap();
        assert_eq!(u["metadata"]["generation"], 2);
        assert_eq!(u["status"], json!({}), "main writes ignore status");
        let err = s
            .update(ids::DEPLOYMENTS, upd, UpdateMode::Main)
            .unwrap_err();
        assert_eq!(err.code, 409);
        let mut st = u.clone();
        st["status"] = json!({"replicas": 2});
        let st = s.update(ids::DEPLOYMENTS, st, UpdateMode::Status).unwrap();
        assert_eq!(
            st["metadata"]["generation"], 2,
            "status writes keep generation"
        );
        assert_eq!(st["status"]["replicas"], 2);
    }

    #[test]
    fn history_window_expires() {
        let mut s = store_with_ns();
        for i in 0..10 {
            s.create(
                crate::resources::by_path("", "v1", "configmaps").unwrap(),
                json!({"metadata": {"name": format!("c{i}"), "namespace": "default"}}),
                Timestamp::now(),
            )
            .unwrap();
        }
        assert!(s.events_since(s.rv() - 3).is_ok());
        assert_eq!(s.events_since(1).unwrap_err().code, 410);
    }
}
