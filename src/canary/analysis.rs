//! Verdicts: a reading per metric per interval, and the decision the readings add up to.
//!
//! Pure code over samples: a P1 breach aborts at once; a P2 breach aborts after `failure_limit`
//! consecutive breaching readings of that metric; no data (no traffic, Prometheus down, a query
//! error) is inconclusive, and `inconclusive_limit` consecutive inconclusive readings of a metric
//! trigger `on_inconclusive`. Every reading carries the measured value, the threshold it was held
//! against and the query with its arguments filled in.

pub use crate::config::canary::OnInconclusive;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::MetricSpec;
use crate::report::Severity;

/// What one query returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A number (NaN and infinities are treated as no data).
    Value(f64),
    /// The query ran and returned nothing: no traffic, or the series do not exist.
    NoData,
    /// The source failed: unreachable, timed out, refused the query.
    Failed(String),
}

impl Sample {
    fn value(&self) -> Option<f64> {
        match self {
            Sample::Value(v) if v.is_finite() => Some(*v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadingStatus {
    Pass,
    Breach,
    Inconclusive,
}

/// One metric measured once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    pub metric: String,
    pub severity: Severity,
    pub status: ReadingStatus,
    /// The canary's value; absent when there was no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The limit the value was held against (in comparison mode: derived from the stable).
    pub threshold: f64,
    pub unit: String,
    /// The stable's value in comparison mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// Why the reading is inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Inconclusive because the source failed (rather than because there was no data).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_failed: bool,
    /// The query that produced the value, arguments filled in.
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_query: Option<String>,
    pub at: jiff::Timestamp,
}

impl Reading {
    /// `12.4/min > 10/min`, `no data (no traffic)`: the value next to its limit.
    pub fn describe(&self) -> String {
        match self.value {
            Some(value) => {
                let op = if self.status == ReadingStatus::Breach {
                    ">"
                } else {
                    "≤"
                };
                let mut text = format!(
                    "{} {op} {}",
                    format_value(value, &self.unit),
                    format_value(self.threshold, &self.unit)
                );
                if let Some(baseline) = self.baseline {
                    text.push_str(&format!(" (stable {})", format_value(baseline, &self.unit)));
                }
                text
            }
            None => format!(
                "no data ({})",
                self.reason.as_deref().unwrap_or("no samples")
            ),
        }
    }
}

/// A number with its unit, rounded for people: `12.4/min`, `5000 ms`, `1 responses`, `0.5%`.
pub fn format_value(value: f64, unit: &str) -> String {
    let whole = value == value.trunc() && value.abs() < 1e12;
    // 99.96 shows as 100, not 100.0.
    let number = if whole || value.abs() >= 99.95 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    };
    match unit {
        "" => number,
        u if u.starts_with('/') || u == "%" => format!("{number}{u}"),
        u => format!("{number} {u}"),
    }
}

/// Comparison with the stable instead of absolute limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The canary breaches when it exceeds the stable's value times this factor (and the floor).
    pub factor: f64,
}

/// Judges one metric from the canary's sample (and, when comparing, the stable's).
pub fn judge(
    metric: &MetricSpec,
    unit: &str,
    query: &str,
    canary: &Sample,
    baseline: Option<(&str, &Sample)>,
    comparison: Option<Comparison>,
    at: jiff::Timestamp,
) -> Reading {
    let mut reading = Reading {
        metric: metric.id.clone(),
        severity: metric.severity,
        status: ReadingStatus::Inconclusive,
        value: canary.value(),
        threshold: metric.threshold,
        unit: unit.to_string(),
        baseline: None,
        reason: None,
        source_failed: false,
        query: query.to_string(),
        baseline_query: baseline.map(|(q, _)| q.to_string()),
        at,
    };
    let Some(value) = reading.value else {
        reading.reason = Some(no_data_reason(canary, "canary"));
        reading.source_failed = matches!(canary, Sample::Failed(_));
        return reading;
    };
    if let (Some(comparison), Some((_, stable))) = (comparison, baseline) {
        let Some(stable_value) = stable.value() else {
            reading.reason = Some(no_data_reason(stable, "stable"));
            reading.source_failed = matches!(stable, Sample::Failed(_));
            return reading;
        };
        reading.baseline = Some(stable_value);
        reading.threshold = (stable_value * comparison.factor).max(metric.compare_floor);
    }
    reading.status = if value > reading.threshold {
        ReadingStatus::Breach
    } else {
        ReadingStatus::Pass
    };
    reading
}

fn no_data_reason(sample: &Sample, track: &str) -> String {
    match sample {
        Sample::Failed(error) => error.clone(),
        Sample::Value(v) => format!("{track} value is {v} (no requests in the window)"),
        Sample::NoData => format!("no {track} samples: no traffic yet, or the series do not exist"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Consecutive breaching readings of a P2 (or lower) metric that abort.
    pub failure_limit: u32,
    /// Consecutive inconclusive readings of a metric that trigger `on_inconclusive`.
    pub inconclusive_limit: u32,
    pub on_inconclusive: OnInconclusive,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failure_limit: 2,
            inconclusive_limit: 3,
            on_inconclusive: OnInconclusive::Abort,
        }
    }
}

/// Consecutive-reading counters per metric; kept in the state annotation so a resumed canary
/// continues the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Streaks {
    #[serde(default)]
    pub failures: BTreeMap<String, u32>,
    #[serde(default)]
    pub inconclusive: BTreeMap<String, u32>,
}

