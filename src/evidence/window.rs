//! `evidence` without `--since`: the window starts 15 minutes before the first evidence of the
//! problem (the first sample over an alert threshold in the last 6 hours, or the first crash of
//! a pod), else it is the last hour; the report says which.

use std::time::Duration;

use super::detect::{Detected, first_breach};
use super::gather::Connections;
use super::metrics::{RangeResult, alert_queries, range_step};
use super::metrics_files::range_all;
use super::settings::Settings;
use super::workload::Workload;

/// How far back the first evidence is looked for.
pub const LOOKBACK: Duration = Duration::from_secs(6 * 3600);
/// How much of the time before the first evidence the window keeps.
pub const LEAD: Duration = Duration::from_secs(15 * 60);
/// The window without evidence (and `--since`'s documented default).
pub const DEFAULT: Duration = Duration::from_secs(3600);

/// The window chosen and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SinceChoice {
    pub since: Duration,
    /// As `--since` would be written (`47m`, `1h`).
    pub text: String,
    pub note: String,
}

/// The window for a first evidence at `first` (if any), collected at `now`.
pub fn choose(first: Option<&Detected>, now: jiff::Timestamp) -> SinceChoice {
    match first {
        Some(d) => {
            let before = now.duration_since(d.at).as_secs().max(0) as u64;
            // Whole minutes, rounded up, so the first evidence is always inside.
            let minutes = (before + LEAD.as_secs()).div_ceil(60).max(1);
            let since = Duration::from_secs(minutes * 60);
            let text = humantime::format_duration(since)
                .to_string()
                .replace(' ', "");
            SinceChoice {
                note: format!(
                    "--since not given: {text}, from 15 minutes before the first evidence of the \
                     problem ({} at {} UTC)",
                    d.what,
                    d.at.strftime("%H:%M:%S")
                ),
                since,
                text,
            }
        }
        None => SinceChoice {
            since: DEFAULT,
            text: "1h".to_string(),
            note: "--since not given and no evidence of a problem in the last 6h \
                   (no sample over a threshold, no crash): the last 1h"
                .to_string(),
        },
    }
}

/// Looks for the first evidence: the alert queries over [`LOOKBACK`] and the pods' crashes.
pub async fn incident_since(
    namespace: &str,
    workload: &Workload,
    connections: &Connections,
    settings: &Settings,
    now: jiff::Timestamp,
) -> SinceChoice {
    let start = now - jiff::SignedDuration::try_from(LOOKBACK).unwrap_or_default();
    let (step, rate_window) = range_step(LOOKBACK);
    let breach = match alert_queries(
        &settings.naming,
        &settings.evidence.queries,
        namespace,
        workload.name(),
        rate_window,
    ) {
        Ok(queries) => match range_all(connections, &queries, start, now, step).await {
            Ok(results) => {
                let answered: Vec<&RangeResult> =
                    results.iter().filter_map(|r| r.as_ref().ok()).collect();
                first_breach(&answered, &settings.evidence.thresholds)
            }
            Err(_) => None,
        },
        Err(_) => None,
    };
    let crash = workload
        .pods
        .iter()
        .flat_map(|(p, _)| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .filter_map(|c| {
                    c.last_state
                        .as_ref()?
                        .terminated
                        .as_ref()?
                        .finished_at
                        .as_ref()
                        .map(|t| t.0)
                })
        })
        .filter(|t| *t >= start)
        .min()
        .map(|at| Detected {
            at,
            what: "first container crash".to_string(),
        });
    let first = [breach, crash].into_iter().flatten().min_by_key(|d| d.at);
    choose(first.as_ref(), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18 (beyond): `--since` defaults to the incident, saying which.
    #[test]
    fn the_window_starts_15_minutes_before_the_first_evidence_else_it_is_an_hour() {
        let now: jiff::Timestamp = "2026-11-22T18:47:00Z".parse().unwrap();
        let first = Detected {
            at: "2026-11-22T18:40:30Z".parse().unwrap(),
            what: "first errors-5xx sample over the 10/min threshold".into(),
        };
        let chosen = choose(Some(&first), now);
        assert_eq!(chosen.since, Duration::from_secs(22 * 60));
        assert_eq!(chosen.text, "22m");
        assert!(chosen.note.contains("18:40:30"), "{}", chosen.note);
        let old = Detected {
            at: "2026-11-22T15:00:00Z".parse().unwrap(),
            what: "first container crash".into(),
        };
        assert_eq!(choose(Some(&old), now).text, "4h2m");
        let none = choose(None, now);
        assert_eq!((none.since, none.text.as_str()), (DEFAULT, "1h"));
        assert!(none.note.contains("no evidence"), "{}", none.note);
    }
}
