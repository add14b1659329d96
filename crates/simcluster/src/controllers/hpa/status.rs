//! The HPA status the controller writes: `setConditionInList` semantics (a condition keeps
//! its lastTransitionTime until its status flips), and `setStatus`, which rebuilds the
//! status from current/desired replicas, metric statuses, the kept conditions and
//! lastScaleTime.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clock::rfc3339;

/// The status being built during one sync, starting from the stored one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub(crate) current: i64,
    pub(crate) desired: i64,
    pub(crate) metrics: Option<Vec<Value>>,
    last_scale_time: Option<Value>,
    conditions: Vec<Value>,
    now: Timestamp,
}

impl Draft {
    pub(crate) fn from_stored(status: Option<&Value>, now: Timestamp) -> Draft {
        let s = status.cloned().unwrap_or_else(|| json!({}));
        let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
        Draft {
            current: int("currentReplicas"),
            desired: int("desiredReplicas"),
            metrics: s.get("currentMetrics").and_then(Value::as_array).cloned(),
            last_scale_time: s.get("lastScaleTime").cloned(),
            conditions: s
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            now,
        }
    }

    /// `setCondition`: new conditions are appended, so they keep the order first set.
    pub(crate) fn set(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        let status = if ok { "True" } else { "False" };
        let idx = match self
            .conditions
            .iter()
            .position(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        {
            Some(i) => i,
            None => {
                self.conditions.push(json!({"type": type_}));
                self.conditions.len() - 1
            }
        };
        let c = &mut self.conditions[idx];
        if c.get("status").and_then(Value::as_str) != Some(status) {
            c["lastTransitionTime"] = json!(rfc3339(self.now));
        }
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message.into());
    }

    /// `setStatus`; `rescaled` stamps lastScaleTime.
    pub(crate) fn set_status(
        &mut self,
        current: i32,
        desired: i32,
        metrics: Option<Vec<Value>>,
        rescaled: bool,
    ) {
        self.current = i64::from(current);
        self.desired = i64::from(desired);
        self.metrics = metrics;
        if rescaled {
            self.last_scale_time = Some(json!(rfc3339(self.now)));
        }
    }

    /// The status as stored. `observedGeneration` is set to the HPA's generation so clients
    /// can tell the status reflects the spec; the upstream controller leaves it unset.
    pub(crate) fn render(&self, generation: i64) -> Value {
        // currentReplicas is `omitempty` in autoscaling/v2; desiredReplicas is not.
        let mut s = json!({"desiredReplicas": self.desired, "observedGeneration": generation});
        if self.current != 0 {
            s["currentReplicas"] = json!(self.current);
        }
        if let Some(t) = &self.last_scale_time {
            s["lastScaleTime"] = t.clone();
        }
        if let Some(m) = self.metrics.as_ref().filter(|m| !m.is_empty()) {
            s["currentMetrics"] = json!(m);
        }
        if !self.conditions.is_empty() {
            s["conditions"] = json!(self.conditions);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time_until_they_flip() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2024-01-01T00:00:15Z".parse().unwrap();
        let mut d = Draft::from_stored(None, t0);
        d.set("AbleToScale", true, "SucceededGetScale", "got it");
        d.set("ScalingActive", false, "FailedGetResourceMetric", "no");
        let stored = d.render(1);
        let mut d = Draft::from_stored(Some(&stored), t1);
        d.set("AbleToScale", true, "ReadyForNewScale", "ok");
        d.set("ScalingActive", true, "ValidMetricFound", "yes");
        d.set_status(2, 3, Some(vec![json!({"type": ""})]), true);
        let s = d.render(2);
        let c = s["conditions"].as_array().unwrap();
        assert_eq!(c[0]["type"], "AbleToScale");
        assert_eq!(
            c[0]["lastTransitionTime"], "2024-01-01T00:00:00Z",
            "still True"
        );
        assert_eq!(c[0]["reason"], "ReadyForNewScale");
        assert_eq!(
            c[1]["lastTransitionTime"], "2024-01-01T00:00:15Z",
            "flipped"
        );
        assert_eq!(s["lastScaleTime"], "2024-01-01T00:00:15Z");
        assert_eq!(
            (s["currentReplicas"].clone(), s["desiredReplicas"].clone()),
            (json!(2), json!(3))
        );
        let mut idle = Draft::from_stored(None, t0);
        idle.set_status(0, 0, None, false);
        let s = idle.render(1);
        assert!(s.get("currentReplicas").is_none() && s.get("currentMetrics").is_none());
        assert_eq!(s["desiredReplicas"], 0);
    }
}
