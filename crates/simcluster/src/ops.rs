//! The API verbs as operations on the shared state, used by the HTTP handlers, the Rust API
//! and the controllers alike, so all three see the same semantics.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::{ResId, def, ids};
use crate::state::Shared;
use crate::store::UpdateMode;

/// How deleting an owner treats its dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub(crate) fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::bad_request(format!(
                "unsupported propagationPolicy {other:?}"
            ))),
        }
    }
}

/// How a write lands: on the main resource or `status`, and whether only as a dry run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write {
    pub(crate) mode: UpdateMode,
    pub(crate) dry_run: bool,
}

impl Shared {
    /// Fills in the namespace from the request path and checks they agree.
    fn place(&self, res: ResId, ns: Option<&str>, obj: &mut Value) -> Result<(), ApiError> {
        let d = def(res);
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if !d.namespaced {
            return Ok(());
        }
        let body_ns = meta::namespace(obj).to_string();
        let ns = match (ns, body_ns.as_str()) {
            (Some(p), "") => p.to_string(),
            (Some(p), b) if p != b => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (_, "") => self.opts.default_namespace.clone(),
            (_, b) => b.to_string(),
        };
        meta::obj_mut(obj, &["metadata"]).insert("namespace".into(), json!(ns));
        Ok(())
    }

    pub(crate) fn get_obj(&self, res: ResId, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.store()
            .get(res, ns, name)
            .map(|v| (*v).clone())
            .ok_or_else(|| ApiError::not_found(def(res), name))
    }

    pub(crate) fn create_obj(
        &self,
        res: ResId,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        self.place(res, ns, &mut obj)?;
        if res == ids::SSAR {
            return Ok(self.review_access(obj));
        }
        let now = self.now();
        self.store().create(res, obj, now)
    }

    /// What `create` would store, for `dryRun=All`.
    pub(crate) fn create_obj_dry(
        &self,
        res: ResId,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        self.place(res, ns, &mut obj)?;
        if res == ids::SSAR {
            return Ok(self.review_access(obj));
        }
        let now = self.now();
        self.store().prepare_create(res, obj, now).map(|(_, o)| o)
    }

    pub(crate) fn update_obj(
        &self,
        res: ResId,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        mode: UpdateMode,
    ) -> Result<Value, ApiError> {
        self.update_obj_with(res, ns, name, obj, mode, false)
    }

    /// An update, or with `dry_run` the object it would store.
    pub(crate) fn update_obj_with(
        &self,
        res: ResId,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        mode: UpdateMode,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.place(res, ns, &mut obj)?;
        let body_name = meta::name(&obj);
        if body_name.is_empty() {
            meta::obj_mut(&mut obj, &["metadata"]).insert("name".into(), json!(name));
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if dry_run {
            return self
                .store()
                .prepare_update(res, obj, mode)
                .map(|(_, o, _)| o);
        }
        self.store().update(res, obj, mode)
    }

    /// Patches under the store lock, so a patch never loses a concurrent write.
    pub(crate) fn patch_obj(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        pt: PatchType,
        body: &[u8],
        write: Write,
    ) -> Result<Value, ApiError> {
        let Write { mode, dry_run } = write;
        let patch_doc = patch::parse_body(pt, body)?;
        let now = self.now();
        let mut store = self.store();
        let Some(current) = store.get(res, ns, name) else {
            if pt == PatchType::Apply && mode == UpdateMode::Main {
                // Server-side apply creates what does not exist.
                let mut obj = patch_doc;
                self.place(res, Some(ns).filter(|n| !n.is_empty()), &mut obj)?;
                meta::obj_mut(&mut obj, &["metadata"]).insert("name".into(), json!(name));
                if dry_run {
                    return store.prepare_create(res, obj, now).map(|(_, o)| o);
                }
                return store.create(res, obj, now);
            }
            return Err(ApiError::not_found(def(res), name));
        };
        let mut patched = patch::apply(pt, &current, &patch_doc)?;
        if meta::name(&patched) != name {
            return Err(ApiError::bad_request(
                "a patch may not change the object's name",
            ));
        }
        if pt == PatchType::Apply {
            // Apply carries no resourceVersion precondition unless the body sets one.
            if patch_doc.pointer("/metadata/resourceVersion").is_none() {
                meta::obj_mut(&mut patched, &["metadata"]).insert(
                    "resourceVersion".into(),
                    json!(meta::resource_version(&current)),
                );
            }
        }
        if dry_run {
            return store.prepare_update(res, patched, mode).map(|(_, o, _)| o);
        }
        store.update(res, patched, mode)
    }

    pub(crate) fn delete_obj(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        prop: Propagation,
    ) -> Result<Value, ApiError> {
        self.delete_obj_with(res, ns, name, prop, None)
    }

    /// Deletes; pods are deleted gracefully (`deletionTimestamp` set, the kubelet removes
    /// them once their container stopped) unless `grace` is 0.
    pub(crate) fn delete_obj_with(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        prop: Propagation,
        grace: Option<i64>,
    ) -> Result<Value, ApiError> {
        if res == ids::PODS && grace != Some(0) {
            let pod = self.get_obj(res, ns, name)?;
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(pod);
            }
            let grace = grace
                .or_else(|| meta::i64_at(&pod, &["spec", "terminationGracePeriodSeconds"]))
                .unwrap_or(30)
                .max(0);
            let at = crate::clock::add_secs(self.now(), grace as f64);
            return self
                .store()
                .mark_terminating(res, ns, name, &crate::clock::rfc3339(at), grace);
        }
        let target = self.get_obj(res, ns, name)?;
        let uid = meta::uid(&target).to_string();
        match prop {
            Propagation::Background => {}
            Propagation::Orphan => {
                for (dres, dep) in self.dependents(&uid) {
                    let mut d = dep;
                    if let Some(refs) = d
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                    let (dns, dname) =
                        (meta::namespace(&d).to_string(), meta::name(&d).to_string());
                    d["metadata"]["resourceVersion"] = Value::Null;
                    let _ = self.update_obj(
                        dres,
                        Some(&dns).filter(|n| !n.is_empty()).map(|s| s.as_str()),
                        &dname,
                        d,
                        UpdateMode::Main,
                    );
                }
            }
            Propagation::Foreground => {
                for (dres, dep) in self.dependents(&uid) {
                    let _ = self.delete_obj(
                        dres,
                        meta::namespace(&dep),
                        meta::name(&dep),
                        Propagation::Foreground,
                    );
                }
            }
        }
        let out = self.store().delete(res, ns, name)?;
        crate::controllers::forget_deleted(self, res, &out);
        Ok(out)
    }

