//! The bundle's `metrics/` files: each alert query over the window as JSON, and the chart with
//! the rollout revisions marked; plus the query windows the manifest lists (the range queries
//! and the triage's instant ones).

use std::time::Duration;

use super::bundle::Bundle;
use super::chart::{ChartInput, Marker, MarkerKind, render_svg};
use super::gather::Connections;
use super::history::{Episode, EpisodeKind};
use super::manifest::{Missing, QueryWindow};
use super::metrics::{AlertQuery, RangeResult};
use super::objects::RevisionRow;
use super::redact::Redactor;
use crate::error::{Error, Result};

/// Every range query's answer, or why Prometheus could not be asked at all.
pub type Ranges = std::result::Result<Vec<std::result::Result<RangeResult, String>>, String>;

/// The four range queries at once; `Err` when Prometheus is not configured at all.
pub async fn range_all(
    connections: &Connections,
    queries: &[AlertQuery],
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    step: Duration,
) -> Ranges {
    let prometheus = connections
        .prometheus
        .as_ref()
        .map_err(|e| format!("Prometheus {e}"))?;
    Ok(futures::future::join_all(
        queries
            .iter()
            .map(|q| super::metrics::range(prometheus, q, start, end, step)),
    )
    .await)
}

/// What the chart and the files need besides the answers.
pub struct MetricsInputs<'a> {
    pub queries: &'a [AlertQuery],
    pub ranges: &'a Ranges,
    pub history: &'a [RevisionRow],
    pub title: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub step: Duration,
    pub latency_limit_ms: f64,
    /// The errors panel's alert thresholds (label, per minute).
    pub error_limits: Vec<(String, f64)>,
    /// The window's canaries and rollbacks, marked as well as the revisions.
    pub episodes: &'a [Episode],
}

/// Writes `metrics/ID.json` per answered query and `metrics/chart.svg`; returns the windows
/// written, what could not be read and the chart as written (for `index.html`).
pub fn write_metrics(
    bundle: &Bundle,
    redactor: &Redactor,
    inputs: &MetricsInputs,
) -> Result<(Vec<QueryWindow>, Vec<Missing>, Option<String>)> {
    let mut windows = Vec::new();
    let mut missing = Vec::new();
    let results = match inputs.ranges {
        Ok(results) => results,
        Err(reason) => {
            missing.push(Missing::new("prometheus", reason.clone()));
            return Ok((windows, missing, None));
        }
    };
    for (query, result) in inputs.queries.iter().zip(results) {
        match result {
            Ok(range) => {
                let file = format!("metrics/{}.json", query.id);
                let json = serde_json::to_string_pretty(range).unwrap_or_default();
                bundle.add_text(&file, &json, redactor, 0)?;
                windows.push(QueryWindow {
                    id: query.id.to_string(),
                    kind: "range",
                    promql: query.promql.clone(),
                    start: inputs.start,
                    end: inputs.end,
                    step_seconds: Some(inputs.step.as_secs_f64()),
                    file: Some(file),
                });
            }
            Err(reason) => missing.push(Missing::new(
                format!("prometheus/{}", query.id),
                reason.clone(),
            )),
        }
    }
    let answered: Vec<&RangeResult> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let svg = render_svg(&ChartInput {
        title: inputs.title.clone(),
        start: inputs.start,
        end: inputs.end,
        errors: answered
            .iter()
            .copied()
            .filter(|r| r.id != "latency-p99")
            .collect(),
        latency: answered.iter().copied().find(|r| r.id == "latency-p99"),
        latency_limit_ms: inputs.latency_limit_ms,
        error_limits: inputs.error_limits.clone(),
        markers: revision_markers(inputs.history, inputs.start)
            .into_iter()
            .chain(episode_markers(inputs.episodes))
            .collect(),
    })
    .map_err(|e| Error::Input(format!("cannot render the chart: {e}")))?;
    bundle.add_text("metrics/chart.svg", &svg, redactor, 0)?;
    let svg = redactor.redact_str(&svg).0.into_owned();
    Ok((windows, missing, Some(svg)))
}

/// A marker per revision created in the window (`rev 3`, `canary rev 1`).
fn revision_markers(history: &[RevisionRow], start: jiff::Timestamp) -> Vec<Marker> {
    history
        .iter()
        .filter_map(|row| {
            let at = row.created.filter(|t| *t >= start)?;
            let canary = row.deployment.ends_with("-canary");
            Some(Marker {
                at,
                // The number it had then (issue 18 item 2).
                label: format!(
                    "{}rev {}",
                    if canary { "canary " } else { "" },
                    row.first_revision()
                ),
                kind: MarkerKind::Revision,
            })
        })
        .collect()
}

/// A marker for each canary's start and end (aborted or promoted) and each rollback.
fn episode_markers(episodes: &[Episode]) -> Vec<Marker> {
    let mut out = Vec::new();
    for e in episodes {
        match e.kind {
            EpisodeKind::Rollback => out.push(Marker {
                at: e.started,
                label: "rollback".into(),
                kind: MarkerKind::Rollback,
            }),
            EpisodeKind::Canary => {
                out.push(Marker {
                    at: e.started,
                    label: format!("canary #{}", e.number),
                    kind: MarkerKind::CanaryStart,
                });
                if let Some(end) = e.ended {
                    let promoted = e.outcome == "promoted";
                    out.push(Marker {
                        at: end,
                        label: format!(
                            "#{} {}",
                            e.number,
                            if promoted { "promoted" } else { "aborted" }
                        ),
                        kind: if promoted {
                            MarkerKind::CanaryPromote
                        } else {
                            MarkerKind::CanaryAbort
                        },
                    });
                }
            }
        }
    }
    out
}

/// The triage's instant queries, as the manifest lists them.
pub fn instant_windows(
    queries: &[AlertQuery],
    window: Duration,
    end: jiff::Timestamp,
) -> Vec<QueryWindow> {
    let start = end - jiff::SignedDuration::try_from(window).unwrap_or_default();
    queries
        .iter()
        .map(|query| QueryWindow {
            id: format!("triage/{}", query.id),
            kind: "instant",
            promql: query.promql.clone(),
            start,
            end,
            step_seconds: None,
            file: None,
        })
        .collect()
}
