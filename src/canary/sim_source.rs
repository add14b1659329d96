//! The demo's metric source: the simulated cluster's own per-pod request counters, evaluated to
//! the same numbers the default PromQL templates compute (rates over the window from counter
//! deltas, quantiles by PromQL's bucket interpolation), so the same verdict code judges them.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use simcluster::{MetricsSnapshot, PodMetrics, SimCluster};

use super::analysis::Sample;
use super::metrics::Measure;
use super::source::{MetricSource, SourceError, SourceQuery, Validated};

/// Snapshots older than this are dropped; windows longer than it are measured over what is kept.
const HISTORY: usize = 512;

pub struct SimSource {
    sim: SimCluster,
    history: Mutex<VecDeque<MetricsSnapshot>>,
}

impl SimSource {
    pub fn new(sim: SimCluster) -> Self {
        SimSource {
            sim,
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// The newest snapshot and the one to measure the window from (the oldest inside it, else
    /// the newest one before it).
    fn window(&self, window: std::time::Duration) -> (MetricsSnapshot, Option<MetricsSnapshot>) {
        let now = self.sim.pod_metrics();
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = now.at - jiff::SignedDuration::try_from(window).unwrap_or_default();
        let base = history
            .iter()
            .rev()
            .find(|s| s.at <= start)
            .or_else(|| history.iter().find(|s| s.at >= start && s.at < now.at))
            .cloned();
        history.push_back(now.clone());
        while history.len() > HISTORY {
            history.pop_front();
        }
        (now, base)
    }
}

impl MetricSource for SimSource {
    fn describe(&self) -> String {
        format!(
            "simulated cluster counters at {}/sim/metrics",
            self.sim.url()
        )
    }

    fn validate<'a>(
        &'a self,
        query: &'a SourceQuery,
    ) -> BoxFuture<'a, Result<Validated, SourceError>> {
        async move {
            if query.measure == Measure::Custom {
                return Err(SourceError::Invalid(format!(
                    "metric {} uses a custom PromQL query, which only Prometheus can answer: \
                     pass --prometheus-url",
                    query.metric
                )));
            }
            let matcher = pod_matcher(query)?;
            let (now, _) = self.window(query.window);
            Ok(Validated {
                has_data: now
                    .pods
                    .iter()
                    .any(|p| p.namespace == query.namespace && matcher.is_match(&p.name)),
            })
        }
        .boxed()
    }

    fn sample<'a>(&'a self, query: &'a SourceQuery) -> BoxFuture<'a, Sample> {
        async move {
            let matcher = match pod_matcher(query) {
                Ok(m) => m,
                Err(e) => return Sample::Failed(e.to_string()),
            };
            let (now, base) = self.window(query.window);
            evaluate(query, &matcher, &now, base.as_ref())
        }
        .boxed()
    }
}

fn pod_matcher(query: &SourceQuery) -> Result<regex::Regex, SourceError> {
    regex::Regex::new(&format!("^(?:{})$", query.pod_pattern))
        .map_err(|e| SourceError::Invalid(format!("pod pattern {}: {e}", query.pod_pattern)))
}

fn status_matcher(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("status pattern {pattern}: {e}"))
}

/// The number a default template would compute, from two snapshots.
pub fn evaluate(
    query: &SourceQuery,
    pods: &regex::Regex,
    now: &MetricsSnapshot,
    base: Option<&MetricsSnapshot>,
) -> Sample {
    let selected: Vec<&PodMetrics> = now
        .pods
        .iter()
        .filter(|p| p.namespace == query.namespace && pods.is_match(&p.name))
        .collect();
    if selected.is_empty() {
        return Sample::NoData;
    }
    let before = |pod: &PodMetrics| {
        base.and_then(|b| {
            b.pods
                .iter()
                .find(|p| p.namespace == pod.namespace && p.name == pod.name)
        })
    };
    let elapsed = base.map_or(0.0, |b| now.at.duration_since(b.at).as_secs_f64().max(0.0));
    // `None` counts every status.
    let count = |pod: &PodMetrics, status: Option<&regex::Regex>| -> u64 {
        pod.requests_by_status
            .iter()
            .filter(|(code, _)| status.is_none_or(|s| s.is_match(&code.to_string())))
            .map(|(_, n)| *n)
            .sum()
    };
    let delta = |status: Option<&regex::Regex>| -> f64 {
        selected
            .iter()
            .map(|p| {
                let old = before(p).map_or(0, |b| count(b, status));
                count(p, status).saturating_sub(old) as f64
            })
            .sum()
    };
    match &query.measure {
        Measure::Custom => Sample::Failed(format!(
            "metric {} uses a custom PromQL query, which only Prometheus can answer",
            query.metric
        )),
        Measure::ResponsesTotal { status } => match status_matcher(status) {
            Ok(status) => Sample::Value(
                selected
                    .iter()
                    .map(|p| count(p, Some(&status)) as f64)
                    .sum(),
            ),
            Err(e) => Sample::Failed(e),
        },
        Measure::ResponsesPerMinute { status } => {
            let status = match status_matcher(status) {
                Ok(s) => s,
                Err(e) => return Sample::Failed(e),
            };
            if elapsed <= 0.0 {
                return Sample::NoData;
            }
            Sample::Value(delta(Some(&status)) / elapsed * 60.0)
        }
        Measure::ResponseSharePercent { status } => {
            let status = match status_matcher(status) {
                Ok(s) => s,
                Err(e) => return Sample::Failed(e),
            };
            let total = delta(None);
            if total <= 0.0 {
                return Sample::NoData;
            }
            Sample::Value(delta(Some(&status)) / total * 100.0)
        }
        Measure::LatencyQuantileMs { quantile } => {
            let mut buckets: Vec<(f64, f64)> = Vec::new();
            for pod in &selected {
                for (le, n) in &pod.latency_buckets {
                    let old = before(pod)
                        .and_then(|b| b.latency_buckets.iter().find(|(l, _)| l == le))
                        .map_or(0.0, |(_, n)| *n);
                    let d = (n - old).max(0.0);
                    match buckets.iter_mut().find(|(l, _)| l == le) {
                        Some(b) => b.1 += d,
                        None => buckets.push((*le, d)),
                    }
                }
            }
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            match histogram_quantile(*quantile, &buckets) {
                Some(seconds) => Sample::Value(seconds * 1000.0),
                None => Sample::NoData,
            }
        }
    }
}

