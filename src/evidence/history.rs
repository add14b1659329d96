//! Every canary and rollback of the window, rebuilt from what the cluster keeps: the Events this
//! tool writes on the stable (one per canary start, passed step, abort and promotion and per
//! rollback, see [`crate::kube::events`]), and the Lease's state for the latest canary (the only
//! one it still holds). A canary whose start has no end before the next canary or rollback was
//! interrupted: its driver stopped before it could record one. Pure: built from objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Event;
use serde::Serialize;

use super::objects::event_time;
use crate::annotations::{EVENT_FACT_PREFIX, EVENT_KIND_ANNOTATION};
use crate::canary::state::CanaryState;

/// One Event this tool wrote about the stable.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEvent {
    pub at: jiff::Timestamp,
    /// The domain event's kind (`canary.aborted`).
    pub kind: String,
    pub message: String,
    pub facts: BTreeMap<String, String>,
}

/// This tool's Events on deployment `stable`, oldest first.
pub fn tool_events(events: &[Event], stable: &str) -> Vec<ToolEvent> {
    let mut out: Vec<ToolEvent> = events
        .iter()
        .filter(|e| is_tool_event(e))
        .filter(|e| e.involved_object.name.as_deref() == Some(stable))
        .filter_map(|e| {
            let annotations = e.metadata.annotations.clone().unwrap_or_default();
            Some(ToolEvent {
                at: event_time(e)?,
                kind: annotations.get(EVENT_KIND_ANNOTATION)?.clone(),
                message: e.message.clone().unwrap_or_default(),
                facts: annotations
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.strip_prefix(EVENT_FACT_PREFIX)?.into(), v.clone()))
                    })
                    .collect(),
            })
        })
        .collect();
    out.sort_by_key(|e| e.at);
    out
}

/// Whether this tool wrote `event` (its `source.component`).
pub fn is_tool_event(event: &Event) -> bool {
    event.source.as_ref().and_then(|s| s.component.as_deref())
        == Some(crate::kube::events::COMPONENT)
        || event.reporting_component.as_deref() == Some(crate::kube::events::COMPONENT)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EpisodeKind {
    Canary,
    Rollback,
}

/// One canary (from its start to its end) or one rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    pub kind: EpisodeKind,
    /// Canaries are numbered in the window's order (`canary #2`).
    pub number: usize,
    pub started: jiff::Timestamp,
    pub ended: Option<jiff::Timestamp>,
    /// The canary's images; empty for a rollback.
    pub image: String,
    /// The stable's revision number and images when the canary started (the number of the
    /// time: later rollbacks renumber revisions).
    pub stable_revision: Option<String>,
    pub stable_image: Option<String>,
    /// `(when, "step 1/2")` for each passed step.
    pub steps: Vec<(jiff::Timestamp, String)>,
    /// `promoted`, `aborted by analysis`, `aborted by the operator`, `interrupted …`,
    /// `rolled back from revision 5 to revision 3`, …
    pub outcome: String,
    /// What the run said at its end (its verdict).
    pub detail: String,
    pub problem: bool,
}

impl Episode {
    /// `canary #2 of app:2 (stable at revision 3, app:1)` or `rollback`.
    pub fn title(&self) -> String {
        match self.kind {
            EpisodeKind::Rollback => "rollback".to_string(),
            EpisodeKind::Canary => {
                let stable = match (&self.stable_revision, &self.stable_image) {
                    (Some(r), Some(i)) if !r.is_empty() => {
                        format!(" (stable at revision {r}, {i})")
                    }
                    (_, Some(i)) => format!(" (stable {i})"),
                    _ => String::new(),
                };
                format!("canary #{} of {}{stable}", self.number, self.image)
            }
        }
    }
}

/// The outcome a canary's end Event records, in words.
fn outcome_words(event: &ToolEvent) -> (String, bool) {
    let by_kind = match event.kind.as_str() {
        "canary.promoted" => "promoted",
        "canary.promotion-failed" => "promotion failed",
        _ => "aborted",
    };
    let words = match event.facts.get("outcome").map(String::as_str) {
        Some("promoted") => "promoted",
        Some("aborted-by-analysis") => "aborted by analysis",
        Some("aborted-by-operator") => "aborted by the operator (canary abort)",
        Some("aborted-by-health") => "aborted: the canary's pods were unhealthy",
        Some("aborted-by-conflict") => "aborted: the stable was changed by someone else",
        Some("aborted-inconclusive") => "aborted: the analysis stayed inconclusive",
        Some("aborted-by-error" | "failed-aborted" | "failed") => "aborted after an error",
        Some("interrupted-aborted") => "interrupted (aborted safely by its driver)",
        Some("promotion-failed") => "promotion failed",
        Some("superseded") => "superseded by another driver",
        _ => by_kind,
    };
    (words.to_string(), event.kind != "canary.promoted")
}

