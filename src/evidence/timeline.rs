//! The incident timeline, merged from what the cluster remembers: rollout revisions (ReplicaSet
//! creation), the canary's state annotation, Deployment conditions, events and container
//! terminations, plus the triage itself. Pure: built from objects, tested with objects.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use serde::Serialize;

use super::history::{Episode, EpisodeKind, episodes, is_tool_event, tool_events};
use super::objects::{RevisionRow, event_time};
use crate::canary::state::CanaryState;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: jiff::Timestamp,
    /// `rollout`, `canary`, `deployment`, `event`, `pod`, `triage`.
    pub source: &'static str,
    pub text: String,
    /// A sign of trouble (a Warning event, a crash, a failed condition, an aborted canary).
    pub problem: bool,
}

pub struct TimelineInputs<'a> {
    /// The stable Deployment's name (this tool's Events are about it).
    pub stable: &'a str,
    pub history: &'a [RevisionRow],
    pub deployments: Vec<&'a Deployment>,
    /// The canary state recorded in the stable's Lease.
    pub canary: Option<&'a CanaryState>,
    pub events: &'a [Event],
    pub pods: Vec<&'a Pod>,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
}

/// The canaries and rollbacks of the window (see [`super::history`]), oldest first.
pub fn window_episodes(inputs: &TimelineInputs) -> Vec<Episode> {
    let mut all = episodes(
        &tool_events(inputs.events, inputs.stable),
        inputs.canary,
        inputs.end,
    );
    all.retain(|e| e.ended.unwrap_or(inputs.end) >= inputs.start && e.started <= inputs.end);
    all
}

/// Everything in `[start, end]`, oldest first.
pub fn timeline(inputs: &TimelineInputs) -> Vec<TimelineEntry> {
    let mut entries = Vec::new();
    for row in inputs.history {
        if let Some(at) = row.created {
            // The number it had then (issue 18 item 2); `rollout undo` renumbers it later.
            let first = row.first_revision();
            let renumbered = if first != row.revision {
                format!(" [revision {} since a rollback]", row.revision)
            } else {
                String::new()
            };
            entries.push(TimelineEntry {
                at,
                source: "rollout",
                text: format!(
                    "deployment/{} revision {first} ({}){}{renumbered}",
                    row.deployment,
                    row.images.join(", "),
                    row.change_cause
                        .as_ref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
                problem: false,
            });
        }
    }
    let episodes = window_episodes(inputs);
    for episode in &episodes {
        episode_entries(episode, &mut entries);
    }
    // The Lease's state alone, when no Event of this tool recorded that canary (older versions).
    if let Some(state) = inputs.canary.filter(|s| {
        !episodes.iter().any(|e| {
            e.kind == EpisodeKind::Canary
                && s.started_at.duration_since(e.started).abs().as_secs() <= 10
        })
    }) {
        canary_entries(state, &mut entries);
    }
    for deployment in &inputs.deployments {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        for condition in deployment
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
        {
            let Some(at) = condition.last_transition_time.as_ref().map(|t| t.0) else {
                continue;
            };
            let problem = condition.status != "True"
                || condition.reason.as_deref() == Some("ProgressDeadlineExceeded");
            entries.push(TimelineEntry {
                at,
                source: "deployment",
                text: format!(
                    "deployment/{name} {}={} ({}){}",
                    condition.type_,
                    condition.status,
                    condition.reason.as_deref().unwrap_or("-"),
                    condition
                        .message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
                problem,
            });
        }
    }
    for event in inputs.events.iter().filter(|e| !is_tool_event(e)) {
        let Some(at) = event_time(event) else {
            continue;
        };
        let object = format!(
            "{}/{}",
            event
                .involved_object
                .kind
                .as_deref()
                .unwrap_or("object")
                .to_ascii_lowercase(),
            event.involved_object.name.as_deref().unwrap_or("?")
        );
        let count = event
            .count
            .filter(|c| *c > 1)
            .map(|c| format!(" (×{c})"))
            .unwrap_or_default();
        let kind = event.type_.as_deref().unwrap_or("Normal");
        // Routine pod and ReplicaSet chatter (Scheduled, Pulled, Started, SuccessfulCreate)
        // stays in k8s/events.yaml; the timeline keeps warnings and what Deployments did.
        let involved_kind = event.involved_object.kind.as_deref().unwrap_or("");
        if kind != "Warning" && !matches!(involved_kind, "Deployment" | "HorizontalPodAutoscaler") {
            continue;
        }
        entries.push(TimelineEntry {
            at,
            source: "event",
            text: format!(
                "{kind} {} {object}: {}{count}",
                event.reason.as_deref().unwrap_or("-"),
                event.message.as_deref().unwrap_or("").trim()
            ),
            problem: kind == "Warning",
        });
    }
    for pod in &inputs.pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        for status in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            let Some(t) = status
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
            else {
                continue;
            };
            let Some(at) = t.finished_at.as_ref().map(|f| f.0) else {
                continue;
            };
            entries.push(TimelineEntry {
                at,
                source: "pod",
                text: format!(
                    "pod/{name} container {} terminated: {} (exit {}), {} restart{} so far",
                    status.name,
                    t.reason.as_deref().unwrap_or("unknown"),
                    t.exit_code,
                    status.restart_count,
                    crate::report::plural(status.restart_count as usize)
                ),
                problem: true,
            });
        }
    }
    entries.retain(|e| e.at >= inputs.start && e.at <= inputs.end);
    entries.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.text.cmp(&b.text)));
    entries
}

