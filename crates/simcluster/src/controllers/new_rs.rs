//! The new ReplicaSet of a Deployment: finding it among the owned ReplicaSets (template
//! equality ignoring the hash label), creating it as `<name>-<pod-template-hash>`, and the
//! revision bookkeeping (max+1, reuse on rollback with `revision-history`, copied
//! annotations, the revision mirrored on the Deployment).

use serde_json::{Value, json};

use super::deployment::Plan;
use super::deployment_status as ds;
use super::hash::pod_template_hash;
use crate::meta;
use crate::resources::ids;
use crate::store::UpdateMode;

pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
pub(crate) const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub(crate) const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
pub(crate) const MAX: &str = "deployment.kubernetes.io/max-replicas";
pub(crate) const HASH_LABEL: &str = "pod-template-hash";
/// Deployment annotations that are not copied to its ReplicaSets: kubectl's record of the
/// applied manifest and the controller's own bookkeeping (every `deployment.kubernetes.io/*`).
const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deprecated.deployment.rollback.to",
];
const OWN_PREFIX: &str = "deployment.kubernetes.io/";

/// What the controller needs of one ReplicaSet.
#[derive(Debug, Clone)]
pub(crate) struct RsView {
    pub(crate) name: String,
    pub(crate) obj: Value,
    pub(crate) replicas: i64,
    pub(crate) status_replicas: i64,
    pub(crate) ready: i64,
    pub(crate) available: i64,
    pub(crate) revision: i64,
    pub(super) created: String,
}

impl RsView {
    pub(super) fn of(obj: &Value) -> Self {
        let st = |k: &str| meta::i64_at(obj, &["status", k]).unwrap_or(0);
        RsView {
            name: meta::name(obj).to_string(),
            replicas: meta::i64_at(obj, &["spec", "replicas"]).unwrap_or(1),
            status_replicas: st("replicas"),
            ready: st("readyReplicas"),
            available: st("availableReplicas"),
            revision: meta::annotation(obj, REVISION)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            created: meta::str_at(obj, &["metadata", "creationTimestamp"])
                .unwrap_or("")
                .to_string(),
            obj: obj.clone(),
        }
    }

    /// The template with the hash label removed, for comparing with the Deployment's.
    pub(super) fn template_without_hash(&self) -> Value {
        let mut t = self
            .obj
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(labels) = t
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.remove(HASH_LABEL);
            if labels.is_empty()
                && let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut)
            {
                m.remove("labels");
            }
        }
        t
    }
}

/// Brings an existing new ReplicaSet's annotations up to date (revision on rollback reuse,
/// copied Deployment annotations, minReadySeconds) and mirrors its revision on the Deployment.
pub(super) fn sync_new_rs(
    plan: &Plan<'_>,
    new: RsView,
    old: &[RsView],
    status: &mut serde_json::Map<String, Value>,
) -> RsView {
    let max_old = old.iter().map(|r| r.revision).max().unwrap_or(0);
    let next = max_old + 1;
    let annotations = copied_annotations(plan.d);
    let min_ready = plan.d.pointer("/spec/minReadySeconds").cloned();
    let (cur_rev, cur_hist) = (
        new.revision,
        meta::annotation(&new.obj, REVISION_HISTORY)
            .unwrap_or("")
            .to_string(),
    );
    let updated = plan.shared.mutate(
        ids::REPLICASETS,
        &plan.ns,
        &new.name,
        UpdateMode::Main,
        |o| {
            for (k, v) in &annotations {
                meta::set_annotation(o, k, v);
            }
            if cur_rev < next {
                meta::set_annotation(o, REVISION, &next.to_string());
                if cur_rev > 0 {
                    let hist = if cur_hist.is_empty() {
                        cur_rev.to_string()
                    } else {
                        format!("{cur_hist},{cur_rev}")
                    };
                    meta::set_annotation(o, REVISION_HISTORY, &hist);
                }
            }
            match &min_ready {
                Some(m) => o["spec"]["minReadySeconds"] = m.clone(),
                None => {
                    if let Some(s) = o.get_mut("spec").and_then(Value::as_object_mut) {
                        s.remove("minReadySeconds");
                    }
                }
            }
        },
    );
    let new = updated.as_ref().map(RsView::of).unwrap_or(new);
    set_deployment_revision(plan, new.revision);
    if has_progress_deadline(plan.d) && ds::get_condition(status, ds::PROGRESSING).is_none() {
        let msg = format!("Found new replica set \"{}\"", new.name);
        ds::set_condition(
            status,
            ds::PROGRESSING,
            "True",
            "FoundNewReplicaSet",
            &msg,
            plan.shared.now(),
        );
    }
    new
}

