//! What each destination is sent, as pure functions of the event: the runbook's Slack template
//! as Block Kit, the PagerDuty Events API v2 body, the generic webhook body; and which events a
//! destination wants. No I/O here, so every message is tested as data.

use serde_json::{Value, json};

use crate::event::{Event, Phase, truncate_chars};
use crate::report::Severity;

/// The runbook's "Communication Templates → Internal (Slack)" title line.
pub const TEMPLATE_TITLE: &str = "PostHog Integration";

/// Slack's limits: a header's text, a section's text, a field's text, fields per section.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_MAX: usize = 10;
/// Findings listed in a Slack message (the rest are counted).
const FINDINGS_SHOWN: usize = 8;

/// What a destination receives: its event filter and least severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Patterns (`canary.aborted`, `canary.*`, `*`); empty: every event.
    pub events: Vec<String>,
    pub min_severity: Severity,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            events: Vec::new(),
            min_severity: Severity::P4,
        }
    }
}

/// Why an event is not delivered, or `None` when it is.
pub fn left_out(filter: &Filter, event: &Event) -> Option<String> {
    if !filter.events.is_empty() && !filter.events.iter().any(|p| event.kind.matches(p)) {
        return Some(format!(
            "{} is not in this destination's events ({})",
            event.kind.name(),
            filter.events.join(", ")
        ));
    }
    // A recovery closes what an earlier, severe enough event opened, whatever its own severity.
    if event.phase != Phase::Recovered && event.severity > filter.min_severity {
        return Some(format!(
            "{} is below this destination's minSeverity {}",
            event.severity.label(),
            filter.min_severity.label()
        ));
    }
    None
}

fn emoji(event: &Event) -> &'static str {
    if event.phase == Phase::Recovered {
        return "✅";
    }
    match event.severity {
        Severity::P1 => "🔴",
        Severity::P2 => "🟠",
        Severity::P3 => "🟡",
        Severity::P4 => "🔵",
    }
}

/// `🔴 P1 INCIDENT: PostHog Integration`, `🔵 P4 UPDATE: …`, `✅ RESOLVED: …`.
pub fn title(event: &Event) -> String {
    let word = match event.phase {
        Phase::Problem => format!("{} INCIDENT", event.severity.label()),
        Phase::Progress => format!("{} UPDATE", event.severity.label()),
        Phase::Recovered => "RESOLVED".to_string(),
    };
    format!("{} {word}: {TEMPLATE_TITLE}", emoji(event))
}

/// The template's `Impact:` line: the event's, else the severity's definition.
pub fn impact(event: &Event) -> String {
    match (&event.impact, event.phase) {
        (Some(text), _) => text.clone(),
        (None, Phase::Recovered) => "none: recovered".to_string(),
        (None, _) => event.severity.definition().to_string(),
    }
}

/// The template's `Next update:` line: the event's, else within the severity's response time.
pub fn next_update(event: &Event) -> String {
    if let Some(text) = &event.next_update {
        return text.clone();
    }
    if event.phase == Phase::Recovered {
        return "none: resolved".to_string();
    }
    let minutes = match event.severity {
        Severity::P1 => 15,
        Severity::P2 => 60,
        Severity::P3 => 240,
        Severity::P4 => return "next business day".to_string(),
    };
    let at = event
        .at
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .unwrap_or(event.at);
    format!("by {} UTC", at.strftime("%H:%M"))
}

/// The runbook's Slack template, filled in: the plain `text` (notifications, and the fallback).
pub fn slack_text(event: &Event, commander: Option<&str>) -> String {
    let mut lines = vec![
        title(event),
        format!("Status: {}", event.phase.status_word()),
        format!("Impact: {}", impact(event)),
        format!(
            "Current action: {}",
            event.current_action.as_deref().unwrap_or(&event.summary)
        ),
        format!("Next update: {}", next_update(event)),
    ];
    if let Some(commander) = commander {
        lines.push(format!("Incident commander: {commander}"));
    }
    lines.push(format!("Target: {}", event.target));
    truncate_chars(&lines.join("\n"), SECTION_MAX)
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate_chars(&format!("*{name}*\n{value}"), FIELD_MAX)})
}

