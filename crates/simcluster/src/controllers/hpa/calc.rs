//! The replica calculator, as upstream's `replica_calculator.go`: per-pod samples and the
//! pods the target's selector matches in, a replica proposal out. Pure, so every branch
//! (tolerance, unready and missing pods, the direction checks) is tested here.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::clock::secs_between;

/// `--horizontal-pod-autoscaler-cpu-initialization-period`: young pods' CPU is distrusted.
const CPU_INITIALIZATION_SECS: f64 = 300.0;
/// `--horizontal-pod-autoscaler-initial-readiness-delay`.
const INITIAL_READINESS_DELAY_SECS: f64 = 30.0;
/// The window metrics-server reports with each sample (its default resolution).
pub(crate) const METRIC_WINDOW_SECS: f64 = 15.0;

/// What the calculator needs to know about one pod the selector matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodView {
    pub(crate) name: String,
    pub(crate) deleting: bool,
    pub(crate) phase: String,
    /// The Ready condition: status and lastTransitionTime.
    pub(crate) ready: Option<(bool, Timestamp)>,
    pub(crate) start_time: Option<Timestamp>,
    /// Each container's name and requests (resource name → milli-units).
    pub(crate) containers: Vec<(String, BTreeMap<String, i64>)>,
}

/// Per-pod samples (pod name → milli-units), taken at `now`.
pub(crate) type Samples = BTreeMap<String, i64>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tolerances {
    pub(crate) down: f64,
    pub(crate) up: f64,
}

impl Tolerances {
    fn within(self, ratio: f64) -> bool {
        1.0 - self.down <= ratio && ratio <= 1.0 + self.up
    }
}

/// The pods and clock every calculation of one sync shares.
pub(crate) struct Calc<'a> {
    pub(crate) pods: &'a [PodView],
    pub(crate) now: Timestamp,
    pub(crate) tolerances: Tolerances,
}

#[derive(Debug, Default, PartialEq)]
struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn ceil_i32(v: f64) -> i32 {
    v.ceil().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

impl Calc<'_> {
    /// `groupPods`: deleted and failed pods are ignored, pending ones unready, pods without
    /// a sample missing; for CPU, pods still starting up or never ready count as unready.
    fn group(&self, metrics: &Samples, cpu: bool) -> Groups {
        let mut g = Groups::default();
        for pod in self.pods {
            if pod.deleting || pod.phase == "Failed" {
                g.ignored.insert(pod.name.clone());
                continue;
            }
            if pod.phase == "Pending" {
                g.unready.insert(pod.name.clone());
                continue;
            }
            if !metrics.contains_key(&pod.name) {
                g.missing.insert(pod.name.clone());
                continue;
            }
            if cpu {
                let unready = match (pod.ready, pod.start_time) {
                    (Some((ready, since)), Some(start)) => {
                        if secs_between(start, self.now) < CPU_INITIALIZATION_SECS {
                            // One full metric window must have passed since it became ready.
                            !ready || secs_between(since, self.now) < METRIC_WINDOW_SECS
                        } else {
                            // Never ready since it started.
                            !ready && secs_between(start, since) < INITIAL_READINESS_DELAY_SECS
                        }
                    }
                    _ => true,
                };
                if unready {
                    g.unready.insert(pod.name.clone());
                    continue;
                }
            }
            g.ready += 1;
        }
        g
    }

    /// `calculatePodRequestsFromContainers`: every container needs a request.
    fn requests(&self, resource: &str) -> Result<BTreeMap<String, i64>, String> {
        let mut out = BTreeMap::new();
        for pod in self.pods {
            let mut sum = 0i64;
            for (container, requests) in &pod.containers {
                let Some(r) = requests.get(resource) else {
                    return Err(format!(
                        "missing request for {resource} in container {container} of Pod {}",
                        pod.name
                    ));
                };
                sum = sum.saturating_add(*r);
            }
            out.insert(pod.name.clone(), sum);
        }
        Ok(out)
    }

    /// `GetResourceReplicas`: a Utilization target. Returns (replicas, utilization %,
    /// average raw value in milli-units).
    pub(crate) fn resource_replicas(
        &self,
        current: i32,
        target: i32,
        resource: &str,
        fetched: Result<Samples, String>,
    ) -> Result<(i32, i32, i64), String> {
        let mut metrics =
            fetched.map_err(|e| format!("unable to get metrics for resource {resource}: {e}"))?;
        if self.pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = self.group(&metrics, resource == "cpu");
        metrics.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
        if metrics.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let requests = self.requests(resource)?;
        let (ratio, utilization, raw) = utilization_ratio(&metrics, &requests, target)?;
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.tolerances.within(ratio) {
                return Ok((current, utilization, raw));
            }
            return Ok((ceil_i32(ratio * g.ready as f64), utilization, raw));
        }
        if ratio < 1.0 {
            // Scale-down: missing pods use all their request (or the target if above 100%).
            let fallback = i64::from(target.max(100));
            for p in &g.missing {
                metrics.insert(
                    p.clone(),
                    requests.get(p).copied().unwrap_or(0) * fallback / 100,
                );
            }
        } else if ratio > 1.0 {
            for p in &g.missing {
                metrics.insert(p.clone(), 0);
            }
        }
        if scale_up_with_unready {
            for p in &g.unready {
                metrics.insert(p.clone(), 0);
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&metrics, &requests, target)?;
        let proposal = self.rebalanced(current, ratio, new_ratio, metrics.len());
        Ok((proposal, utilization, raw))
    }

    /// `calcPlainMetricReplicas`: an AverageValue target (resource or Pods metric).
    /// Returns (replicas, average usage in milli-units).
    pub(crate) fn plain_replicas(
        &self,
        current: i32,
        target: i64,
        cpu: bool,
        mut metrics: Samples,
    ) -> Result<(i32, i64), String> {
        if self.pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = self.group(&metrics, cpu);
        metrics.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
        if metrics.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let (ratio, usage) = usage_ratio(&metrics, target);
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.tolerances.within(ratio) {
                return Ok((current, usage));
            }
            return Ok((ceil_i32(ratio * g.ready as f64), usage));
        }
        if ratio < 1.0 {
            // Scale-down: missing pods use exactly the target.
            for p in &g.missing {
                metrics.insert(p.clone(), target);
            }
        } else if ratio > 1.0 {
            for p in &g.missing {
                metrics.insert(p.clone(), 0);
            }
        }
        if scale_up_with_unready {
            for p in &g.unready {
                metrics.insert(p.clone(), 0);
            }
        }
        let (new_ratio, _) = usage_ratio(&metrics, target);
        Ok((
            self.rebalanced(current, ratio, new_ratio, metrics.len()),
            usage,
        ))
    }

    /// The proposal once missing and unready pods were filled in: no change if it would be
    /// within tolerance or flip the direction of the scale.
    fn rebalanced(&self, current: i32, ratio: f64, new_ratio: f64, counted: usize) -> i32 {
        if self.tolerances.within(new_ratio)
            || (ratio < 1.0 && new_ratio > 1.0)
            || (ratio > 1.0 && new_ratio < 1.0)
        {
            return current;
        }
        let proposal = ceil_i32(new_ratio * counted as f64);
        if (new_ratio < 1.0 && proposal > current) || (new_ratio > 1.0 && proposal < current) {
            return current;
        }
        proposal
    }
}