fn set_deployment_revision(plan: &Plan<'_>, revision: i64) {
    let rev = revision.to_string();
    if meta::annotation(plan.d, REVISION) != Some(rev.as_str()) {
        plan.shared.mutate(
            ids::DEPLOYMENTS,
            &plan.ns,
            &plan.name,
            UpdateMode::Main,
            |o| meta::set_annotation(o, REVISION, &rev),
        );
    }
}

fn copied_annotations(d: &Value) -> Vec<(String, String)> {
    d.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !SKIP_COPY.contains(&k.as_str()) && !k.starts_with(OWN_PREFIX))
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn has_progress_deadline(d: &Value) -> bool {
    progress_deadline(d).is_some()
}

pub(super) fn progress_deadline(d: &Value) -> Option<i64> {
    match d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
    {
        Some(s) if s == i64::from(i32::MAX) => None,
        Some(s) => Some(s),
        None => Some(600),
    }
}

/// Creates the ReplicaSet for the current template with `replicas` pods.
pub(super) fn create_new_rs(
    plan: &Plan<'_>,
    old: &[RsView],
    replicas: i64,
    status: &mut serde_json::Map<String, Value>,
) -> Option<RsView> {
    let template = plan
        .d
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let collisions = status.get("collisionCount").and_then(Value::as_i64);
    let hash = pod_template_hash(&template, collisions);
    let name = format!("{}-{hash}", plan.name);
    let mut rs_template = template.clone();
    meta::obj_mut(&mut rs_template, &["metadata", "labels"]).insert(HASH_LABEL.into(), json!(hash));
    let mut selector = plan
        .d
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    meta::obj_mut(&mut selector, &["matchLabels"]).insert(HASH_LABEL.into(), json!(hash));
    let revision = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let mut annotations = serde_json::Map::new();
    for (k, v) in copied_annotations(plan.d) {
        annotations.insert(k, json!(v));
    }
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED.into(), json!(plan.desired.to_string()));
    annotations.insert(MAX.into(), json!(plan.max_total().to_string()));
    let mut spec = json!({"replicas": replicas, "selector": selector, "template": rs_template});
    if let Some(m) = plan.d.pointer("/spec/minReadySeconds") {
        spec["minReadySeconds"] = m.clone();
    }
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": plan.ns,
            "labels": rs_template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": annotations,
            "ownerReferences": [meta::controller_ref(plan.d)],
        },
        "spec": spec,
    });
    let now = plan.shared.now();
    let created = plan.shared.store().create(ids::REPLICASETS, rs, now);
    match created {
        Ok(obj) => {
            if replicas > 0 {
                let msg = format!("Scaled up replica set {name} from 0 to {replicas}");
                plan.shared.record_event(
                    plan.d,
                    "Normal",
                    "ScalingReplicaSet",
                    &msg,
                    "deployment-controller",
                );
            }
            set_deployment_revision(plan, revision);
            if has_progress_deadline(plan.d) {
                let msg = format!("Created new replica set \"{name}\"");
                ds::set_condition(
                    status,
                    ds::PROGRESSING,
                    "True",
                    "NewReplicaSetCreated",
                    &msg,
                    now,
                );
            }
            Some(RsView::of(&obj))
        }
        Err(e) if e.code == 409 => {
            // Another template hashed to this name: bump collisionCount and retry next pass.
            status.insert("collisionCount".into(), json!(collisions.unwrap_or(0) + 1));
            None
        }
        Err(_) => None,
    }
}
