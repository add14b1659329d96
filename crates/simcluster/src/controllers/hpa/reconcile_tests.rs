//! The sync flow without a cluster: a fake target, pods and samples, and a scale writer
//! that can fail.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn hpa(extra: Value) -> Value {
    let mut h = json!({"metadata": {"name": "web", "namespace": "default", "generation": 3},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
    if let (Some(h), Some(e)) = (h["spec"].as_object_mut(), extra.as_object()) {
        h.extend(e.clone());
    }
    h
}

fn pods(n: usize) -> Vec<PodView> {
    (0..n)
        .map(|i| PodView {
            name: format!("p{i}"),
            deleting: false,
            phase: "Running".into(),
            ready: Some((true, t(0))),
            start_time: Some(t(0)),
            containers: vec![("web".into(), BTreeMap::from([("cpu".into(), 100)]))],
        })
        .collect()
}

struct Case {
    hpa: Value,
    scale: Result<ScaleView, String>,
    pods: Vec<PodView>,
    milli_cpu: i64,
    write: Result<(), String>,
}

impl Case {
    fn new(replicas: i32, milli_cpu: i64) -> Case {
        Case {
            hpa: hpa(json!({})),
            scale: Ok(ScaleView {
                spec_replicas: replicas,
                selector: "app=web".into(),
            }),
            pods: pods(replicas.max(0) as usize),
            milli_cpu,
            write: Ok(()),
        }
    }

    /// One sync at 600 s; returns the outcome and the replica counts written.
    fn run(&self) -> (Outcome, Vec<i32>) {
        let samples = |_: &MetricSpec| -> Result<Samples, String> {
            Ok(self
                .pods
                .iter()
                .map(|p| (p.name.clone(), self.milli_cpu))
                .collect())
        };
        let world = World {
            hpa: &self.hpa,
            scale: self.scale.clone(),
            selecting: vec!["default/web".into()],
            pods: &self.pods,
            samples: &samples,
            now: t(600),
        };
        let mut written = Vec::new();
        let mut write = |to: i32| {
            written.push(to);
            self.write.clone()
        };
        let out = reconcile(&world, &mut History::default(), &mut write);
        (out, written)
    }
}

fn condition(status: &Value, type_: &str) -> (String, String) {
    let c = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or_default();
    (
        c["status"].as_str().unwrap_or("").into(),
        c["reason"].as_str().unwrap_or("").into(),
    )
}

#[test]
fn a_rescale_writes_the_scale_records_an_event_and_stamps_the_status() {
    let (out, written) = Case::new(2, 90).run();
    assert_eq!(written, [4]);
    assert_eq!(
        out.scaled,
        Some((
            2,
            4,
            "cpu resource utilization (percentage of request) above target".into()
        ))
    );
    assert_eq!(out.status["currentReplicas"], 2);
    assert_eq!(out.status["desiredReplicas"], 4);
    assert_eq!(out.status["observedGeneration"], 3);
    assert_eq!(out.status["lastScaleTime"], "2023-11-14T22:23:20Z");
    assert_eq!(
        out.status["currentMetrics"][0]["resource"]["current"],
        json!({"averageUtilization": 90, "averageValue": "90m"})
    );
    assert_eq!(
        condition(&out.status, "AbleToScale"),
        ("True".into(), "SucceededRescale".into())
    );
    assert_eq!(
        condition(&out.status, "ScalingActive"),
        ("True".into(), "ValidMetricFound".into())
    );
    assert_eq!(
        out.events,
        [(
            "Normal",
            "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target"
                .to_string()
        )]
    );
}

#[test]
fn a_failed_write_keeps_the_old_desired_count() {
    let mut c = Case::new(2, 90);
    c.write = Err(
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified"
            .into(),
    );
    let (out, written) = c.run();
    assert_eq!(written, [4]);
    assert_eq!(out.scaled, None);
    assert_eq!(
        condition(&out.status, "AbleToScale"),
        ("False".into(), "FailedUpdateScale".into())
    );
    assert_eq!(out.status["desiredReplicas"], 0, "the stored desired count");
    assert!(out.status.get("lastScaleTime").is_none());
    assert_eq!(out.events[0].1, "FailedRescale");
    assert!(out.events[0].2.starts_with("New size: 4; reason: cpu resource utilization (percentage of request) above target; error: Operation cannot be fulfilled"));
}

#[test]
fn bounds_outside_the_metrics_and_a_missing_target() {
    // Above maxReplicas: scaled to the max without reading metrics.
    let (out, written) = Case::new(12, 10).run();
    assert_eq!(written, [10]);
    assert_eq!(
        out.scaled.map(|s| s.2),
        Some("Current number of replicas above Spec.MaxReplicas".into())
    );
    assert!(out.status.get("currentMetrics").is_none());
    // Zero replicas: autoscaling is off.
    let (out, written) = Case::new(0, 10).run();
    assert!(written.is_empty());
    assert_eq!(
        condition(&out.status, "ScalingActive"),
        ("False".into(), "ScalingDisabled".into())
    );
    assert_eq!(
        (
            out.status.get("currentReplicas"),
            &out.status["desiredReplicas"]
        ),
        (None, &json!(0))
    );
    // The target cannot be read.
    let mut c = Case::new(2, 10);
    c.scale = Err("deployments.apps \"web\" not found".into());
    let (out, written) = c.run();
    assert!(written.is_empty());
    assert_eq!(
        condition(&out.status, "AbleToScale"),
        ("False".into(), "FailedGetScale".into())
    );
    assert_eq!(
        out.events,
        [(
            "Warning",
            "FailedGetScale",
            "deployments.apps \"web\" not found".to_string()
        )]
    );
}

#[test]
fn one_failing_metric_does_not_stop_a_scale_up_but_stops_a_scale_down() {
    let mut c = Case::new(2, 90);
    c.hpa = hpa(json!({"metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "1"}}}]}));
    let (out, written) = c.run();
    assert_eq!(written, [4], "the working metric still scales up");
    assert_eq!(out.status["currentMetrics"][1], json!({"type": ""}));
    assert!(out.events.iter().any(|e| e.1 == "FailedGetExternalMetric"));
    c.milli_cpu = 10;
    let (out, written) = c.run();
    assert!(written.is_empty(), "no scale-down on partial metrics");
    assert_eq!(
        condition(&out.status, "ScalingActive"),
        ("False".into(), "FailedGetExternalMetric".into())
    );
    assert!(out.events.iter().any(|e| {
        e.1 == "FailedComputeMetricsReplicas"
            && e.2
                .starts_with("invalid metrics (1 invalid out of 2), first error is: ")
    }));
}

#[test]
fn an_average_value_target_reports_the_raw_average() {
    // 64 MiB per pod against 100Mi: ratio 0.64, held at 4 by the fresh stabilization window.
    let mut c = Case::new(4, 67_108_864_000);
    c.hpa = hpa(
        json!({"metrics": [{"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]}),
    );
    let (out, written) = c.run();
    assert!(written.is_empty());
    assert_eq!(
        out.status["currentMetrics"][0],
        json!({"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "67108864"}}})
    );
    assert_eq!(
        condition(&out.status, "AbleToScale"),
        ("True".into(), "ScaleDownStabilized".into())
    );
    assert_eq!(
        condition(&out.status, "ScalingActive"),
        ("True".into(), "ValidMetricFound".into())
    );
}
