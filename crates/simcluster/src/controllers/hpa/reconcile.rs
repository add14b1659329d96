//! One sync of one HPA, as upstream's `reconcileAutoscaler`: read the target's scale,
//! compute a proposal per metric (the highest wins), normalize it, write the scale, and
//! build the status, conditions and events. The target, pods, samples and the scale write
//! come in from outside, so the whole flow is tested without a cluster.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::calc::{Calc, PodView, Samples, Tolerances};
use super::normalize::{Bounds, History};
use super::spec::{HpaSpec, MetricSpec, Target};
use super::status::Draft;
use crate::quantity::format_milli;

/// The target as its `scale` subresource shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScaleView {
    pub(crate) spec_replicas: i32,
    pub(crate) selector: String,
}

/// Everything one sync reads.
pub(crate) struct World<'a> {
    pub(crate) hpa: &'a Value,
    /// The target's scale, or why it could not be read.
    pub(crate) scale: Result<ScaleView, String>,
    /// Keys (`ns/name`) of every HPA whose selector matches one of these pods, this one included.
    pub(crate) selecting: Vec<String>,
    pub(crate) pods: &'a [PodView],
    /// Per-pod samples of a metric, or the metrics API's error.
    pub(crate) samples: &'a dyn Fn(&MetricSpec) -> Result<Samples, String>,
    pub(crate) now: Timestamp,
}

/// An event on the HPA: type, reason, message.
pub(crate) type Event = (&'static str, &'static str, String);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) status: Value,
    pub(crate) events: Vec<Event>,
    /// A successful write of the target's replicas: from, to, reason.
    pub(crate) scaled: Option<(i32, i32, String)>,
}

/// What computing the metrics gave: a proposal, or the statuses kept and the error.
type Metrics = Result<(i32, String, Vec<Value>), (Option<Vec<Value>>, String)>;

