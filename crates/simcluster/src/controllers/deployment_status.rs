//! Deployment status: replica counts summed from the ReplicaSets, the `Available` and
//! `Progressing` conditions with Kubernetes' reasons, and the progress-deadline check.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::new_rs::RsView;
use crate::clock::{parse_time, rfc3339, secs_between};

pub(crate) const PROGRESSING: &str = "Progressing";
pub(crate) const AVAILABLE: &str = "Available";
pub(crate) const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub(crate) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub(crate) const PAUSED: &str = "DeploymentPaused";
pub(crate) const RESUMED: &str = "DeploymentResumed";

/// The replica counts `kubectl rollout status` reads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) replicas: i64,
    pub(crate) updated: i64,
    pub(crate) ready: i64,
    pub(crate) available: i64,
    pub(crate) unavailable: i64,
}

impl Counts {
    pub(crate) fn of(all: &[RsView], new: Option<&RsView>) -> Self {
        let spec_total: i64 = all.iter().map(|r| r.replicas).sum();
        let available: i64 = all.iter().map(|r| r.available).sum();
        Counts {
            replicas: all.iter().map(|r| r.status_replicas).sum(),
            updated: new.map_or(0, |n| n.status_replicas),
            ready: all.iter().map(|r| r.ready).sum(),
            available,
            unavailable: (spec_total - available).max(0),
        }
    }

    pub(crate) fn from_status(s: &Value) -> Self {
        let g = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
        Counts {
            replicas: g("replicas"),
            updated: g("updatedReplicas"),
            ready: g("readyReplicas"),
            available: g("availableReplicas"),
            unavailable: g("unavailableReplicas"),
        }
    }

    /// Writes the counts, omitting zeros like the apiserver's `omitempty`.
    pub(crate) fn write(&self, status: &mut Map<String, Value>) {
        for (k, v) in [
            ("replicas", self.replicas),
            ("updatedReplicas", self.updated),
            ("readyReplicas", self.ready),
            ("availableReplicas", self.available),
            ("unavailableReplicas", self.unavailable),
        ] {
            if v == 0 {
                status.remove(k);
            } else {
                status.insert(k.into(), json!(v));
            }
        }
    }

    /// `DeploymentComplete`.
    pub(crate) fn complete(&self, desired: i64) -> bool {
        self.updated == desired && self.replicas == desired && self.available == desired
    }

    /// `DeploymentProgressing`: something moved since the previous status.
    pub(crate) fn progressed_since(&self, old: &Counts) -> bool {
        self.updated > old.updated
            || (self.replicas - self.updated) < (old.replicas - old.updated)
            || self.ready > old.ready
            || self.available > old.available
    }
}

pub(crate) fn get_condition<'a>(status: &'a Map<String, Value>, type_: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        })
}

fn field<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn condition_reason(status: &Map<String, Value>, type_: &str) -> Option<String> {
    get_condition(status, type_).map(|c| field(c, "reason").to_string())
}

fn remove_condition(status: &mut Map<String, Value>, type_: &str) {
    if let Some(Value::Array(cs)) = status.get_mut("conditions") {
        cs.retain(|c| c.get("type").and_then(Value::as_str) != Some(type_));
    }
}

fn push_condition(status: &mut Map<String, Value>, cond: Value) {
    match status.get_mut("conditions") {
        Some(Value::Array(cs)) => cs.push(cond),
        _ => {
            status.insert("conditions".into(), json!([cond]));
        }
    }
}

/// `SetDeploymentCondition`: no change when status and reason match; keeps
/// lastTransitionTime when only the reason changes.
pub(crate) fn set_condition(
    status: &mut Map<String, Value>,
    type_: &str,
    st: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let mut transition = rfc3339(now);
    if let Some(cur) = get_condition(status, type_) {
        if field(cur, "status") == st && field(cur, "reason") == reason {
            return;
        }
        if field(cur, "status") == st {
            transition = field(cur, "lastTransitionTime").to_string();
        }
    }
    remove_condition(status, type_);
    push_condition(
        status,
        condition(type_, st, reason, message, &rfc3339(now), &transition),
    );
}

/// The `ReplicaSetUpdated` case, which refreshes lastUpdateTime on every step of progress.
pub(crate) fn set_progressing(status: &mut Map<String, Value>, message: &str, now: Timestamp) {
    let mut transition = rfc3339(now);
    if let Some(cur) = get_condition(status, PROGRESSING)
        && field(cur, "status") == "True"
    {
        transition = field(cur, "lastTransitionTime").to_string();
    }
    remove_condition(status, PROGRESSING);
    push_condition(
        status,
        condition(
            PROGRESSING,
            "True",
            "ReplicaSetUpdated",
            message,
            &rfc3339(now),
            &transition,
        ),
    );
}

fn condition(
    type_: &str,
    st: &str,
    reason: &str,
    message: &str,
    update: &str,
    transition: &str,
) -> Value {
    json!({
        "type": type_,
        "status": st,
        "lastUpdateTime": update,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    })
}

/// `DeploymentTimedOut`.
pub(crate) fn timed_out(
    status: &Map<String, Value>,
    deadline_secs: Option<i64>,
    now: Timestamp,
) -> bool {
    let Some(deadline) = deadline_secs else {
        return false;
    };
    let Some(cond) = get_condition(status, PROGRESSING) else {
        return false;
    };
    match field(cond, "reason") {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => parse_time(field(cond, "lastUpdateTime"))
            .is_some_and(|from| secs_between(from, now) > deadline as f64),
    }
}

/// `checkPausedConditions`.
pub(crate) fn paused_conditions(status: &mut Map<String, Value>, paused: bool, now: Timestamp) {
    let reason = condition_reason(status, PROGRESSING);
    if reason.as_deref() == Some(TIMED_OUT) {
        return;
    }
    let paused_cond = reason.as_deref() == Some(PAUSED);
    if paused && !paused_cond {
        set_condition(
            status,
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused",
            now,
        );
    } else if !paused && paused_cond {
        set_condition(
            status,
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed",
            now,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_deadline() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let mut s = Map::new();
        set_condition(
            &mut s,
            PROGRESSING,
            "True",
            "NewReplicaSetCreated",
            "Created new replica set \"x\"",
            t0,
        );
        let later = crate::clock::add_secs(t0, 11.0);
        assert!(!timed_out(&s, Some(30), later));
        assert!(timed_out(&s, Some(10), later));
        set_progressing(&mut s, "ReplicaSet \"x\" is progressing.", later);
        assert!(!timed_out(&s, Some(10), later));
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!(c["lastTransitionTime"], "2024-01-01T00:00:00Z");
        assert_eq!(c["lastUpdateTime"], "2024-01-01T00:00:11Z");
    }

    #[test]
    fn paused_then_resumed() {
        let t0 = Timestamp::now();
        let mut s = Map::new();
        paused_conditions(&mut s, true, t0);
        assert_eq!(condition_reason(&s, PROGRESSING).as_deref(), Some(PAUSED));
        paused_conditions(&mut s, false, t0);
        assert_eq!(condition_reason(&s, PROGRESSING).as_deref(), Some(RESUMED));
    }

    #[test]
    fn completion() {
        let c = Counts {
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 3,
            unavailable: 0,
        };
        assert!(c.complete(3));
        assert!(!Counts { available: 2, ..c }.complete(3));
        assert!(c.progressed_since(&Counts::default()));
    }
}