/// What a round of readings decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Keep going.
    Healthy,
    /// A breach counted but below its limit, or inconclusive below its limit: keep going, watch.
    Watch(String),
    /// Stop advancing until `canary promote` (on-inconclusive=pause).
    Hold(String),
    /// Abort the canary now.
    Abort(AbortCause),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AbortCause {
    pub metric: String,
    pub summary: String,
    /// The abort comes from readings that stayed inconclusive, not from a breach.
    pub inconclusive: bool,
    /// The abort comes from readings that failed at the source (Prometheus down), not from the
    /// canary's behaviour: the exit code says "infrastructure" (3) rather than "aborted" (1).
    pub infrastructure: bool,
}

/// The P1 guard's decision on its readings between rounds: the first P1 breach aborts, as it
/// would in a round (P1 needs no failure limit); anything else waits for the next round.
pub fn guard_breach(readings: &[Reading]) -> Option<AbortCause> {
    readings
        .iter()
        .find(|r| r.severity == Severity::P1 && r.status == ReadingStatus::Breach)
        .map(|r| AbortCause {
            metric: r.metric.clone(),
            summary: format!(
                "{} {}: {} (read by the P1 guard between analysis rounds)",
                r.severity.label(),
                r.metric,
                r.describe()
            ),
            inconclusive: false,
            infrastructure: false,
        })
}

