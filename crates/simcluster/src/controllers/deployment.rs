//! The Deployment controller: one ReplicaSet per pod template (`<name>-<pod-template-hash>`),
//! revisions and rollback reuse, rolling updates within maxSurge/maxUnavailable, Recreate,
//! pause, proportional scaling, history cleanup and status. One step per pass: each write
//! wakes the loop again, as the real controller's requeue does.

use serde_json::{Value, json};

use super::deployment_status::{self as ds, Counts};
pub(crate) use super::new_rs::{DESIRED, MAX, RsView};
use super::new_rs::{create_new_rs, progress_deadline, sync_new_rs};
use super::rolling;
use super::scaling::{is_scaling_event, scale_proportionally};
use crate::meta;
use crate::resources::ids;
use crate::state::Shared;
use crate::store::UpdateMode;

/// The facts of one Deployment a pass works from.
pub(super) struct Plan<'a> {
    pub(super) shared: &'a Shared,
    pub(super) d: &'a Value,
    pub(super) ns: String,
    pub(super) name: String,
    pub(super) desired: i64,
    pub(super) rolling: bool,
    pub(super) surge: i64,
    pub(super) unavailable: i64,
}

impl Plan<'_> {
    pub(super) fn max_total(&self) -> i64 {
        self.desired + self.surge
    }

    pub(super) fn owned(&self) -> Vec<RsView> {
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

    pub(super) fn split(&self, all: Vec<RsView>) -> (Option<RsView>, Vec<RsView>) {
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

    pub(super) fn scale(&self, rs: &RsView, to: i64) {
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
    // Wait until the old pods are gone, terminating ones included, before starting new ones.
    let old_uids: Vec<&str> = old.iter().map(|r| meta::uid(&r.obj)).collect();
    let old_pods_left = plan
        .shared
        .store()
        .list(ids::PODS, Some(&plan.ns))
        .iter()
        .any(|p| meta::controller_uid(p).is_some_and(|u| old_uids.contains(&u)));
    if old.iter().any(|r| r.status_replicas > 0) || old_pods_left {
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
