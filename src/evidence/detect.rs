//! When the problem was first seen: the earliest of the first sample over an alert threshold,
//! the first error line in the logs and the first sign of trouble the cluster recorded (a crash,
//! a Warning event, an aborted canary). Not the `--since` start, which can predate the cluster.

use super::metrics::RangeResult;
use super::timeline::TimelineEntry;
use super::triage::Thresholds;

/// The first evidence of the problem and what it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub at: jiff::Timestamp,
    pub what: String,
}

/// The threshold an alert query is judged by, with its unit.
fn threshold(id: &str, thresholds: &Thresholds) -> Option<(f64, &'static str)> {
    Some(match id {
        "errors-5xx" => (thresholds.server_errors_per_minute, "/min"),
        "rate-limited" => (thresholds.rate_limited_per_minute, "/min"),
        "auth-failures" => (thresholds.auth_errors_per_minute, "/min"),
        "latency-p99" => (thresholds.latency_p99_ms, " ms"),
        _ => return None,
    })
}

/// The first sample of any alert query above its threshold.
pub fn first_breach(ranges: &[&RangeResult], thresholds: &Thresholds) -> Option<Detected> {
    let mut best: Option<(f64, Detected)> = None;
    for range in ranges {
        let Some((limit, unit)) = threshold(range.id, thresholds) else {
            continue;
        };
        for series in &range.series {
            let Some(&(secs, value)) = series.values.iter().find(|(_, v)| *v > limit) else {
                continue;
            };
            if best.as_ref().is_some_and(|(t, _)| *t <= secs) {
                continue;
            }
            let Ok(at) = jiff::Timestamp::from_nanosecond((secs * 1e9) as i128) else {
                continue;
            };
            best = Some((
                secs,
                Detected {
                    at,
                    what: format!(
                        "first {} sample over the {limit}{unit} threshold ({value:.1}{unit})",
                        range.id
                    ),
                },
            ));
        }
    }
    best.map(|(_, d)| d)
}

/// The earliest of the breach, the first error line and the timeline's first problem.
pub fn detected(
    breach: Option<Detected>,
    first_error_line: Option<jiff::Timestamp>,
    timeline: &[TimelineEntry],
    start: jiff::Timestamp,
) -> Option<Detected> {
    let line = first_error_line.filter(|t| *t >= start).map(|at| Detected {
        at,
        what: "first error line in the pods' logs".to_string(),
    });
    // A crash, a Warning event, a failed condition: what the cluster saw go wrong. An aborted
    // canary or a rollback is a response to the problem, not evidence of when it began.
    let recorded = timeline
        .iter()
        .find(|e| e.problem && matches!(e.source, "pod" | "event" | "deployment"))
        .map(|e| Detected {
            at: e.at,
            what: format!("first trouble the cluster recorded: {}", e.text),
        });
    [breach, line, recorded]
        .into_iter()
        .flatten()
        .min_by_key(|d| d.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::metrics::Series;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn range(id: &'static str, values: Vec<(f64, f64)>) -> RangeResult {
        RangeResult {
            id,
            title: id,
            unit: "/min",
            query: String::new(),
            start: ts("2026-11-22T17:46:00Z"),
            end: ts("2026-11-22T18:46:00Z"),
            step_seconds: 15.0,
            series: vec![Series {
                labels: Default::default(),
                values,
            }],
        }
    }

    /// Issue 18 item 3: `From 17:46 UTC … saw 5xx` was the `--since` start; the first sample
    /// over the threshold is when the problem began.
    #[test]
    fn the_detected_start_is_the_first_breaching_sample_not_the_window_start() {
        let t0 = ts("2026-11-22T18:40:00Z").as_second() as f64;
        let errors = range(
            "errors-5xx",
            vec![
                (t0, 2.0),
                (t0 + 15.0, 9.0),
                (t0 + 30.0, 14.0),
                (t0 + 45.0, 30.0),
            ],
        );
        let latency = range("latency-p99", vec![(t0 + 45.0, 9000.0)]);
        let breach = first_breach(&[&errors, &latency], &Thresholds::default()).unwrap();
        assert_eq!(breach.at, ts("2026-11-22T18:40:30Z"));
        assert!(breach.what.contains("errors-5xx"), "{}", breach.what);
        let timeline = vec![
            TimelineEntry {
                at: ts("2026-11-22T18:40:20Z"),
                source: "canary",
                text: "canary #1 aborted by analysis".into(),
                problem: true,
            },
            TimelineEntry {
                at: ts("2026-11-22T18:41:00Z"),
                source: "pod",
                text: "pod/web-1 container app terminated: OOMKilled".into(),
                problem: true,
            },
        ];
        let start = ts("2026-11-22T17:46:00Z");
        let found = detected(Some(breach.clone()), None, &timeline, start).unwrap();
        assert_eq!(found, breach);
        let earlier_line = ts("2026-11-22T18:40:10Z");
        assert_eq!(
            detected(Some(breach), Some(earlier_line), &timeline, start)
                .unwrap()
                .at,
            earlier_line
        );
        assert_eq!(
            detected(None, None, &timeline, start).unwrap().at,
            ts("2026-11-22T18:41:00Z")
        );
        assert!(detected(None, None, &[], start).is_none());
    }
}
