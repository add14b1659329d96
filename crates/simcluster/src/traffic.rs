//! Synthetic HTTP traffic per ready pod: cumulative request counters by status and a latency
//! histogram drawn from a log-normal fitted to the script's p50 and p99, advancing with the
//! sim clock; a pod under a load (`SimCluster::set_load`) serves its share of it. Exposed
//! as a Rust snapshot and as Prometheus text at `/sim/metrics`.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use crate::behavior::pod_image;
use crate::clock::secs_between;
use crate::controllers::replicaset::serving;
use crate::meta;
use crate::resources::ids;
use crate::state::{Shared, lock};

/// The standard buckets (seconds); scripted p50/p99 values are added to them.
pub(crate) const BASE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_840_8;

/// A run of requests served under one latency script.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    n: f64,
    p50: f64,
    p99: f64,
}

#[derive(Debug, Clone)]
struct PodTraffic {
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    by_status: BTreeMap<u16, f64>,
    segments: Vec<Segment>,
    sum: f64,
}

#[derive(Debug, Default)]
pub(crate) struct TrafficState {
    pods: HashMap<String, PodTraffic>,
    last: Option<Timestamp>,
}

/// Counters of one pod at the snapshot's time.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMetrics {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Whole requests served, by HTTP status.
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Cumulative histogram: (upper bound in seconds, requests at or under it); ends at +Inf.
    pub latency_buckets: Vec<(f64, f64)>,
    /// Sum of request durations, seconds.
    pub latency_sum: f64,
    pub latency_count: f64,
}

impl PodMetrics {
    pub fn total(&self) -> u64 {
        self.requests_by_status.values().sum()
    }
}

/// Every pod's counters at sim time `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    pub at: Timestamp,
    pub pods: Vec<PodMetrics>,
}

pub(crate) fn forget(shared: &Shared, uid: &str) {
    lock(&shared.traffic).pods.remove(uid);
}

/// Adds the requests each ready pod served since the last call.
pub(crate) fn accrue(shared: &Shared) {
    let now = shared.now();
    let pods = shared.store().list(ids::PODS, None);
    let scripts = shared.scripts().clone();
    // A pod under a load serves its share of it instead of its script's own rate.
    let shares = crate::usage::current_shares(shared, &pods);
    let mut t = lock(&shared.traffic);
    let dt = t.last.map_or(0.0, |last| secs_between(last, now).max(0.0));
    t.last = Some(now);
    for pod in pods.iter().filter(|p| serving(p)) {
        let b = &scripts.for_image(pod_image(pod)).traffic;
        let labels: BTreeMap<String, String> = meta::labels(pod)
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        let entry = t
            .pods
            .entry(meta::uid(pod).to_string())
            .or_insert_with(|| PodTraffic {
                namespace: meta::namespace(pod).to_string(),
                name: meta::name(pod).to_string(),
                labels: BTreeMap::new(),
                by_status: BTreeMap::new(),
                segments: Vec::new(),
                sum: 0.0,
            });
        entry.labels = labels;
        let rps = shares.get(meta::uid(pod)).copied().unwrap_or(b.rps);
        let n = rps.max(0.0) * dt;
        if n <= 0.0 {
            continue;
        }
        let total_share: f64 = b.status_shares.iter().map(|(_, s)| s.max(0.0)).sum();
        for (code, share) in &b.status_shares {
            if total_share > 0.0 {
                *entry.by_status.entry(*code).or_insert(0.0) += n * share.max(0.0) / total_share;
            }
        }
        let (p50, p99) = (b.latency_p50_ms / 1000.0, b.latency_p99_ms / 1000.0);
        match entry.segments.last_mut() {
            Some(s) if s.p50 == p50 && s.p99 == p99 => s.n += n,
            _ => entry.segments.push(Segment { n, p50, p99 }),
        }
        entry.sum += n * mean(p50, p99);
    }
}

fn sigma(p50: f64, p99: f64) -> f64 {
    if p50 > 0.0 && p99 > p50 {
        (p99 / p50).ln() / Z99
    } else {
        0.0
    }
}

fn mean(p50: f64, p99: f64) -> f64 {
    let s = sigma(p50, p99);
    p50 * (s * s / 2.0).exp()
}

/// P(latency <= le) for the log-normal with these quantiles; exact at p50 and p99 so
/// `histogram_quantile` recovers them when they are bucket bounds.
pub(crate) fn cdf(le: f64, p50: f64, p99: f64) -> f64 {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-12);
    if close(le, p99) && p99 > p50 {
        return 0.99;
    }
    if close(le, p50) {
        return 0.5;
    }
    let s = sigma(p50, p99);
    if s == 0.0 || p50 <= 0.0 {
        return if le >= p50 { 1.0 } else { 0.0 };
    }
    if le <= 0.0 {
        return 0.0;
    }
    normal_cdf((le.ln() - p50.ln()) / s)
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// erfc with a Chebyshev fit (Numerical Recipes `erfcc`), relative error below 1.2e-7.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Bucket bounds: the standard ones plus every scripted and observed p50/p99.
pub(crate) fn bucket_bounds(extra_ms: &[f64]) -> Vec<f64> {
    let mut b: Vec<f64> = BASE_BUCKETS.to_vec();
    b.extend(
        extra_ms
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v / 1000.0),
    );
    b.sort_by(f64::total_cmp);
    b.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    b
}