/// The Block Kit message: a header with the template's title, the summary, the template's lines
/// as fields (severity, status, impact, current action, next update, commander, target), the
/// findings, then a context line with the link, the event and the time. `thread_ts` threads it.
pub fn slack_message(event: &Event, commander: Option<&str>) -> Value {
    let mut fields = vec![
        field("Severity", event.severity.label()),
        field("Status", event.phase.status_word()),
        field("Impact", &impact(event)),
        field(
            "Current action",
            event.current_action.as_deref().unwrap_or(&event.summary),
        ),
        field("Next update", &next_update(event)),
        field("Target", &format!("`{}`", event.target)),
    ];
    if let Some(commander) = commander {
        fields.push(field("Incident commander", commander));
    }
    for (name, value) in &event.facts {
        fields.push(field(name, value));
    }
    fields.truncate(FIELDS_MAX);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate_chars(&title(event), HEADER_MAX), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&event.summary, SECTION_MAX)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if !event.findings.is_empty() {
        let mut lines: Vec<String> = event
            .findings
            .iter()
            .take(FINDINGS_SHOWN)
            .map(|f| {
                let measured = f
                    .measured
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                format!(
                    "• *{}* `{}` {}{measured}",
                    f.severity.label(),
                    f.id,
                    f.title
                )
            })
            .collect();
        if event.findings.len() > FINDINGS_SHOWN {
            lines.push(format!(
                "… and {} more",
                event.findings.len() - FINDINGS_SHOWN
            ));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&lines.join("\n"), SECTION_MAX)}}));
    }
    let mut context = Vec::new();
    if let Some(link) = &event.link {
        context.push(format!("<{link}|details>"));
    }
    context.push(format!("`{}`", event.kind.name()));
    context.push(event.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
    context.push(format!("kubectl-posthog {}", env!("CARGO_PKG_VERSION")));
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]}),
    );
    json!({"text": slack_text(event, commander), "blocks": blocks})
}

/// PagerDuty's severity for the runbook's: P1 critical, P2 error, P3 warning, P4 info.
pub fn pagerduty_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::P1 => "critical",
        Severity::P2 => "error",
        Severity::P3 => "warning",
        Severity::P4 => "info",
    }
}

/// `trigger` for a problem, `resolve` for a recovery; progress pages nobody (`None`).
pub fn pagerduty_action(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Problem => Some("trigger"),
        Phase::Recovered => Some("resolve"),
        Phase::Progress => None,
    }
}

/// The Events API v2 body (`POST /v2/enqueue`). `dedup_key` is the incident's key, so a later
/// recovery resolves the alert a problem opened, in any run.
pub fn pagerduty_event(event: &Event, routing_key: &str) -> Option<Value> {
    let action = match event.kind {
        crate::event::EventKind::IncidentAcknowledged => "acknowledge",
        _ => pagerduty_action(event.phase)?,
    };
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": event.incident_key(),
    });
    if action == "trigger" {
        let mut details = serde_json::Map::new();
        details.insert("event".into(), json!(event.kind.name()));
        details.insert("status".into(), json!(event.phase.status_word()));
        details.insert("impact".into(), json!(impact(event)));
        if let Some(action) = &event.current_action {
            details.insert("current_action".into(), json!(action));
        }
        for (name, value) in &event.facts {
            details.insert(name.clone(), json!(value));
        }
        if !event.findings.is_empty() {
            details.insert("findings".into(), json!(event.findings));
        }
        body["payload"] = json!({
            "summary": truncate_chars(&format!("{} {}: {}", event.severity.label(), event.target, event.summary), 1024),
            "source": format!("{}/{}", event.target.namespace, event.target.deployment),
            "severity": pagerduty_severity(event.severity),
            "timestamp": event.at.to_string(),
            "component": event.target.deployment,
            "group": event.target.namespace,
            "class": event.kind.name(),
            "custom_details": details,
        });
        if let Some(link) = &event.link {
            body["links"] = json!([{"href": link, "text": "details"}]);
        }
    }
    Some(body)
}