/// `": detail"`, or nothing for no detail.
fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// A canary's start, passed steps and end, or a rollback.
fn episode_entries(episode: &Episode, entries: &mut Vec<TimelineEntry>) {
    let title = episode.title();
    if episode.kind == EpisodeKind::Rollback {
        entries.push(TimelineEntry {
            at: episode.started,
            source: "rollback",
            text: format!("{}{}", episode.outcome, detail_suffix(&episode.detail)),
            problem: episode.problem,
        });
        return;
    }
    entries.push(TimelineEntry {
        at: episode.started,
        source: "canary",
        text: format!("{title} started"),
        problem: false,
    });
    for (at, step) in &episode.steps {
        entries.push(TimelineEntry {
            at: *at,
            source: "canary",
            text: format!("canary #{} {step}", episode.number),
            problem: false,
        });
    }
    entries.push(TimelineEntry {
        at: episode.ended.unwrap_or(episode.started),
        source: "canary",
        text: format!(
            "canary #{} {}{}",
            episode.number,
            episode.outcome,
            detail_suffix(&episode.detail)
        ),
        problem: episode.problem,
    });
}

/// The canary's state, recorded by `kubectl posthog canary` in the stable's Lease.
fn canary_entries(state: &CanaryState, entries: &mut Vec<TimelineEntry>) {
    let images: Vec<String> = state.images.values().cloned().collect();
    entries.push(TimelineEntry {
        at: state.started_at,
        source: "canary",
        text: format!(
            "canary {} started: {} (steps {})",
            state.canary_name,
            images.join(", "),
            state
                .steps
                .iter()
                .map(|s| format!("{}%", s.weight))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        problem: false,
    });
    if let Some(step) = state.current() {
        entries.push(TimelineEntry {
            at: state.step_started_at,
            source: "canary",
            text: format!(
                "canary step {} at {}% ({} canary, {} stable pods)",
                step.number, step.weight, step.canary_replicas, step.stable_replicas
            ),
            problem: false,
        });
    }
    let phase = state.phase.label();
    entries.push(TimelineEntry {
        at: state.heartbeat,
        source: "canary",
        text: format!(
            "canary {phase}{}",
            state
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        problem: matches!(phase, "aborting" | "aborted" | "held"),
    });
}

/// When trouble was first seen in the window, for the postmortem's duration.
pub fn first_problem(entries: &[TimelineEntry]) -> Option<jiff::Timestamp> {
    entries.iter().find(|e| e.problem).map(|e| e.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn entries_merge_sorted_within_the_window_and_problems_are_flagged() {
        let history = vec![RevisionRow {
            deployment: "web".into(),
            revision: 4,
            replica_set: "web-abc".into(),
            created: Some(ts("2026-11-22T09:30:00Z")),
            images: vec!["app:2".into()],
            replicas: 2,
            ready: 0,
            change_cause: Some("release 2".into()),
            earlier_revisions: vec![],
        }];
        let event: Event = serde_json::from_value(json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "web-abc-1"},
            "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
            "count": 5, "lastTimestamp": "2026-11-22T09:35:00Z"
        }))
        .unwrap();
        let old: Event = serde_json::from_value(json!({
            "metadata": {"name": "o"}, "involvedObject": {"kind": "Pod", "name": "x"},
            "type": "Normal", "reason": "Pulled", "lastTimestamp": "2026-11-22T07:00:00Z"
        }))
        .unwrap();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-abc-1"},
            "status": {"containerStatuses": [{"name": "app", "ready": false, "restartCount": 5, "image": "", "imageID": "",
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-22T09:34:00Z"}}}]}
        }))
        .unwrap();
        let events = [old, event];
        let entries = timeline(&TimelineInputs {
            stable: "web",
            history: &history,
            deployments: vec![],
            canary: None,
            events: &events,
            pods: vec![&pod],
            start: ts("2026-11-22T09:00:00Z"),
            end: ts("2026-11-22T10:00:00Z"),
        });
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "deployment/web revision 4 (app:2): release 2",
                "pod/web-abc-1 container app terminated: OOMKilled (exit 137), 5 restarts so far",
                "Warning BackOff pod/web-abc-1: Back-off restarting failed container (×5)",
            ]
        );
        assert_eq!(first_problem(&entries), Some(ts("2026-11-22T09:34:00Z")));
    }

    /// Issue 18 item 2: `18:42 … revision 6 (1.6.0)` for what was revision 4 at 18:42.
    #[test]
    fn a_revision_shows_the_number_it_had_when_it_was_created() {
        let row = |revision, earlier: Vec<u64>, image: &str, at| RevisionRow {
            deployment: "web".into(),
            revision,
            replica_set: format!("web-{revision}"),
            created: Some(ts(at)),
            images: vec![image.into()],
            replicas: 2,
            ready: 2,
            change_cause: None,
            earlier_revisions: earlier,
        };
        let history = vec![
            row(5, vec![], "app:1.7.0", "2026-11-22T18:50:00Z"),
            row(6, vec![4], "app:1.6.0", "2026-11-22T18:42:00Z"),
        ];
        let entries = timeline(&TimelineInputs {
            stable: "web",
            history: &history,
            deployments: vec![],
            canary: None,
            events: &[],
            pods: vec![],
            start: ts("2026-11-22T18:00:00Z"),
            end: ts("2026-11-22T19:00:00Z"),
        });
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "deployment/web revision 4 (app:1.6.0) [revision 6 since a rollback]",
                "deployment/web revision 5 (app:1.7.0)",
            ]
        );
    }

    #[test]
    fn the_canary_state_annotation_becomes_timeline_entries() {
        use crate::canary::plan::CanaryStep;
        use crate::canary::state::{CanaryState, Phase, STATE_VERSION};
        let step = |number, weight| CanaryStep {
            number,
            weight,
            canary_replicas: weight / 10,
            stable_replicas: 10 - weight / 10,
            pause: None,
        };
        let state = CanaryState {
            version: STATE_VERSION,
            phase: Phase::Aborted,
            step: 1,
            steps: vec![step(1, 10), step(2, 50), step(3, 100)],
            images: [("app".to_string(), "app:2".to_string())].into(),
            stable_images: [("app".to_string(), "app:1".to_string())].into(),
            stable_replicas: 10,
            canary_name: "web-canary".into(),
            started_at: ts("2026-11-22T09:40:00Z"),
            step_started_at: ts("2026-11-22T09:50:00Z"),
            pause_started_at: None,
            interval_secs: 30,
            heartbeat: ts("2026-11-22T09:52:00Z"),
            driver: "host/1".into(),
            streaks: Default::default(),
            last_analysis: vec![],
            reason: Some("errors-5xx 14/min > 10".into()),
            options: serde_json::Value::Null,
            stable_generation: None,
            released: false,
            autoscaler: None,
        };
        let entries = timeline(&TimelineInputs {
            stable: "web",
            history: &[],
            deployments: vec![],
            canary: Some(&state),
            events: &[],
            pods: vec![],
            start: ts("2026-11-22T09:00:00Z"),
            end: ts("2026-11-22T10:00:00Z"),
        });
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "canary web-canary started: app:2 (steps 10% → 50% → 100%)",
                "canary step 2 at 50% (5 canary, 5 stable pods)",
                "canary aborted: errors-5xx 14/min > 10",
            ]
        );
        assert_eq!(first_problem(&entries), Some(ts("2026-11-22T09:52:00Z")));
    }
}
