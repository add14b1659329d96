//! Scaling a Deployment outside a rollout (`kubectl scale`, or while paused): detecting a
//! scaling event from the `desired-replicas` annotation, and the active ReplicaSet taking the
//! new size, or several active ones sharing it in proportion.

use super::deployment::Plan;
use super::new_rs::{DESIRED, RsView};
use crate::meta;

pub(super) fn is_scaling_event(plan: &Plan<'_>, new: Option<&RsView>, old: &[RsView]) -> bool {
    let desired = plan.desired.to_string();
    new.into_iter()
        .chain(old.iter())
        .filter(|r| r.replicas > 0)
        .any(|r| meta::annotation(&r.obj, DESIRED).is_some_and(|a| a != desired))
}

/// `scale()` of the sync path: the active (or latest) RS takes the new size; with several
/// active ones the difference is spread in proportion to their sizes.
pub(super) fn scale_proportionally(plan: &Plan<'_>, new: Option<&RsView>, old: &[RsView]) {
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
