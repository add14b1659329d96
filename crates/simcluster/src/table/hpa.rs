//! The HorizontalPodAutoscaler row as the apiserver's printer builds it: TARGETS pairs each
//! metric of the spec with the status entry at the same index (`formatHPAMetrics`), so a
//! metric the controller could not read shows `<unknown>`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::age;
use crate::meta;

/// At most this many metrics are shown, then `+ N more...`.
const SHOWN: usize = 2;

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<unknown>".into(),
    }
}

/// One metric: `cpu: 45%/50%`, `memory: 60Mi/100Mi`, `12/10` (Pods).
fn target(spec: &Value, status: Option<&Value>) -> String {
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let name = spec
                .pointer(&format!("/{key}/name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let target = spec
                .pointer(&format!("/{key}/target"))
                .cloned()
                .unwrap_or(Value::Null);
            let current = status
                .and_then(|s| s.get(key))
                .and_then(|s| s.get("current"));
            if let Some(avg) = target.get("averageValue") {
                let cur =
                    current.map_or_else(|| "<unknown>".into(), |c| text(c.get("averageValue")));
                return format!("{name}: {cur}/{}", text(Some(avg)));
            }
            let cur = current
                .and_then(|c| c.get("averageUtilization"))
                .and_then(Value::as_i64)
                .map_or_else(|| "<unknown>".into(), |u| format!("{u}%"));
            let want = target
                .get("averageUtilization")
                .and_then(Value::as_i64)
                .map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
            format!("{name}: {cur}/{want}")
        }
        "Pods" => {
            let cur = status
                .and_then(|s| s.pointer("/pods/current/averageValue"))
                .map_or_else(|| "<unknown>".into(), |v| text(Some(v)));
            format!("{cur}/{}", text(spec.pointer("/pods/target/averageValue")))
        }
        "Object" | "External" => {
            let key = if kind == "Object" {
                "object"
            } else {
                "external"
            };
            let target = spec
                .pointer(&format!("/{key}/target"))
                .cloned()
                .unwrap_or(Value::Null);
            let current = status.and_then(|s| s.pointer(&format!("/{key}/current")));
            if let Some(avg) = target.get("averageValue") {
                let cur =
                    current.map_or_else(|| "<unknown>".into(), |c| text(c.get("averageValue")));
                return format!("{cur}/{} (avg)", text(Some(avg)));
            }
            let cur = current.map_or_else(|| "<unknown>".into(), |c| text(c.get("value")));
            format!("{cur}/{}", text(target.get("value")))
        }
        _ => "<unknown type>".into(),
    }
}

pub(super) fn targets(o: &Value) -> String {
    let specs = o
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = o
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| target(s, statuses.and_then(|st| st.get(i))))
        .collect();
    let shown = list[..list.len().min(SHOWN)].join(", ");
    if list.len() > SHOWN {
        format!("{shown} + {} more...", list.len() - SHOWN)
    } else {
        shown
    }
}

pub(super) fn cells(o: &Value, now: Timestamp) -> Vec<Value> {
    let r = o
        .pointer("/spec/scaleTargetRef")
        .cloned()
        .unwrap_or(Value::Null);
    let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let min = meta::i64_at(o, &["spec", "minReplicas"])
        .map_or_else(|| "<unset>".into(), |m| m.to_string());
    vec![
        json!(meta::name(o)),
        json!(format!("{}/{}", field("kind"), field("name"))),
        json!(targets(o)),
        json!(min),
        json!(meta::i64_at(o, &["spec", "maxReplicas"]).unwrap_or(0)),
        json!(meta::i64_at(o, &["status", "currentReplicas"]).unwrap_or(0)),
        age(o, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pair_spec_and_status_by_index() {
        let hpa = json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]},
            "status": {"currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "45m"}}},
                {"type": ""}]}});
        assert_eq!(
            targets(&hpa),
            "cpu: 45%/50%, memory: <unknown>/100Mi + 1 more..."
        );
        let pods_only = json!({"spec": {"metrics": [{"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"averageValue": "10"}}}]},
            "status": {"currentMetrics": [{"type": "Pods", "pods": {"current": {"averageValue": "12"}}}]}});
        assert_eq!(targets(&pods_only), "12/10");
        assert_eq!(targets(&json!({"spec": {}})), "<none>");
    }
}
