//! What a create or an update would store, validated and filled in (names, uids, generation,
//! status reset), without storing it: also the answer to a `dryRun`.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Key, Store, UpdateMode};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::meta;
use crate::resources::{ResId, def, ids};

impl Store {
    /// Validates and fills in a new object without storing it (also the `dryRun` answer).
    pub(crate) fn prepare_create(
        &mut self,
        res: ResId,
        mut obj: Value,
        now: Timestamp,
    ) -> Result<(Key, Value), ApiError> {
        let d = def(res);
        if !obj.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let mut name = meta::name(&obj).to_string();
        if name.is_empty() {
            let prefix = meta::str_at(&obj, &["metadata", "generateName"]).unwrap_or("");
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    d,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = format!("{prefix}{}", self.random_suffix(5));
        }
        validate_name(d, &name)?;
        let ns = if d.namespaced {
            meta::namespace(&obj).to_string()
        } else {
            String::new()
        };
        if d.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object is empty",
                ));
            }
            if self.get(ids::NAMESPACES, "", &ns).is_none() {
                return Err(ApiError::not_found(def(ids::NAMESPACES), &ns));
            }
        }
        let key = (res, ns.clone(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(d, &name));
        }
        obj["apiVersion"] = json!(d.api_version());
        obj["kind"] = json!(d.kind);
        let m = meta::obj_mut(&mut obj, &["metadata"]);
        m.insert("name".into(), json!(name));
        if d.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.remove("uid");
        m.remove("resourceVersion");
        m.insert("generation".into(), json!(1));
        m.insert("creationTimestamp".into(), json!(rfc3339(now)));
        m.remove("deletionTimestamp");
        m.remove("managedFields");
        reset_status_on_create(res, &mut obj);
        crate::defaults::apply(res, &mut obj);
        crate::validation::validate(res, &obj)?;
        Ok((key, obj))
    }

    /// The object an update would store (also the `dryRun` answer), with the old
    /// resourceVersion, and the object it replaces.
    pub(crate) fn prepare_update(
        &self,
        res: ResId,
        mut obj: Value,
        mode: UpdateMode,
    ) -> Result<(Key, Value, Arc<Value>), ApiError> {
        let d = def(res);
        let name = meta::name(&obj).to_string();
        let ns = if d.namespaced {
            meta::namespace(&obj).to_string()
        } else {
            String::new()
        };
        let key = (res, ns, name.clone());
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(d, &name));
        };
        let sent_rv = meta::resource_version(&obj);
        if !sent_rv.is_empty() && sent_rv != meta::resource_version(&old) {
            return Err(ApiError::conflict(d, &name));
        }
        if mode == UpdateMode::Status {
            let status = obj.get("status").cloned();
            obj = (*old).clone();
            match status {
                Some(s) => obj["status"] = s,
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        } else if d.status_is_owned() {
            match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        obj["apiVersion"] = json!(d.api_version());
        obj["kind"] = json!(d.kind);
        if mode == UpdateMode::Main {
            crate::defaults::apply(res, &mut obj);
            crate::validation::validate(res, &obj)?;
            crate::validation::validate_update(res, &old, &obj)?;
        }
        // Identity and bookkeeping fields belong to the server.
        let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let mut generation = meta::i64_at(&old, &["metadata", "generation"]).unwrap_or(1);
        if spec_changed(&old, &obj) {
            generation += 1;
        }
        let m = meta::obj_mut(&mut obj, &["metadata"]);
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old_meta.get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        m.insert("generation".into(), json!(generation));
        m.remove("managedFields");
        m.insert(
            "resourceVersion".into(),
            old_meta
                .get("resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
        Ok((key, obj, old))
    }
}

/// Everything but metadata and status counts as spec for `metadata.generation`.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            for k in ["metadata", "status", "apiVersion", "kind"] {
                m.remove(k);
            }
        }
        // Binding a pod to a node is not a spec change the user made.
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("nodeName");
        }
        v
    };
    strip(old) != strip(new)
}

fn reset_status_on_create(res: ResId, obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    match res {
        ids::DEPLOYMENTS | ids::REPLICASETS => {
            m.insert("status".into(), json!({}));
        }
        ids::PODS => {
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        ids::NAMESPACES => {
            m.insert("status".into(), json!({"phase": "Active"}));
        }
        // An empty autoscaling/v2 status: desiredReplicas is not `omitempty`.
        ids::HPAS => {
            m.insert("status".into(), json!({"desiredReplicas": 0}));
        }
        _ => {}
    }
}

fn validate_name(d: &crate::resources::ResourceDef, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':'
        })
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            d,
            name,
            format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}
