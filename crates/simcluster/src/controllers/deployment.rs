//! The Deployment controller: one ReplicaSet per pod template (`<name>-<pod-template-hash>`),
//! revisions and rollback reuse, rolling updates within maxSurge/maxUnavailable, Recreate,
//! pause, proportional scaling, history cleanup and status. One step per pass: each write
//! wakes the loop again, as the real controller's requeue does.

use serde_json::{Value, json};

use super::deployment_status::{self as ds, Counts};
use super::hash::pod_template_hash;
use super::rolling;
use crate::meta;
use crate::resources::ids;
use crate::state::Shared;
use crate::store::UpdateMode;

pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
pub(crate) const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub(crate) const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
pub(crate) const MAX: &str = "deployment.kubernetes.io/max-replicas";
pub(crate) const HASH_LABEL: &str = "pod-template-hash";
const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

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
    created: String,
}

impl RsView {
    fn of(obj: &Value) -> Self {
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
    fn template_without_hash(&self) -> Value {
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
            if labels.is_empty() {
                if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                    m.remove("labels");
                }
            }
        }
        t
    }
}

/// The facts of one Deployment a pass works from.
struct Plan<'a> {
    shared: &'a Shared,
    d: &'a Value,
    ns: String,
    name: String,
    desired: i64,
    rolling: bool,
    surge: i64,
    unavailable: i64,
}

impl Plan<'_> {
    fn max_total(&self) -> i64 {
        self.desired + self.surge
    }

    fn owned(&self) -> Vec<RsView> {
        let uid = meta::uid(self.d);
        let mut v: Vec<RsView> = self
            .shared
            .store()
            .list(ids::REPLICASETS, Some(&self.ns))
            .iter()
            .filter(|rs| meta::controller_uid(rs) == Some(uid))
            .map(|rs| RsView::of(rs))
            .collect();
        v.sort_by(|a, b| (&a.created, a.revision).cmp(&(&b.created, b.revision)));
        v
    }

    fn split(&self, all: Vec<RsView>) -> (Option<RsView>, Vec<RsView>) {
        let template = self
            .d
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let idx = all
            .iter()
            .position(|r| r.template_without_hash() == template);
        let mut old = all;
        let new = idx.map(|i| old.remove(i));
        (new, old)
    }

    fn scale(&self, rs: &RsView, to: i64) {
        let (desired, max) = (self.desired.to_string(), self.max_total().to_string());
        self.shared.mutate(
            ids::REPLICASETS,
            &self.ns,
            &rs.name,
            UpdateMode::Main,
            |o| {
                o["spec"]["replicas"] = json!(to);
                meta::set_annotation(o, DESIRED, &desired);
                meta::set_annotation(o, MAX, &max);
            },
        );
        if to != rs.replicas {
            let dir = if to > rs.replicas { "up" } else { "down" };
            let msg = format!(
                "Scaled {dir} replica set {} from {} to {to}",
                rs.name, rs.replicas
            );
            self.shared.record_event(
                self.d,
                "Normal",
                "ScalingReplicaSet",
                &msg,
                "deployment-controller",
            );
        }
    }
}

pub(crate) fn sync_all(shared: &Shared) {
    let deploys = shared.store().list(ids::DEPLOYMENTS, None);
    for d in deploys {
        sync_one(shared, &d);
    }
}

fn sync_one(shared: &Shared, d: &Value) {
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let desired = meta::i64_at(d, &["spec", "replicas"]).unwrap_or(1).max(0);
    let rolling = meta::str_at(d, &["spec", "strategy", "type"]) != Some("Recreate");
    let (surge, unavailable) = if rolling {
        let ru = d.pointer("/spec/strategy/rollingUpdate");
        rolling::resolve_fenceposts(
            ru.and_then(|r| r.get("maxSurge")),
            ru.and_then(|r| r.get("maxUnavailable")),
            desired,
        )
    } else {
        (0, 0)
    };
    let plan = Plan {
        shared,
        d,
        ns: meta::namespace(d).to_string(),
        name: meta::name(d).to_string(),
        desired,
        rolling,
        surge,
        unavailable,
    };
    let now = shared.now();
    let mut status = d
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let paused = d
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ds::paused_conditions(&mut status, paused, now);

    let (new, old) = plan.split(plan.owned());
    let new = new.map(|n| sync_new_rs(&plan, n, &old, &mut status));
    if paused || is_scaling_event(&plan, new.as_ref(), &old) {
        scale_proportionally(&plan, new.as_ref(), &old);
        if paused {
            cleanup(&plan, &old);
        }
        finish(&plan, status, false);
        return;
    }
    if rolling {
        rollout_rolling(&plan, new, old, &mut status);
    } else {
        rollout_recreate(&plan, new, old, &mut status);
    }
    finish(&plan, status, true);
}