/// The generic webhook's body: the event as documented in `docs/report-schema.md`, with its
/// incident key and the Slack template's text.
pub fn webhook_body(event: &Event, commander: Option<&str>) -> Value {
    let mut body = serde_json::to_value(event).unwrap_or_default();
    body["event"] = json!(event.kind.name());
    body["incidentKey"] = json!(event.incident_key());
    body["text"] = json!(slack_text(event, commander));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, EventTarget};

    fn event(kind: EventKind, severity: Severity) -> Event {
        Event::new(
            kind,
            severity,
            EventTarget {
                namespace: "prod".into(),
                deployment: "posthog-integration".into(),
                context: None,
            },
            "canary aborted at step 2/3: 5xx 14/min > 10/min",
            "2026-12-01T10:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn slack_text_is_the_runbook_template_filled_in() {
        let text = slack_text(
            &event(EventKind::CanaryAborted, Severity::P1),
            Some("@oncall"),
        );
        assert_eq!(
            text,
            "🔴 P1 INCIDENT: PostHog Integration
Status: INVESTIGATING
Impact: complete outage, respond < 15 min
Current action: canary aborted at step 2/3: 5xx 14/min > 10/min
Next update: by 10:15 UTC
Incident commander: @oncall
Target: deployment/posthog-integration -n prod"
        );
        let resolved = slack_text(&event(EventKind::CanaryPromoted, Severity::P4), None);
        assert!(
            resolved.starts_with("✅ RESOLVED: PostHog Integration\nStatus: RESOLVED\n"),
            "{resolved}"
        );
    }

    #[test]
    fn block_kit_respects_slacks_limits() {
        let mut e = event(EventKind::TriageResult, Severity::P2).link("https://ci.example/run/7");
        e.summary = "x".repeat(5000);
        for i in 0..20 {
            e = e.fact(format!("fact{i:02}"), "y".repeat(3000));
        }
        let message = slack_message(&e, None);
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
        let fields = blocks[2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 10);
        assert!(
            fields
                .iter()
                .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000)
        );
        assert!(
            message["text"]
                .as_str()
                .unwrap()
                .starts_with("🟠 P2 INCIDENT")
        );
        let context = blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            context.contains("<https://ci.example/run/7|details>"),
            "{context}"
        );
    }

    #[test]
    fn pagerduty_triggers_problems_resolves_recoveries_and_pages_no_progress() {
        let abort =
            pagerduty_event(&event(EventKind::CanaryAborted, Severity::P1), "R0UTING").unwrap();
        assert_eq!(abort["event_action"], "trigger");
        assert_eq!(abort["payload"]["severity"], "critical");
        assert_eq!(
            abort["dedup_key"],
            "kubectl-posthog/prod/posthog-integration"
        );
        assert_eq!(
            abort["payload"]["custom_details"]["event"],
            "canary.aborted"
        );
        let promote =
            pagerduty_event(&event(EventKind::CanaryPromoted, Severity::P4), "R0UTING").unwrap();
        assert_eq!(promote["event_action"], "resolve");
        assert_eq!(promote["dedup_key"], abort["dedup_key"]);
        assert!(promote.get("payload").is_none());
        assert!(pagerduty_event(&event(EventKind::CanaryStarted, Severity::P4), "R").is_none());
        let ack =
            pagerduty_event(&event(EventKind::IncidentAcknowledged, Severity::P1), "R").unwrap();
        assert_eq!(ack["event_action"], "acknowledge");
        assert_eq!(ack["dedup_key"], abort["dedup_key"]);
        for (severity, name) in [
            (Severity::P1, "critical"),
            (Severity::P2, "error"),
            (Severity::P3, "warning"),
            (Severity::P4, "info"),
        ] {
            assert_eq!(pagerduty_severity(severity), name);
        }
    }

    #[test]
    fn filters_choose_events_and_severity_but_let_recoveries_through() {
        let filter = Filter {
            events: vec!["canary.*".into()],
            min_severity: Severity::P2,
        };
        assert_eq!(
            left_out(&filter, &event(EventKind::CanaryAborted, Severity::P1)),
            None
        );
        assert!(
            left_out(&filter, &event(EventKind::CanaryAborted, Severity::P3))
                .unwrap()
                .contains("minSeverity P2")
        );
        assert!(
            left_out(&filter, &event(EventKind::RollbackDone, Severity::P4))
                .unwrap()
                .contains("rollback.done is not")
        );
        assert_eq!(
            left_out(&filter, &event(EventKind::CanaryPromoted, Severity::P4)),
            None
        );
        assert_eq!(
            left_out(
                &Filter::default(),
                &event(EventKind::EvidenceWritten, Severity::P4)
            ),
            None
        );
    }
}