pub(crate) fn snapshot(shared: &Shared) -> MetricsSnapshot {
    accrue(shared);
    let at = lock(&shared.traffic).last.unwrap_or_else(|| shared.now());
    let mut extra = shared.scripts().latencies_ms();
    let t = lock(&shared.traffic);
    for p in t.pods.values() {
        for s in &p.segments {
            extra.push(s.p50 * 1000.0);
            extra.push(s.p99 * 1000.0);
        }
    }
    let bounds = bucket_bounds(&extra);
    let mut pods: Vec<PodMetrics> = t
        .pods
        .values()
        .map(|p| {
            let count: f64 = p.segments.iter().map(|s| s.n).sum();
            let mut buckets: Vec<(f64, f64)> = bounds
                .iter()
                .map(|le| {
                    (
                        *le,
                        p.segments
                            .iter()
                            .map(|s| s.n * cdf(*le, s.p50, s.p99))
                            .sum(),
                    )
                })
                .collect();
            buckets.push((f64::INFINITY, count));
            PodMetrics {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                labels: p.labels.clone(),
                requests_by_status: p
                    .by_status
                    .iter()
                    .map(|(k, v)| (*k, v.floor() as u64))
                    .collect(),
                latency_buckets: buckets,
                latency_sum: p.sum,
                latency_count: count,
            }
        })
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    MetricsSnapshot { at, pods }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn fmt_le(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".into()
    } else {
        format!("{le}")
    }
}

/// Prometheus text exposition (format 0.0.4) of a snapshot.
pub(crate) fn exposition(s: &MetricsSnapshot) -> String {
    let mut out = String::new();
    out.push_str("# HELP http_requests_total Synthetic HTTP requests served by simulated pods.\n# TYPE http_requests_total counter\n");
    let base = |p: &PodMetrics| {
        let l = |k: &str| escape(p.labels.get(k).map(String::as_str).unwrap_or(""));
        format!(
            "namespace=\"{}\",pod=\"{}\",app=\"{}\",track=\"{}\"",
            escape(&p.namespace),
            escape(&p.name),
            l("app"),
            l("track")
        )
    };
    for p in &s.pods {
        for (code, n) in &p.requests_by_status {
            out.push_str(&format!(
                "http_requests_total{{{},status=\"{code}\"}} {n}\n",
                base(p)
            ));
        }
    }
    out.push_str("# HELP http_request_duration_seconds Synthetic request latency of simulated pods.\n# TYPE http_request_duration_seconds histogram\n");
    for p in &s.pods {
        let b = base(p);
        for (le, n) in &p.latency_buckets {
            out.push_str(&format!(
                "http_request_duration_seconds_bucket{{{b},le=\"{}\"}} {n}\n",
                fmt_le(*le)
            ));
        }
        out.push_str(&format!(
            "http_request_duration_seconds_sum{{{b}}} {}\n",
            p.latency_sum
        ));
        out.push_str(&format!(
            "http_request_duration_seconds_count{{{b}}} {}\n",
            p.latency_count
        ));
    }
    out
}

/// Only the pods of one namespace and name (the pod proxy's `/metrics`).
pub(crate) fn pod_exposition(shared: &Shared, ns: &str, name: &str) -> String {
    let mut s = snapshot(shared);
    s.pods.retain(|p| p.namespace == ns && p.name == name);
    exposition(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PromQL's histogram_quantile: linear interpolation inside the bucket holding the rank.
    fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
        let total = buckets.last().map_or(0.0, |b| b.1);
        let rank = q * total;
        let mut prev = (0.0, 0.0);
        for (le, c) in buckets {
            if *c >= rank {
                if le.is_infinite() {
                    return prev.0;
                }
                return prev.0 + (le - prev.0) * (rank - prev.1) / (c - prev.1);
            }
            prev = (*le, *c);
        }
        f64::NAN
    }

    #[test]
    fn quantiles_are_recovered_at_bucket_bounds() {
        let bounds = bucket_bounds(&[40.0, 900.0]);
        let n = 10_000.0;
        let mut buckets: Vec<(f64, f64)> = bounds
            .iter()
            .map(|le| (*le, n * cdf(*le, 0.04, 0.9)))
            .collect();
        buckets.push((f64::INFINITY, n));
        assert!((histogram_quantile(0.99, &buckets) - 0.9).abs() < 1e-9);
        assert!((histogram_quantile(0.5, &buckets) - 0.04).abs() < 1e-9);
        // Monotone.
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(Z99) - 0.99).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }
}