fn rollback_outcome(event: &ToolEvent) -> String {
    let fact = |k: &str| event.facts.get(k).filter(|v| !v.is_empty());
    let failed = event.kind == "rollback.failed";
    let mut out = if failed {
        "rollback failed".to_string()
    } else {
        "rolled back".to_string()
    };
    match (fact("from-revision"), fact("to-revision")) {
        (Some(from), Some(to)) => {
            out.push_str(&format!(" from revision {from} to revision {to}"));
            if let Some(now) = fact("revision") {
                out.push_str(&format!(" (which became revision {now})"));
            }
        }
        _ if !failed => out = "rollback: the stable kept its revision".to_string(),
        _ => {}
    }
    out
}

/// The canaries and rollbacks, oldest first. `lease` (the latest canary's state) tells how an
/// unfinished last canary stands; `now` is when the evidence is collected.
pub fn episodes(
    events: &[ToolEvent],
    lease: Option<&CanaryState>,
    now: jiff::Timestamp,
) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    let mut open: Option<Episode> = None;
    let mut canaries = 0;
    let interrupted = |mut e: Episode, by: &str, at: jiff::Timestamp| {
        e.outcome = format!(
            "interrupted: its driver stopped before recording an end ({by} at {} UTC)",
            at.strftime("%H:%M:%S")
        );
        e.problem = true;
        e
    };
    for event in events {
        match event.kind.as_str() {
            "canary.started" => {
                if let Some(e) = open.take() {
                    out.push(interrupted(e, "the next canary started", event.at));
                }
                canaries += 1;
                open = Some(Episode {
                    kind: EpisodeKind::Canary,
                    number: canaries,
                    started: event.at,
                    ended: None,
                    image: event.facts.get("image").cloned().unwrap_or_default(),
                    stable_revision: event.facts.get("stable-revision").cloned(),
                    stable_image: event.facts.get("stable-image").cloned(),
                    steps: Vec::new(),
                    outcome: String::new(),
                    detail: String::new(),
                    problem: false,
                });
            }
            "canary.step-passed" => {
                if let Some(e) = open.as_mut() {
                    let step = event.facts.get("step").cloned().unwrap_or_default();
                    e.steps.push((event.at, format!("step {step} passed")));
                }
            }
            "canary.aborted" | "canary.promoted" | "canary.promotion-failed" => {
                if let Some(mut e) = open.take() {
                    let (outcome, problem) = outcome_words(event);
                    e.ended = Some(event.at);
                    e.outcome = outcome;
                    e.problem = problem;
                    e.detail = event.message.clone();
                    out.push(e);
                }
            }
            "rollback.done" | "rollback.failed" => {
                if let Some(e) = open.take() {
                    out.push(interrupted(e, "then the rollback", event.at));
                }
                out.push(Episode {
                    kind: EpisodeKind::Rollback,
                    number: 0,
                    started: event.at,
                    ended: Some(event.at),
                    image: String::new(),
                    stable_revision: None,
                    stable_image: None,
                    steps: Vec::new(),
                    outcome: rollback_outcome(event),
                    detail: event.message.clone(),
                    problem: event.kind == "rollback.failed",
                });
            }
            _ => {}
        }
    }
    if let Some(mut e) = open.take() {
        // The Lease still holds the last canary's state: how it stands.
        let state = lease.filter(|s| s.started_at.duration_since(e.started).abs().as_secs() <= 10);
        match state {
            Some(s) if s.phase.is_terminal() => {
                e.outcome = format!(
                    "{}{}",
                    s.phase.label(),
                    s.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                e.ended = Some(s.heartbeat);
                e.problem = s.phase.label() != "promoted";
            }
            Some(s) => {
                // A driver writes its heartbeat every interval: three missed is a dead driver.
                let stale = now.duration_since(s.heartbeat).as_secs()
                    > 3 * s.interval_secs.max(1) as i64 + 5;
                e.outcome = if stale {
                    format!(
                        "interrupted: left {} at step {}/{}, no heartbeat since {} UTC \
                         (`canary --resume` continues it, `canary abort` restores the stable)",
                        s.phase.label(),
                        s.step + 1,
                        s.steps.len(),
                        s.heartbeat.strftime("%H:%M:%S")
                    )
                } else {
                    format!(
                        "in progress ({}, step {}/{})",
                        s.phase.label(),
                        s.step + 1,
                        s.steps.len()
                    )
                };
                e.problem = stale;
            }
            None => {
                e.outcome = "no end recorded (interrupted, or still running)".to_string();
                e.problem = true;
            }
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn event(at: &str, kind: &str, facts: &[(&str, &str)], message: &str) -> Event {
        let mut annotations = serde_json::Map::new();
        annotations.insert(EVENT_KIND_ANNOTATION.into(), json!(kind));
        for (k, v) in facts {
            annotations.insert(format!("{EVENT_FACT_PREFIX}{k}"), json!(v));
        }
        serde_json::from_value(json!({
            "metadata": {"name": format!("web.{at}"), "annotations": annotations},
            "involvedObject": {"kind": "Deployment", "name": "web"},
            "source": {"component": "kubectl-posthog"},
            "type": "Normal", "reason": "X", "message": message,
            "firstTimestamp": at, "lastTimestamp": at
        }))
        .unwrap()
    }

    /// Issue 18 item 1: four canaries and a rollback, each with its outcome, although the
    /// Lease only remembers the last.
    #[test]
    fn every_canary_and_rollback_is_rebuilt_from_the_tools_events() {
        let started = |at, image, rev| {
            event(
                at,
                "canary.started",
                &[
                    ("image", image),
                    ("stable-revision", rev),
                    ("stable-image", "app:1"),
                ],
                "started",
            )
        };
        let events = vec![
            started("2026-11-22T09:00:00Z", "app:2", "1"),
            event(
                "2026-11-22T09:01:00Z",
                "canary.aborted",
                &[("outcome", "aborted-by-analysis")],
                "aborted at 50%: errors-5xx 600/min > 10",
            ),
            started("2026-11-22T09:05:00Z", "app:3", "1"),
            event(
                "2026-11-22T09:06:00Z",
                "canary.aborted",
                &[("outcome", "aborted-by-operator")],
                "aborted at 50%: by root",
            ),
            started("2026-11-22T09:10:00Z", "app:4", "1"),
            event(
                "2026-11-22T09:10:30Z",
                "canary.step-passed",
                &[("step", "1/2")],
                "passed",
            ),
            event(
                "2026-11-22T09:12:00Z",
                "rollback.done",
                &[
                    ("from-revision", "2"),
                    ("to-revision", "1"),
                    ("revision", "3"),
                ],
                "rolled back",
            ),
            started("2026-11-22T09:15:00Z", "app:5", "3"),
            event(
                "2026-11-22T09:17:00Z",
                "canary.promoted",
                &[("outcome", "promoted")],
                "promoted app:5",
            ),
        ];
        // An Event of someone else on the same Deployment is not ours.
        let mut other = event("2026-11-22T09:02:00Z", "canary.started", &[], "x");
        other.source = None;
        let mut all = events.clone();
        all.push(other);
        let tool = tool_events(&all, "web");
        assert_eq!(tool.len(), events.len());
        let got = episodes(&tool, None, ts("2026-11-22T09:30:00Z"));
        let lines: Vec<String> = got
            .iter()
            .map(|e| format!("{}: {}", e.title(), e.outcome))
            .collect();
        assert_eq!(
            lines,
            [
                "canary #1 of app:2 (stable at revision 1, app:1): aborted by analysis",
                "canary #2 of app:3 (stable at revision 1, app:1): aborted by the operator (canary abort)",
                "canary #3 of app:4 (stable at revision 1, app:1): interrupted: its driver stopped before recording an end (then the rollback at 09:12:00 UTC)",
                "rollback: rolled back from revision 2 to revision 1 (which became revision 3)",
                "canary #4 of app:5 (stable at revision 3, app:1): promoted",
            ]
        );
        assert_eq!(got[2].steps.len(), 1);
        assert!(got[0].problem && !got[4].problem);
    }
}
