//! The autoscaling/v2 HorizontalPodAutoscaler spec: the apiserver's defaulting and the
//! validation clients trip over (`SetDefaults_HorizontalPodAutoscaler`,
//! `ValidateHorizontalPodAutoscalerSpec`), and the typed view the controller reads.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::quantity;
use crate::resources::{def, ids};

/// `autoscaling.DefaultCPUUtilization`: the metric an HPA without metrics gets.
const DEFAULT_CPU_UTILIZATION: i64 = 80;
/// The controller's tolerance flag default (`--horizontal-pod-autoscaler-tolerance`).
pub(crate) const DEFAULT_TOLERANCE: f64 = 0.1;

fn default_scale_up() -> Value {
    json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]})
}

/// The scale-down window stays unset: the controller's `--horizontal-pod-autoscaler-
/// downscale-stabilization` (300 s) supplies it.
fn default_scale_down() -> Value {
    json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// Defaults as the apiserver applies them on write, and quantities in their canonical text.
pub(crate) fn defaults(obj: &mut Value) {
    let spec = meta::obj_mut(obj, &["spec"]);
    spec.entry("minReplicas").or_insert(json!(1));
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]),
        );
    }
    if let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) {
        for (key, default) in [
            ("scaleUp", default_scale_up()),
            ("scaleDown", default_scale_down()),
        ] {
            // copyHPAScalingRules: every field the client set wins over the default.
            let mut rules = default;
            if let Some(given) = behavior.get(key).and_then(Value::as_object) {
                for (k, v) in given {
                    rules[k.as_str()] = v.clone();
                }
            }
            behavior[key] = rules;
        }
    }
    if let Some(metrics) = spec.get_mut("metrics").and_then(Value::as_array_mut) {
        for m in metrics.iter_mut() {
            for source in [
                "resource",
                "pods",
                "containerResource",
                "object",
                "external",
            ] {
                for field in ["averageValue", "value"] {
                    let at = format!("/{source}/target/{field}");
                    if let Some(q) = m.pointer_mut(&at)
                        && let Some(c) = q.as_str().and_then(quantity::canonical)
                    {
                        *q = json!(c);
                    }
                }
            }
        }
    }
}

pub(crate) fn validate(obj: &Value) -> Result<(), ApiError> {
    let invalid = |why: String| ApiError::invalid(def(ids::HPAS), meta::name(obj), why);
    let int = |key: &str| meta::i64_at(obj, &["spec", key]);
    let max = int("maxReplicas").unwrap_or(0);
    let min = int("minReplicas").unwrap_or(1);
    if min < 1 {
        return Err(invalid(format!(
            "spec.minReplicas: Invalid value: {min}: must be greater than or equal to 1"
        )));
    }
    if max < 1 {
        return Err(invalid(format!(
            "spec.maxReplicas: Invalid value: {max}: must be greater than or equal to 1"
        )));
    }
    if max < min {
        return Err(invalid(format!(
            "spec.maxReplicas: Invalid value: {max}: must be greater than or equal to `minReplicas`"
        )));
    }
    for key in ["kind", "name"] {
        if meta::str_at(obj, &["spec", "scaleTargetRef", key]).is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "spec.scaleTargetRef.{key}: Required value"
            )));
        }
    }
    Ok(())
}

