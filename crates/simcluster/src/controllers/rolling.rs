//! Rolling-update arithmetic from Kubernetes' deployment utilities, as pure functions:
//! surge rounds up, unavailability rounds down, and both zero means one may be unavailable.

use serde_json::Value;

use crate::meta::int_or_percent;

/// `ResolveFenceposts`: (maxSurge, maxUnavailable) as pod counts.
pub(crate) fn resolve_fenceposts(
    max_surge: Option<&Value>,
    max_unavailable: Option<&Value>,
    desired: i64,
) -> (i64, i64) {
    let surge = int_or_percent(max_surge, desired, true, "25%").max(0);
    let mut unavailable = int_or_percent(max_unavailable, desired, false, "25%").max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// The replica count the new ReplicaSet may scale up to now (`NewRSNewReplicas`).
pub(crate) fn new_rs_replicas(
    desired: i64,
    max_surge: i64,
    current_total: i64,
    new_rs_replicas: i64,
) -> i64 {
    let max_total = desired + max_surge;
    if current_total >= max_total {
        return new_rs_replicas;
    }
    let scale_up = (max_total - current_total)
        .min(desired - new_rs_replicas)
        .max(0);
    new_rs_replicas + scale_up
}

/// How many old pods may be scaled down right now (`reconcileOldReplicaSets`' `maxScaledDown`).
pub(crate) fn max_scaled_down(
    all_pods: i64,
    desired: i64,
    max_unavailable: i64,
    new_rs_replicas: i64,
    new_rs_available: i64,
) -> i64 {
    let min_available = desired - max_unavailable;
    let new_unavailable = new_rs_replicas - new_rs_available;
    all_pods - min_available - new_unavailable
}

/// Old ReplicaSets' scale-down plan: given (spec replicas, available) of each old RS in
/// oldest-first order, the total available pods and the minimum available, returns their
/// new replica counts (`scaleDownOldReplicaSetsForRollingUpdate`, after unhealthy cleanup).
pub(crate) fn scale_down_old(
    old: &[(i64, i64)],
    total_available: i64,
    min_available: i64,
    max_scaled_down: i64,
) -> Vec<i64> {
    let mut out: Vec<i64> = old.iter().map(|(r, _)| *r).collect();
    // First drop unhealthy (unavailable) old pods, up to max_scaled_down.
    let mut budget = max_scaled_down.max(0);
    for (i, (replicas, available)) in old.iter().enumerate() {
        if budget == 0 {
            break;
        }
        let unhealthy = (replicas - available).max(0);
        let cut = unhealthy.min(budget);
        out[i] -= cut;
        budget -= cut;
    }
    // Then scale down healthy old pods while enough stay available.
    if total_available <= min_available {
        return out;
    }
    let mut remaining = total_available - min_available;
    for r in out.iter_mut() {
        if remaining == 0 {
            break;
        }
        let cut = (*r).min(remaining);
        *r -= cut;
        remaining -= cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fenceposts() {
        assert_eq!(resolve_fenceposts(None, None, 3), (1, 0));
        assert_eq!(resolve_fenceposts(None, None, 10), (3, 2));
        assert_eq!(
            resolve_fenceposts(Some(&json!(0)), Some(&json!(0)), 5),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&json!("50%")), Some(&json!("50%")), 3),
            (2, 1)
        );
    }

    #[test]
    fn scale_up_respects_surge() {
        // 3 desired, surge 1: with 3 old pods the new RS may get 1.
        assert_eq!(new_rs_replicas(3, 1, 3, 0), 1);
        assert_eq!(new_rs_replicas(3, 1, 4, 1), 1);
        assert_eq!(new_rs_replicas(3, 1, 2, 1), 3);
        assert_eq!(new_rs_replicas(10, 3, 10, 0), 3);
    }

    #[test]
    fn scale_down_keeps_minimum_available() {
        // 3 desired, maxUnavailable 0: all 4 pods exist, new pod not yet available.
        assert_eq!(max_scaled_down(4, 3, 0, 1, 0), 0);
        // New pod available: one old pod may go.
        assert_eq!(max_scaled_down(4, 3, 0, 1, 1), 1);
        assert_eq!(scale_down_old(&[(3, 3)], 4, 3, 1), vec![2]);
        // Unhealthy old pods go first.
        assert_eq!(scale_down_old(&[(3, 1)], 1, 3, 2), vec![1]);
    }
}