/// Updates the streaks with one round of readings and decides.
pub fn decide(readings: &[Reading], streaks: &mut Streaks, policy: &Policy) -> Decision {
    let failure_limit = policy.failure_limit.max(1);
    let inconclusive_limit = policy.inconclusive_limit.max(1);
    // Abort candidates ranked: breaches before inconclusive, then by severity (P1 first).
    let mut aborts: Vec<((u8, Severity), AbortCause)> = Vec::new();
    let mut hold: Option<String> = None;
    let mut watch: Vec<String> = Vec::new();
    for r in readings {
        let failures = streaks.failures.entry(r.metric.clone()).or_default();
        let inconclusive = streaks.inconclusive.entry(r.metric.clone()).or_default();
        match r.status {
            ReadingStatus::Pass => {
                *failures = 0;
                *inconclusive = 0;
            }
            ReadingStatus::Breach => {
                *inconclusive = 0;
                *failures += 1;
                let limit = if r.severity == Severity::P1 {
                    1
                } else {
                    failure_limit
                };
                if *failures >= limit {
                    let summary = if limit == 1 {
                        format!("{} {}: {}", r.severity.label(), r.metric, r.describe())
                    } else {
                        format!(
                            "{} {}: {} in {failures} consecutive readings",
                            r.severity.label(),
                            r.metric,
                            r.describe()
                        )
                    };
                    aborts.push((
                        (0, r.severity),
                        AbortCause {
                            metric: r.metric.clone(),
                            summary,
                            inconclusive: false,
                            infrastructure: false,
                        },
                    ));
                } else {
                    watch.push(format!(
                        "{} breached {failures}/{limit} ({})",
                        r.metric,
                        r.describe()
                    ));
                }
            }
            ReadingStatus::Inconclusive => {
                // Missing data neither breaks nor extends a breach streak.
                *inconclusive += 1;
                let why = r.reason.as_deref().unwrap_or("no data");
                if *inconclusive < inconclusive_limit {
                    watch.push(format!(
                        "{} inconclusive {inconclusive}/{inconclusive_limit} ({why})",
                        r.metric
                    ));
                    continue;
                }
                let summary = format!(
                    "{} inconclusive in {inconclusive} consecutive readings ({why})",
                    r.metric
                );
                match policy.on_inconclusive {
                    OnInconclusive::Abort => aborts.push((
                        (1, r.severity),
                        AbortCause {
                            metric: r.metric.clone(),
                            summary,
                            inconclusive: true,
                            infrastructure: r.source_failed,
                        },
                    )),
                    OnInconclusive::Pause => {
                        hold.get_or_insert(summary);
                    }
                    OnInconclusive::Continue => watch.push(summary),
                }
            }
        }
    }
    if let Some((_, cause)) = aborts.into_iter().min_by_key(|(rank, _)| *rank) {
        return Decision::Abort(cause);
    }
    if let Some(reason) = hold {
        return Decision::Hold(reason);
    }
    if watch.is_empty() {
        Decision::Healthy
    } else {
        Decision::Watch(watch.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::metrics::default_metrics;

    fn at() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn metric(id: &str) -> MetricSpec {
        default_metrics().into_iter().find(|m| m.id == id).unwrap()
    }

    fn reading(id: &str, sample: Sample) -> Reading {
        let m = metric(id);
        judge(&m, &m.unit, "q", &sample, None, None, at())
    }

    #[test]
    fn value_above_threshold_breaches_equal_passes() {
        assert_eq!(
            reading("errors-5xx", Sample::Value(10.5)).status,
            ReadingStatus::Breach
        );
        assert_eq!(
            reading("errors-5xx", Sample::Value(10.0)).status,
            ReadingStatus::Pass
        );
        assert_eq!(
            reading("auth-failures", Sample::Value(1.0)).status,
            ReadingStatus::Breach
        );
        assert_eq!(
            reading("auth-failures", Sample::Value(0.0)).status,
            ReadingStatus::Pass
        );
    }

    #[test]
    fn the_guard_aborts_on_a_p1_breach_only() {
        let calm = [
            reading("errors-5xx", Sample::Value(3.0)),
            reading("auth-failures", Sample::NoData),
        ];
        assert_eq!(guard_breach(&calm), None);
        // A P2 breach is the rounds' to count against the failure limit.
        assert_eq!(
            guard_breach(&[reading("latency-p99", Sample::Value(9000.0))]),
            None
        );
        let cause = guard_breach(&[
            reading("errors-5xx", Sample::Value(3.0)),
            reading("auth-failures", Sample::Value(2.0)),
        ])
        .expect("a P1 breach");
        assert_eq!(cause.metric, "auth-failures");
        assert!(!cause.inconclusive && !cause.infrastructure);
        assert!(
            cause.summary.starts_with("P1 auth-failures: ")
                && cause
                    .summary
                    .ends_with("(read by the P1 guard between analysis rounds)"),
            "{}",
            cause.summary
        );
    }

    #[test]
    fn missing_values_are_inconclusive_with_a_reason() {
        let r = reading("latency-p99", Sample::Value(f64::NAN));
        assert_eq!(r.status, ReadingStatus::Inconclusive);
        assert!(r.reason.unwrap().contains("no requests"));
        let r = reading("latency-p99", Sample::NoData);
        assert_eq!(r.status, ReadingStatus::Inconclusive);
        assert!(!r.source_failed);
        let r = reading("latency-p99", Sample::Failed("connection refused".into()));
        assert!(r.source_failed);
        assert_eq!(r.describe(), "no data (connection refused)");
    }

    #[test]
    fn readings_show_value_threshold_and_query() {
        let m = metric("latency-p99");
        let r = judge(
            &m,
            "ms",
            "histogram_quantile(…)",
            &Sample::Value(6200.0),
            None,
            None,
            at(),
        );
        assert_eq!(r.describe(), "6200 ms > 5000 ms");
        assert_eq!(r.query, "histogram_quantile(…)");
        assert_eq!(format_value(12.44, "/min"), "12.4/min");
        assert_eq!(format_value(0.25, "%"), "0.250%");
        assert_eq!(format_value(99.97, "ms"), "100 ms");
        assert_eq!(format_value(42.0, "responses"), "42 responses");
    }

    #[test]
    fn p1_breach_aborts_at_once() {
        let mut streaks = Streaks::default();
        let readings = [
            reading("errors-5xx", Sample::Value(0.0)),
            reading("auth-failures", Sample::Value(1.0)),
        ];
        match decide(&readings, &mut streaks, &Policy::default()) {
            Decision::Abort(cause) => {
                assert_eq!(cause.metric, "auth-failures");
                assert!(!cause.infrastructure);
                assert!(
                    cause
                        .summary
                        .starts_with("P1 auth-failures: 1 responses > 0 responses"),
                    "{}",
                    cause.summary
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn p2_breach_aborts_after_the_failure_limit_of_consecutive_readings() {
        let policy = Policy::default();
        let mut streaks = Streaks::default();
        let bad = [reading("latency-p99", Sample::Value(7000.0))];
        let good = [reading("latency-p99", Sample::Value(100.0))];
        assert!(
            matches!(decide(&bad, &mut streaks, &policy), Decision::Watch(w) if w.contains("1/2"))
        );
        // A good reading in between resets the streak.
        assert_eq!(decide(&good, &mut streaks, &policy), Decision::Healthy);
        assert!(matches!(
            decide(&bad, &mut streaks, &policy),
            Decision::Watch(_)
        ));
        match decide(&bad, &mut streaks, &policy) {
            Decision::Abort(cause) => {
                assert_eq!(cause.metric, "latency-p99");
                assert!(cause.summary.contains("2 consecutive"), "{}", cause.summary);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failure_limit_one_makes_p2_abort_at_once() {
        let policy = Policy {
            failure_limit: 1,
            ..Policy::default()
        };
        let mut streaks = Streaks::default();
        let bad = [reading("rate-limited", Sample::Value(6.0))];
        assert!(matches!(
            decide(&bad, &mut streaks, &policy),
            Decision::Abort(_)
        ));
    }

    #[test]
    fn inconclusive_does_not_break_a_breach_streak() {
        let policy = Policy::default();
        let mut streaks = Streaks::default();
        decide(
            &[reading("latency-p99", Sample::Value(7000.0))],
            &mut streaks,
            &policy,
        );
        decide(
            &[reading("latency-p99", Sample::NoData)],
            &mut streaks,
            &policy,
        );
        let d = decide(
            &[reading("latency-p99", Sample::Value(7000.0))],
            &mut streaks,
            &policy,
        );
        assert!(matches!(d, Decision::Abort(_)), "{d:?}");
    }

    #[test]
    fn inconclusive_limit_aborts_by_default_and_says_if_the_source_failed() {
        let policy = Policy {
            inconclusive_limit: 2,
            ..Policy::default()
        };
        let mut streaks = Streaks::default();
        let down = [reading(
            "errors-5xx",
            Sample::Failed("prometheus: connection refused".into()),
        )];
        assert!(
            matches!(decide(&down, &mut streaks, &policy), Decision::Watch(w) if w.contains("1/2"))
        );
        match decide(&down, &mut streaks, &policy) {
            Decision::Abort(cause) => {
                assert!(cause.infrastructure);
                assert!(
                    cause.summary.contains("connection refused"),
                    "{}",
                    cause.summary
                );
            }
            other => panic!("{other:?}"),
        }
        let mut streaks = Streaks::default();
        let quiet = [reading("errors-5xx", Sample::NoData)];
        decide(&quiet, &mut streaks, &policy);
        match decide(&quiet, &mut streaks, &policy) {
            Decision::Abort(cause) => assert!(!cause.infrastructure),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inconclusive_can_pause_or_continue() {
        let quiet = [reading("errors-5xx", Sample::NoData)];
        let pause = Policy {
            inconclusive_limit: 1,
            on_inconclusive: OnInconclusive::Pause,
            ..Policy::default()
        };
        assert!(matches!(
            decide(&quiet, &mut Streaks::default(), &pause),
            Decision::Hold(_)
        ));
        let go_on = Policy {
            on_inconclusive: OnInconclusive::Continue,
            ..pause
        };
        assert!(matches!(
            decide(&quiet, &mut Streaks::default(), &go_on),
            Decision::Watch(_)
        ));
        // A real value clears the inconclusive streak.
        let mut streaks = Streaks::default();
        let two = Policy {
            inconclusive_limit: 2,
            ..Policy::default()
        };
        decide(&quiet, &mut streaks, &two);
        decide(
            &[reading("errors-5xx", Sample::Value(0.0))],
            &mut streaks,
            &two,
        );
        assert!(matches!(
            decide(&quiet, &mut streaks, &two),
            Decision::Watch(_)
        ));
    }

    #[test]
    fn a_p1_breach_outranks_an_inconclusive_abort() {
        let policy = Policy {
            inconclusive_limit: 1,
            ..Policy::default()
        };
        let readings = [
            reading("latency-p99", Sample::Failed("timeout".into())),
            reading("errors-5xx", Sample::Value(50.0)),
        ];
        match decide(&readings, &mut Streaks::default(), &policy) {
            Decision::Abort(cause) => {
                assert_eq!(cause.metric, "errors-5xx");
                assert!(!cause.infrastructure);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comparison_holds_the_canary_against_the_stable() {
        let m = metric("errors-5xx");
        let cmp = Some(Comparison { factor: 1.5 });
        let judge_pair = |canary: f64, stable: Sample| {
            judge(
                &m,
                "%",
                "c",
                &Sample::Value(canary),
                Some(("s", &stable)),
                cmp,
                at(),
            )
        };
        // Stable at 4 %: the canary may reach 6 %.
        assert_eq!(
            judge_pair(5.0, Sample::Value(4.0)).status,
            ReadingStatus::Pass
        );
        let breach = judge_pair(7.0, Sample::Value(4.0));
        assert_eq!(breach.status, ReadingStatus::Breach);
        assert_eq!(breach.threshold, 6.0);
        assert_eq!(breach.baseline, Some(4.0));
        assert_eq!(breach.baseline_query.as_deref(), Some("s"));
        // Near zero, the floor (1 %) keeps noise from breaching.
        assert_eq!(
            judge_pair(0.5, Sample::Value(0.0)).status,
            ReadingStatus::Pass
        );
        // No stable data: inconclusive.
        assert_eq!(
            judge_pair(0.5, Sample::NoData).status,
            ReadingStatus::Inconclusive
        );
    }
}