/// What a metric is measured against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// Percent of the pods' requests.
    Utilization(i32),
    /// A per-pod value, in milli-units.
    AverageValue(i64),
    /// Neither set (or unparseable).
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MetricSpec {
    /// `cpu`, `memory`.
    Resource { name: String, target: Target },
    /// A per-pod custom metric.
    Pods { name: String, target: Target },
    /// Object, External, ContainerResource: not served by the simulator.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    Pods,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) value: i32,
    pub(crate) period_secs: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    /// `None` for scale-down means the controller's 300 s default.
    pub(crate) window_secs: Option<i32>,
    pub(crate) select: Select,
    pub(crate) policies: Vec<Policy>,
    pub(crate) tolerance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Behavior {
    pub(crate) up: Rules,
    pub(crate) down: Rules,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HpaSpec {
    pub(crate) target_api_version: String,
    pub(crate) target_kind: String,
    pub(crate) target_name: String,
    pub(crate) min: i32,
    pub(crate) max: i32,
    pub(crate) metrics: Vec<MetricSpec>,
    pub(crate) behavior: Option<Behavior>,
}

impl HpaSpec {
    /// The spec of a stored (defaulted) HPA.
    pub(crate) fn read(hpa: &Value) -> HpaSpec {
        let mut defaulted = hpa.clone();
        defaults(&mut defaulted);
        let s = |path: &[&str]| meta::str_at(&defaulted, path).unwrap_or("").to_string();
        let i = |key: &str, d: i64| clamp(meta::i64_at(&defaulted, &["spec", key]).unwrap_or(d));
        HpaSpec {
            target_api_version: s(&["spec", "scaleTargetRef", "apiVersion"]),
            target_kind: s(&["spec", "scaleTargetRef", "kind"]),
            target_name: s(&["spec", "scaleTargetRef", "name"]),
            min: i("minReplicas", 1),
            max: i("maxReplicas", 0),
            metrics: defaulted
                .pointer("/spec/metrics")
                .and_then(Value::as_array)
                .map(|ms| ms.iter().map(metric).collect())
                .unwrap_or_default(),
            behavior: defaulted
                .pointer("/spec/behavior")
                .filter(|b| b.is_object())
                .map(|b| Behavior {
                    up: rules(b.get("scaleUp")),
                    down: rules(b.get("scaleDown")),
                }),
        }
    }

    /// Scale-up and scale-down tolerances (`behavior.*.tolerance` when set).
    pub(crate) fn tolerances(&self) -> (f64, f64) {
        let pick = |r: Option<&Rules>| r.and_then(|r| r.tolerance).unwrap_or(DEFAULT_TOLERANCE);
        let b = self.behavior.as_ref();
        (pick(b.map(|b| &b.down)), pick(b.map(|b| &b.up)))
    }
}

fn clamp(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn target(t: Option<&Value>) -> Target {
    let Some(t) = t else {
        return Target::Missing;
    };
    if let Some(q) = t.get("averageValue") {
        let parsed = q
            .as_str()
            .and_then(quantity::parse_milli)
            .or_else(|| q.as_i64().map(|v| v.saturating_mul(1000)));
        return parsed.map_or(Target::Missing, Target::AverageValue);
    }
    match t.get("averageUtilization").and_then(Value::as_i64) {
        Some(u) => Target::Utilization(clamp(u)),
        None => Target::Missing,
    }
}

fn metric(m: &Value) -> MetricSpec {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
    let name = |p: &str| {
        m.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match kind {
        "Resource" => MetricSpec::Resource {
            name: name("/resource/name"),
            target: target(m.pointer("/resource/target")),
        },
        "Pods" => MetricSpec::Pods {
            name: name("/pods/metric/name"),
            target: target(m.pointer("/pods/target")),
        },
        other => MetricSpec::Unsupported(other.to_string()),
    }
}

fn rules(r: Option<&Value>) -> Rules {
    let r = r.cloned().unwrap_or(Value::Null);
    let select = match r.get("selectPolicy").and_then(Value::as_str) {
        Some("Min") => Select::Min,
        Some("Disabled") => Select::Disabled,
        _ => Select::Max,
    };
    let policies = r
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let kind = match p.get("type").and_then(Value::as_str)? {
                "Pods" => PolicyKind::Pods,
                "Percent" => PolicyKind::Percent,
                _ => return None,
            };
            Some(Policy {
                kind,
                value: clamp(p.get("value").and_then(Value::as_i64)?),
                period_secs: clamp(p.get("periodSeconds").and_then(Value::as_i64)?),
            })
        })
        .collect();
    Rules {
        window_secs: r
            .get("stabilizationWindowSeconds")
            .and_then(Value::as_i64)
            .map(clamp),
        select,
        policies,
        tolerance: r
            .get("tolerance")
            .and_then(Value::as_str)
            .and_then(quantity::parse_milli)
            .map(|m| m as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_apiserver_fills() {
        let mut h = json!({"spec": {"maxReplicas": 5, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        defaults(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert_eq!(h["spec"]["behavior"]["scaleUp"], default_scale_up());
        assert_eq!(
            h["spec"]["behavior"]["scaleDown"],
            json!({"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
        );
        let mut plain = json!({"spec": {"maxReplicas": 5, "metrics": [{"type": "Pods", "pods": {
            "metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "0.5"}}}]}});
        defaults(&mut plain);
        assert!(
            plain["spec"].get("behavior").is_none(),
            "no behavior stays none"
        );
        assert_eq!(
            plain["spec"]["metrics"][0]["pods"]["target"]["averageValue"],
            "500m"
        );
    }

    #[test]
    fn typed_view() {
        let h = json!({"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 10, "minReplicas": 2,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                {"type": "External", "external": {}}],
            "behavior": {"scaleUp": {"selectPolicy": "Disabled", "tolerance": "0.05"}}}});
        let s = HpaSpec::read(&h);
        assert_eq!((s.min, s.max, s.target_name.as_str()), (2, 10, "web"));
        assert_eq!(
            s.metrics[0],
            MetricSpec::Resource {
                name: "cpu".into(),
                target: Target::Utilization(50)
            }
        );
        assert_eq!(
            s.metrics[1],
            MetricSpec::Resource {
                name: "memory".into(),
                target: Target::AverageValue(104_857_600_000)
            }
        );
        assert_eq!(s.metrics[2], MetricSpec::Unsupported("External".into()));
        let b = s.behavior.clone().unwrap();
        assert_eq!(b.up.select, Select::Disabled);
        assert_eq!(b.up.policies.len(), 2);
        assert_eq!(b.down.window_secs, None);
        assert_eq!(s.tolerances(), (0.1, 0.05));
    }

    #[test]
    fn validation() {
        let ok = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 3}});
        assert!(validate(&ok).is_ok());
        let mut bad = ok.clone();
        bad["spec"]["maxReplicas"] = json!(1);
        let e = validate(&bad).unwrap_err();
        assert!(
            e.message
                .contains("must be greater than or equal to `minReplicas`"),
            "{}",
            e.message
        );
        let mut no_target = ok;
        no_target["spec"]["scaleTargetRef"] = json!({});
        assert_eq!(validate(&no_target).map_err(|e| e.code), Err(422));
    }
}