/// Brings an existing new ReplicaSet's annotations up to date (revision on rollback reuse,
/// copied Deployment annotations, minReadySeconds) and mirrors its revision on the Deployment.
fn sync_new_rs(
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
                .filter(|(k, _)| !SKIP_COPY.contains(&k.as_str()))
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn has_progress_deadline(d: &Value) -> bool {
    progress_deadline(d).is_some()
}

fn progress_deadline(d: &Value) -> Option<i64> {
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
fn create_new_rs(
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

fn is_scaling_event(plan: &Plan<'_>, new: Option<&RsView>, old: &[RsView]) -> bool {
    let desired = plan.desired.to_string();
    new.into_iter()
        .chain(old.iter())
        .filter(|r| r.replicas > 0)
        .any(|r| meta::annotation(&r.obj, DESIRED).is_some_and(|a| a != desired))
}

/// `scale()` of the sync path: the active (or latest) RS takes the new size; with several
/// active ones the difference is spread in proportion to their sizes.
fn scale_proportionally(plan: &Plan<'_>, new: Option<&RsView>, old: &[RsView]) {
    let mut all: Vec<&RsView> = old.iter().chain(new).collect();
    let active: Vec<&RsView> = all.iter().copied().filter(|r| r.replicas > 0).collect();
    let target = match active.len() {
        0 => new.or_else(|| old.last()),
        1 => Some(active[0]),
        _ => None,
    };
    if let Some(t) = target {
        if t.replicas != plan.desired {
            plan.scale(t, plan.desired);
        }
        return;
    }
    if let Some(n) = new
        && n.replicas == plan.desired
        && n.available == plan.desired
    {
        for o in old.iter().filter(|o| o.replicas > 0) {
            plan.scale(o, 0);
        }
        return;
    }
    let allowed = if plan.desired > 0 {
        plan.max_total()
    } else {
        0
    };
    let total: i64 = active.iter().map(|r| r.replicas).sum();
    let to_add = allowed - total;
    if to_add == 0 || total == 0 {
        return;
    }
    // Newest first when growing, so leftovers land on the newest RS.
    all.retain(|r| r.replicas > 0);
    all.reverse();
    let mut sizes: Vec<i64> = all
        .iter()
        .map(|r| r.replicas + r.replicas * to_add / total)
        .collect();
    let leftover = allowed - sizes.iter().sum::<i64>();
    if let Some(first) = sizes.first_mut() {
        *first = (*first + leftover).max(0);
    }
    for (rs, size) in all.iter().zip(sizes) {
        if rs.replicas != size {
            plan.scale(rs, size.max(0));
        }
    }
}

fn rollout_rolling(
    plan: &Plan<'_>,
    new: Option<RsView>,
    old: Vec<RsView>,
    status: &mut serde_json::Map<String, Value>,
) {
    let old_total: i64 = old.iter().map(|r| r.replicas).sum();
    let Some(new) = new else {
        let replicas = rolling::new_rs_replicas(plan.desired, plan.surge, old_total, 0);
        create_new_rs(plan, &old, replicas, status);
        return;
    };
    let all_total = old_total + new.replicas;
    if new.replicas > plan.desired {
        plan.scale(&new, plan.desired);
        return;
    }
    if new.replicas < plan.desired {
        let want = rolling::new_rs_replicas(plan.desired, plan.surge, all_total, new.replicas);
        if want != new.replicas {
            plan.scale(&new, want);
            return;
        }
    }
    if old_total > 0 {
        let max_down = rolling::max_scaled_down(
            all_total,
            plan.desired,
            plan.unavailable,
            new.replicas,
            new.available,
        );
        if max_down > 0 {
            let available: i64 = old.iter().map(|r| r.available).sum::<i64>() + new.available;
            let pairs: Vec<(i64, i64)> = old.iter().map(|r| (r.replicas, r.available)).collect();
            let sizes = rolling::scale_down_old(
                &pairs,
                available,
                plan.desired - plan.unavailable,
                max_down,
            );
            for (rs, size) in old.iter().zip(sizes) {
                if size != rs.replicas {
                    plan.scale(rs, size);
                }
            }
            return;
        }
    }
    if Counts::of(&plan.owned(), Some(&new)).complete(plan.desired) {
        cleanup(plan, &old);
    }
}

fn rollout_recreate(
    plan: &Plan<'_>,
    new: Option<RsView>,
    old: Vec<RsView>,
    status: &mut serde_json::Map<String, Value>,
) {
    let active_old: Vec<&RsView> = old.iter().filter(|r| r.replicas > 0).collect();
    if !active_old.is_empty() {
        for rs in active_old {
            plan.scale(rs, 0);
        }
        return;
    }
    if old.iter().any(|r| r.status_replicas > 0) {
        // Wait for the old pods to be gone before starting new ones.
        return;
    }
    match new {
        None => {
            create_new_rs(plan, &old, plan.desired, status);
        }
        Some(n) if n.replicas != plan.desired => plan.scale(&n, plan.desired),
        Some(n) => {
            if Counts::of(&plan.owned(), Some(&n)).complete(plan.desired) {
                cleanup(plan, &old);
            }
        }
    }
}

/// Deletes the oldest zero-replica ReplicaSets beyond `revisionHistoryLimit`.
fn cleanup(plan: &Plan<'_>, old: &[RsView]) {
    let limit = plan
        .d
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10);
    let mut candidates: Vec<&RsView> = old.iter().collect();
    let diff = candidates.len() as i64 - limit;
    if diff <= 0 {
        return;
    }
    candidates.sort_by_key(|r| r.revision);
    for rs in candidates.into_iter().take(diff as usize) {
        if rs.replicas == 0 && rs.status_replicas == 0 {
            let _ = plan.shared.delete_obj(
                ids::REPLICASETS,
                &plan.ns,
                &rs.name,
                crate::ops::Propagation::Background,
            );
        }
    }
}

/// Computes and writes the status from a fresh look at the ReplicaSets.
fn finish(plan: &Plan<'_>, mut status: serde_json::Map<String, Value>, with_progress: bool) {
    let now = plan.shared.now();
    let old_counts = Counts::from_status(plan.d.get("status").unwrap_or(&Value::Null));
    let (new, old) = plan.split(plan.owned());
    let all: Vec<RsView> = old.iter().cloned().chain(new.clone()).collect();
    let counts = Counts::of(&all, new.as_ref());
    counts.write(&mut status);
    status.insert(
        "observedGeneration".into(),
        json!(meta::i64_at(plan.d, &["metadata", "generation"]).unwrap_or(1)),
    );
    let max_unavailable = if plan.rolling && plan.desired > 0 {
        plan.unavailable.min(plan.desired)
    } else {
        0
    };
    if counts.available >= plan.desired - max_unavailable {
        ds::set_condition(
            &mut status,
            ds::AVAILABLE,
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        );
    } else {
        ds::set_condition(
            &mut status,
            ds::AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        );
    }
    let paused = plan
        .d
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if with_progress
        && !paused
        && let (Some(deadline), Some(new)) = (progress_deadline(plan.d), new.as_ref())
    {
        let reason = ds::condition_reason(&status, ds::PROGRESSING);
        let already_complete =
            counts.replicas == counts.updated && reason.as_deref() == Some(ds::NEW_RS_AVAILABLE);
        if !already_complete {
            if counts.complete(plan.desired) {
                let msg = format!("ReplicaSet \"{}\" has successfully progressed.", new.name);
                ds::set_condition(
                    &mut status,
                    ds::PROGRESSING,
                    "True",
                    ds::NEW_RS_AVAILABLE,
                    &msg,
                    now,
                );
            } else if counts.progressed_since(&old_counts) {
                ds::set_progressing(
                    &mut status,
                    &format!("ReplicaSet \"{}\" is progressing.", new.name),
                    now,
                );
            } else if ds::timed_out(&status, Some(deadline), now) {
                let msg = format!("ReplicaSet \"{}\" has timed out progressing.", new.name);
                ds::set_condition(
                    &mut status,
                    ds::PROGRESSING,
                    "False",
                    ds::TIMED_OUT,
                    &msg,
                    now,
                );
            }
        }
    }
    let status = Value::Object(status);
    if plan.d.get("status") != Some(&status) {
        plan.shared.mutate(
            ids::DEPLOYMENTS,
            &plan.ns,
            &plan.name,
            UpdateMode::Status,
            |o| o["status"] = status,
        );
    }
}