/// PromQL's `histogram_quantile` over cumulative `(le, count)` buckets ending at +Inf:
/// linear interpolation inside the bucket holding the rank; `None` without observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last().map(|b| b.1)?;
    if total <= 0.0 || !q.is_finite() {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                // PromQL answers the highest finite bound when the rank falls in +Inf.
                return Some(prev.0);
            }
            if count - prev.1 <= 0.0 {
                return Some(le);
            }
            return Some(prev.0 + (le - prev.0) * (rank - prev.1) / (count - prev.1));
        }
        prev = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::canary::metrics::Track;

    fn pod(name: &str, statuses: &[(u16, u64)], buckets: &[(f64, f64)]) -> PodMetrics {
        PodMetrics {
            namespace: "prod".into(),
            name: name.into(),
            labels: BTreeMap::new(),
            requests_by_status: statuses.iter().copied().collect(),
            latency_buckets: buckets.to_vec(),
            latency_sum: 0.0,
            latency_count: buckets.last().map_or(0.0, |b| b.1),
        }
    }

    fn query(measure: Measure) -> SourceQuery {
        SourceQuery {
            metric: "m".into(),
            promql: String::new(),
            measure,
            track: Track::Canary,
            namespace: "prod".into(),
            pod_pattern: crate::canary::metrics::pod_name_pattern("web-canary"),
            window: Duration::from_secs(60),
        }
    }

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn matcher(q: &SourceQuery) -> regex::Regex {
        pod_matcher(q).unwrap()
    }

    #[test]
    fn rates_come_from_counter_deltas_over_the_window_and_only_the_tracks_pods() {
        let before = MetricsSnapshot {
            at: at(0),
            pods: vec![
                pod("web-canary-abc12-x1y2z", &[(200, 100), (500, 10)], &[]),
                pod("web-7f9c8d-q1w2e", &[(200, 1000), (500, 1000)], &[]),
            ],
        };
        let now = MetricsSnapshot {
            at: at(30),
            pods: vec![
                pod("web-canary-abc12-x1y2z", &[(200, 400), (500, 20)], &[]),
                pod("web-7f9c8d-q1w2e", &[(200, 2000), (500, 5000)], &[]),
            ],
        };
        let q = query(Measure::ResponsesPerMinute {
            status: "5..".into(),
        });
        // 10 more 5xx in 30 s on the canary: 20 per minute; the stable's 4000 are not counted.
        assert_eq!(
            evaluate(&q, &matcher(&q), &now, Some(&before)),
            Sample::Value(20.0)
        );
        let share = query(Measure::ResponseSharePercent {
            status: "5..".into(),
        });
        let Sample::Value(v) = evaluate(&share, &matcher(&share), &now, Some(&before)) else {
            panic!()
        };
        assert!((v - 100.0 * 10.0 / 310.0).abs() < 1e-9);
        let total = query(Measure::ResponsesTotal {
            status: "401|403".into(),
        });
        assert_eq!(
            evaluate(&total, &matcher(&total), &now, Some(&before)),
            Sample::Value(0.0)
        );
    }

    #[test]
    fn no_canary_pods_is_no_data() {
        let now = MetricsSnapshot {
            at: at(0),
            pods: vec![pod("web-7f9c8d-q1w2e", &[(200, 5)], &[])],
        };
        let q = query(Measure::ResponsesTotal {
            status: "401|403".into(),
        });
        assert_eq!(evaluate(&q, &matcher(&q), &now, None), Sample::NoData);
        let custom = query(Measure::Custom);
        assert!(matches!(
            evaluate(
                &custom,
                &matcher(&custom),
                &MetricsSnapshot {
                    at: at(0),
                    pods: vec![pod("web-canary-a-b", &[], &[])]
                },
                None
            ),
            Sample::Failed(_)
        ));
    }

    #[test]
    fn quantile_interpolates_like_promql() {
        let buckets = [
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 99.0),
            (5.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((histogram_quantile(0.5, &buckets).unwrap() - 0.1).abs() < 1e-12);
        assert!((histogram_quantile(0.99, &buckets).unwrap() - 1.0).abs() < 1e-12);
        assert!((histogram_quantile(0.7, &buckets).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(histogram_quantile(0.99, &[(f64::INFINITY, 0.0)]), None);
        let q = query(Measure::LatencyQuantileMs { quantile: 0.99 });
        let before = MetricsSnapshot {
            at: at(0),
            pods: vec![pod(
                "web-canary-a1-b2",
                &[],
                &[(0.1, 0.0), (1.0, 0.0), (f64::INFINITY, 0.0)],
            )],
        };
        let now = MetricsSnapshot {
            at: at(10),
            pods: vec![pod(
                "web-canary-a1-b2",
                &[],
                &[(0.1, 0.0), (1.0, 100.0), (f64::INFINITY, 100.0)],
            )],
        };
        let Sample::Value(ms) = evaluate(&q, &matcher(&q), &now, Some(&before)) else {
            panic!()
        };
        assert!((ms - 991.0).abs() < 1e-6, "{ms}");
    }
}