pub(crate) fn reconcile(
    w: &World<'_>,
    history: &mut History,
    write_scale: &mut dyn FnMut(i32) -> Result<(), String>,
) -> Outcome {
    let spec = HpaSpec::read(w.hpa);
    let generation = w
        .hpa
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut st = Draft::from_stored(w.hpa.get("status"), w.now);
    let mut events = Vec::new();
    let done = |st: &Draft, events: Vec<Event>, scaled| Outcome {
        status: st.render(generation),
        events,
        scaled,
    };
    let scale = match &w.scale {
        Ok(s) => s.clone(),
        Err(e) => {
            events.push(("Warning", "FailedGetScale", e.clone()));
            st.set(
                "AbleToScale",
                false,
                "FailedGetScale",
                format!("the HPA controller was unable to get the target's current scale: {e}"),
            );
            return done(&st, events, None);
        }
    };
    st.set(
        "AbleToScale",
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let current = scale.spec_replicas;
    history.record_initial(current, w.now);
    let (mut desired, mut reason, mut rescale, mut statuses) = (0, String::new(), true, None);
    if current == 0 && spec.min != 0 {
        rescale = false;
        st.set(
            "ScalingActive",
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
    } else if current > spec.max {
        reason = "Current number of replicas above Spec.MaxReplicas".into();
        desired = spec.max;
    } else if current < spec.min {
        reason = "Current number of replicas below Spec.MinReplicas".into();
        desired = spec.min;
    } else {
        match metrics(w, &spec, &scale, &mut st, &mut events) {
            Err((kept, err)) => {
                let old_desired = st.desired as i32;
                st.set_status(current, old_desired, kept, false);
                events.push(("Warning", "FailedComputeMetricsReplicas", err));
                return done(&st, events, None);
            }
            Ok((proposal, metric, computed)) => {
                statuses = Some(computed);
                let mut rescale_metric = String::new();
                if proposal > desired {
                    desired = proposal;
                    rescale_metric = metric;
                }
                if desired > current {
                    reason = format!("{rescale_metric} above target");
                }
                if desired < current {
                    reason = "All metrics below target".into();
                }
                let b = Bounds {
                    current,
                    min: spec.min,
                    max: spec.max,
                };
                let n = match &spec.behavior {
                    None => history.normalize_legacy(b, desired, w.now),
                    Some(behavior) => history.normalize_with(behavior, b, desired, w.now),
                };
                st.set("AbleToScale", true, n.able.0, n.able.1);
                st.set("ScalingLimited", n.limited.0, n.limited.1, n.limited.2);
                desired = n.replicas;
                rescale = desired != current;
            }
        }
    }
    let mut scaled = None;
    if rescale {
        if let Err(e) = write_scale(desired) {
            events.push((
                "Warning",
                "FailedRescale",
                format!("New size: {desired}; reason: {reason}; error: {e}"),
            ));
            st.set(
                "AbleToScale",
                false,
                "FailedUpdateScale",
                format!("the HPA controller was unable to update the target scale: {e}"),
            );
            let old_desired = st.desired as i32;
            st.set_status(current, old_desired, statuses, false);
            return done(&st, events, None);
        }
        st.set(
            "AbleToScale",
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
        );
        events.push((
            "Normal",
            "SuccessfulRescale",
            format!("New size: {desired}; reason: {reason}"),
        ));
        history.store_scale_event(spec.behavior.as_ref(), current, desired, w.now);
        scaled = Some((current, desired, reason));
    } else {
        desired = current;
    }
    st.set_status(current, desired, statuses, rescale);
    done(&st, events, scaled)
}

/// `computeReplicasForMetrics`: the highest proposal of the metrics that worked; an error
/// when all failed, or some failed and the rest would scale down.
fn metrics(
    w: &World<'_>,
    spec: &HpaSpec,
    scale: &ScaleView,
    st: &mut Draft,
    events: &mut Vec<Event>,
) -> Metrics {
    if scale.selector.is_empty() {
        events.push(("Warning", "SelectorRequired", "selector is required".into()));
        st.set(
            "ScalingActive",
            false,
            "InvalidSelector",
            "the HPA target's scale is missing a selector",
        );
        return Err((None, "selector is required".into()));
    }
    if w.selecting.len() > 1 {
        let msg = format!(
            "pods by selector {} are controlled by multiple HPAs: [{}]",
            scale.selector,
            w.selecting.join(" ")
        );
        events.push(("Warning", "AmbiguousSelector", msg.clone()));
        st.set("ScalingActive", false, "AmbiguousSelector", msg.clone());
        return Err((None, msg));
    }
    let (down, up) = spec.tolerances();
    let calc = Calc {
        pods: w.pods,
        now: w.now,
        tolerances: Tolerances { down, up },
    };
    let mut statuses = vec![json!({"type": ""}); spec.metrics.len()];
    let (mut replicas, mut metric) = (0, String::new());
    let mut invalid: Vec<(&'static str, String, String)> = Vec::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        match one_metric(&calc, m, scale.spec_replicas, (w.samples)(m)) {
            Ok((proposal, name, status)) => {
                statuses[i] = status;
                if replicas == 0 || proposal > replicas {
                    replicas = proposal;
                    metric = name;
                }
            }
            Err((reason, condition_err, err)) => {
                // getUnableComputeReplicaCountCondition records an event per failed metric.
                events.push(("Warning", reason, condition_err.clone()));
                invalid.push((reason, condition_err, err));
            }
        }
    }
    if let Some((reason, condition_err, first)) = invalid.first()
        && (invalid.len() >= spec.metrics.len() || replicas < scale.spec_replicas)
    {
        st.set(
            "ScalingActive",
            false,
            reason,
            format!("the HPA was unable to compute the replica count: {condition_err}"),
        );
        let err = format!(
            "invalid metrics ({} invalid out of {}), first error is: {first}",
            invalid.len(),
            spec.metrics.len()
        );
        return Err((Some(statuses), err));
    }
    st.set(
        "ScalingActive",
        true,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {metric}"),
    );
    Ok((replicas, metric, statuses))
}

/// One metric: (proposal, metric name, status), or (condition reason, the condition's and
/// event's error, the error `computeReplicasForMetric` returns).
fn one_metric(
    c: &Calc<'_>,
    m: &MetricSpec,
    current: i32,
    fetched: Result<Samples, String>,
) -> Result<(i32, String, Value), (&'static str, String, String)> {
    match m {
        MetricSpec::Resource { name, target } => {
            let fail = |e: String| {
                (
                    "FailedGetResourceMetric",
                    e.clone(),
                    format!("failed to get {name} resource metric value: {e}"),
                )
            };
            match target {
                Target::AverageValue(t) => {
                    let samples = fetched.map_err(|e| fail(format!("failed to get {name} usage: unable to get metrics for resource {name}: {e}")))?;
                    let (r, usage) = c.plain_replicas(current, *t, name == "cpu", samples).map_err(|e| fail(format!("failed to get {name} usage: {e}")))?;
                    let status = json!({"type": "Resource", "resource": {"name": name, "current": {"averageValue": format_milli(usage)}}});
                    Ok((r, format!("{name} resource"), status))
                }
                Target::Utilization(t) => {
                    let (r, util, raw) = c.resource_replicas(current, *t, name, fetched).map_err(|e| fail(format!("failed to get {name} utilization: {e}")))?;
                    let status = json!({"type": "Resource", "resource": {"name": name, "current": {"averageUtilization": util, "averageValue": format_milli(raw)}}});
                    Ok((r, format!("{name} resource utilization (percentage of request)"), status))
                }
                Target::Missing => Err(fail("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into())),
            }
        }
        MetricSpec::Pods { name, target } => {
            let fail = |e: String| {
                (
                    "FailedGetPodsMetric",
                    e.clone(),
                    format!("failed to get pods metric value: {e}"),
                )
            };
            let Target::AverageValue(t) = target else {
                return Err(fail(format!(
                    "invalid pods metric source: an average value target is required for metric {name}"
                )));
            };
            let samples = fetched.map_err(|e| fail(format!("unable to get metric {name}: {e}")))?;
            let (r, usage) = c
                .plain_replicas(current, *t, false, samples)
                .map_err(fail)?;
            let status = json!({"type": "Pods", "pods": {"metric": {"name": name}, "current": {"averageValue": format_milli(usage)}}});
            Ok((r, format!("pods metric {name}"), status))
        }
        MetricSpec::Unsupported(kind) => {
            let reason = match kind.as_str() {
                "Object" => "FailedGetObjectMetric",
                "External" => "FailedGetExternalMetric",
                "ContainerResource" => "FailedGetContainerResourceMetric",
                _ => "InvalidMetricSourceType",
            };
            let e = format!(
                "unknown metric source type {kind:?}: the simulator serves Resource and Pods metrics only"
            );
            Err((reason, e.clone(), e))
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