    /// Objects with an owner reference to `uid`.
    pub(crate) fn dependents(&self, uid: &str) -> Vec<(ResId, Value)> {
        let store = self.store();
        let mut out = Vec::new();
        for res in crate::controllers::gc::ownable() {
            for o in store.list(res, None) {
                if meta::owner_refs(&o)
                    .iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                {
                    out.push((res, (*o).clone()));
                }
            }
        }
        out
    }

    /// Create-or-replace, as `kubectl apply` of a whole object would end up.
    pub(crate) fn put_obj(&self, res: ResId, mut obj: Value) -> Result<Value, ApiError> {
        self.place(res, None, &mut obj)?;
        let ns = meta::namespace(&obj).to_string();
        let name = meta::name(&obj).to_string();
        if name.is_empty() || self.store().get(res, &ns, &name).is_none() {
            return self.create_obj(res, None, obj);
        }
        meta::obj_mut(&mut obj, &["metadata"]).remove("resourceVersion");
        self.update_obj(res, None, &name, obj, UpdateMode::Main)
    }

    /// Answers a SelfSubjectAccessReview: allowed unless a configured denial matches.
    fn review_access(&self, mut review: Value) -> Value {
        let attrs = review
            .pointer("/spec/resourceAttributes")
            .cloned()
            .unwrap_or(Value::Null);
        let field = |k: &str| {
            attrs
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (verb, group, resource, namespace) = (
            field("verb"),
            field("group"),
            field("resource"),
            field("namespace"),
        );
        let denied = crate::state::lock(&self.denials).iter().any(|d| {
            let ok = |want: &Option<String>, got: &str| {
                want.as_deref().is_none_or(|w| w == "*" || w == got)
            };
            ok(&d.verb, &verb)
                && ok(&d.group, &group)
                && ok(&d.resource, &resource)
                && ok(&d.namespace, &namespace)
        });
        review["status"] = if denied {
            json!({"allowed": false, "denied": true, "reason": "denied by simcluster access rules"})
        } else {
            json!({"allowed": true, "reason": "simcluster allows everything not denied"})
        };
        let m = meta::obj_mut(&mut review, &["metadata"]);
        m.insert("creationTimestamp".into(), Value::Null);
        review["apiVersion"] = json!("authorization.k8s.io/v1");
        review["kind"] = json!("SelfSubjectAccessReview");
        review
    }
}