/// `GetResourceUtilizationRatio`: the whole-percent utilization is what gets compared.
fn utilization_ratio(
    metrics: &Samples,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, value) in metrics {
        if let Some(r) = requests.get(pod) {
            used = used.saturating_add(*value);
            requested = requested.saturating_add(*r);
            n += 1;
        }
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = (used.saturating_mul(100) / requested).clamp(0, i64::from(i32::MAX)) as i32;
    Ok((
        f64::from(utilization) / f64::from(target.max(1)),
        utilization,
        used / n.max(1),
    ))
}

/// `GetMetricUsageRatio`: the (truncated) average against the target.
fn usage_ratio(metrics: &Samples, target: i64) -> (f64, i64) {
    let total: i64 = metrics.values().fold(0, |a, v| a.saturating_add(*v));
    let usage = total / (metrics.len().max(1) as i64);
    (usage as f64 / target.max(1) as f64, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    /// A running pod started at 0, ready since `ready_at`, requesting 100m CPU.
    fn pod(name: &str, ready_at: Option<i64>) -> PodView {
        PodView {
            name: name.into(),
            deleting: false,
            phase: "Running".into(),
            ready: Some((ready_at.is_some(), t(ready_at.unwrap_or(0)))),
            start_time: Some(t(0)),
            containers: vec![("web".into(), BTreeMap::from([("cpu".into(), 100)]))],
        }
    }

    fn samples(v: &[(&str, i64)]) -> Samples {
        v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
    }

    const TOL: Tolerances = Tolerances { down: 0.1, up: 0.1 };

    #[test]
    fn scales_with_the_usage_ratio_outside_the_tolerance() {
        let pods = [pod("a", Some(1)), pod("b", Some(1))];
        let c = Calc {
            pods: &pods,
            now: t(600),
            tolerances: TOL,
        };
        let m = samples(&[("a", 90), ("b", 90)]);
        assert_eq!(c.resource_replicas(2, 50, "cpu", Ok(m)), Ok((4, 90, 90)));
        let within = samples(&[("a", 52), ("b", 54)]);
        assert_eq!(
            c.resource_replicas(2, 50, "cpu", Ok(within)),
            Ok((2, 53, 53)),
            "1.06 is within 0.1"
        );
        let low = samples(&[("a", 10), ("b", 10)]);
        assert_eq!(c.resource_replicas(2, 50, "cpu", Ok(low)), Ok((1, 10, 10)));
    }

    #[test]
    fn unready_pods_count_as_idle_on_scale_up_only() {
        // All started 200 s ago (inside the CPU initialization period); c became ready 5 s
        // ago, less than one metric window, so its CPU sample is not trusted.
        let pods = [pod("a", Some(1)), pod("b", Some(1)), pod("c", Some(195))];
        let c = Calc {
            pods: &pods,
            now: t(200),
            tolerances: TOL,
        };
        let m = samples(&[("a", 100), ("b", 100), ("c", 100)]);
        // ratio 2 on a and b; c at 0 → 200/300 = 66% → ratio 1.32 → ceil(1.32 * 3) = 4.
        assert_eq!(c.resource_replicas(3, 50, "cpu", Ok(m)), Ok((4, 100, 100)));
        // On a scale-down the unready pod is simply left out.
        let m = samples(&[("a", 10), ("b", 10), ("c", 100)]);
        assert_eq!(c.resource_replicas(3, 50, "cpu", Ok(m)), Ok((1, 10, 10)));
    }

    #[test]
    fn missing_pods_are_conservative() {
        let pods = [pod("a", Some(1)), pod("b", Some(1)), pod("c", Some(1))];
        let c = Calc {
            pods: &pods,
            now: t(600),
            tolerances: TOL,
        };
        // Scale-down with c missing: c counts as 100% of its request → (20+20+100)/300 = 46%,
        // and 46/50 = 0.92 is within the tolerance: no change.
        let m = samples(&[("a", 20), ("b", 20)]);
        assert_eq!(c.resource_replicas(3, 50, "cpu", Ok(m)), Ok((3, 20, 20)));
        // Scale-up with c missing: c counts as 0 → (100+100+0)/300 = 66% → ceil(1.32*3) = 4.
        let m = samples(&[("a", 100), ("b", 100)]);
        assert_eq!(c.resource_replicas(3, 50, "cpu", Ok(m)), Ok((4, 100, 100)));
    }

    #[test]
    fn errors_read_like_upstream() {
        let mut no_request = pod("a", Some(1));
        no_request.containers[0].1.clear();
        let pods = [no_request];
        let c = Calc {
            pods: &pods,
            now: t(600),
            tolerances: TOL,
        };
        assert_eq!(
            c.resource_replicas(1, 50, "cpu", Ok(samples(&[("a", 10)]))),
            Err("missing request for cpu in container web of Pod a".into())
        );
        assert_eq!(
            c.resource_replicas(1, 50, "cpu", Err("no metrics returned from resource metrics API".into())),
            Err("unable to get metrics for resource cpu: no metrics returned from resource metrics API".into())
        );
        let pending = [PodView {
            phase: "Pending".into(),
            ..pod("p", None)
        }];
        let c = Calc {
            pods: &pending,
            now: t(600),
            tolerances: TOL,
        };
        assert_eq!(
            c.resource_replicas(1, 50, "cpu", Ok(samples(&[("p", 10)]))),
            Err("did not receive metrics for targeted pods (pods might be unready)".into())
        );
        let none: [PodView; 0] = [];
        let c = Calc {
            pods: &none,
            now: t(600),
            tolerances: TOL,
        };
        assert!(c.plain_replicas(1, 10, false, Samples::new()).is_err());
    }

    #[test]
    fn plain_metrics_average_against_the_target() {
        let pods = [pod("a", None), pod("b", None)];
        let c = Calc {
            pods: &pods,
            now: t(600),
            tolerances: TOL,
        };
        // Not CPU: readiness does not matter. Average 30 against 10 → 3 × 2 pods.
        let m = samples(&[("a", 20_000), ("b", 40_000)]);
        assert_eq!(c.plain_replicas(2, 10_000, false, m), Ok((6, 30_000)));
        // Missing pod on scale-down counts as exactly the target.
        let m = samples(&[("a", 2_000)]);
        assert_eq!(
            c.plain_replicas(2, 10_000, false, m),
            Ok((2, 2_000)),
            "(2+10)/2=6 → 0.6, ceil(1.2) = 2"
        );
    }

    #[test]
    fn young_pods_and_never_ready_pods() {
        // Started 400 s ago (past the initialization period), not ready, readiness changed
        // 10 s after start: never became ready → unready.
        let mut never = pod("n", None);
        never.ready = Some((false, t(10)));
        let pods = [pod("a", Some(1)), never];
        let c = Calc {
            pods: &pods,
            now: t(400),
            tolerances: TOL,
        };
        let g = c.group(&samples(&[("a", 1), ("n", 1)]), true);
        assert_eq!(g.ready, 1);
        assert!(g.unready.contains("n"));
        let g = c.group(&samples(&[("a", 1), ("n", 1)]), false);
        assert_eq!(g.ready, 2, "readiness only matters for cpu");
    }
}
