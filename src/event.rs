//! What happened, as a notification destination hears it: a canary started, passed a step,
//! aborted, was promoted or failed to promote; a rollback finished or failed; triage found
//! something; an evidence bundle was written; a person posted an update. Plain data that any
//! feature can build without knowing how or where it is delivered (`notify::Notifier` does that).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::report::Severity;

/// The kinds of event, by the name the config file's `notify.destinations.*.events` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
pub enum EventKind {
    #[serde(rename = "canary.started")]
    CanaryStarted,
    #[serde(rename = "canary.step-passed")]
    CanaryStepPassed,
    #[serde(rename = "canary.aborted")]
    CanaryAborted,
    #[serde(rename = "canary.promoted")]
    CanaryPromoted,
    #[serde(rename = "canary.promotion-failed")]
    CanaryPromotionFailed,
    #[serde(rename = "rollback.done")]
    RollbackDone,
    #[serde(rename = "rollback.failed")]
    RollbackFailed,
    #[serde(rename = "triage.result")]
    TriageResult,
    #[serde(rename = "evidence.written")]
    EvidenceWritten,
    /// `kubectl posthog notify`: a person's status update.
    #[serde(rename = "incident.update")]
    IncidentUpdate,
    /// `kubectl posthog notify --acknowledge`: someone is on it (PagerDuty `acknowledge`).
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
    /// `kubectl posthog notify --resolved`.
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// `kubectl posthog rotate-key` finished (rotated, or reverted to the old key).
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.rotation-failed")]
    KeyRotationFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::CanaryStarted,
        EventKind::CanaryStepPassed,
        EventKind::CanaryAborted,
        EventKind::CanaryPromoted,
        EventKind::CanaryPromotionFailed,
        EventKind::RollbackDone,
        EventKind::RollbackFailed,
        EventKind::TriageResult,
        EventKind::EvidenceWritten,
        EventKind::IncidentUpdate,
        EventKind::IncidentAcknowledged,
        EventKind::IncidentResolved,
        EventKind::KeyRotated,
        EventKind::KeyRotationFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::CanaryStarted => "canary.started",
            EventKind::CanaryStepPassed => "canary.step-passed",
            EventKind::CanaryAborted => "canary.aborted",
            EventKind::CanaryPromoted => "canary.promoted",
            EventKind::CanaryPromotionFailed => "canary.promotion-failed",
            EventKind::RollbackDone => "rollback.done",
            EventKind::RollbackFailed => "rollback.failed",
            EventKind::TriageResult => "triage.result",
            EventKind::EvidenceWritten => "evidence.written",
            EventKind::IncidentUpdate => "incident.update",
            EventKind::IncidentAcknowledged => "incident.acknowledged",
            EventKind::IncidentResolved => "incident.resolved",
            EventKind::KeyRotated => "key.rotated",
            EventKind::KeyRotationFailed => "key.rotation-failed",
        }
    }

    /// The kind named `name`; `canary.*` style wildcards are matched by [`EventKind::matches`].
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether a filter entry (`canary.aborted`, `canary.*`, `*`) selects this kind.
    pub fn matches(self, pattern: &str) -> bool {
        match pattern.strip_suffix(".*") {
            _ if pattern == "*" => true,
            Some(family) => self.name().split('.').next() == Some(family),
            None => self.name() == pattern,
        }
    }

    /// Whether a filter entry names at least one kind (for config validation).
    pub fn is_pattern(pattern: &str) -> bool {
        EventKind::ALL.into_iter().any(|k| k.matches(pattern))
    }
}

/// Where an event leaves the incident: opened (or still open), in progress, or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Something is wrong: PagerDuty `trigger`, Slack "INVESTIGATING".
    Problem,
    /// Work is under way and nothing is wrong yet: Slack "MONITORING"; PagerDuty is not paged.
    Progress,
    /// It is over: PagerDuty `resolve` with the same dedup key, Slack "RESOLVED".
    Recovered,
}

impl Phase {
    /// The runbook template's `Status:` line.
    pub fn status_word(self) -> &'static str {
        match self {
            Phase::Problem => "INVESTIGATING",
            Phase::Progress => "MONITORING",
            Phase::Recovered => "RESOLVED",
        }
    }
}

/// The Deployment an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTarget {
    pub namespace: String,
    pub deployment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl std::fmt::Display for EventTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment/{} -n {}", self.deployment, self.namespace)
    }
}

/// One finding carried with an event (PagerDuty `custom_details`, a Slack line, the webhook body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventFinding {
    pub id: String,
    pub severity: Severity,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

impl EventFinding {
    pub fn of(finding: &crate::report::Finding) -> Self {
        EventFinding {
            id: finding.id.clone(),
            severity: finding.severity,
            title: finding.title.clone(),
            measured: finding.measured.clone(),
        }
    }
}

/// One event. Build it with [`Event::new`] and the builder methods; the runbook's Slack template
/// lines (impact, current action, next update) are optional.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: EventKind,
    pub phase: Phase,
    pub severity: Severity,
    pub target: EventTarget,
    /// One line: what happened.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// A link to the run, the bundle or a dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Names an incident when several run on one Deployment at once (default: one per target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<EventFinding>,
    /// Further facts (`step: 2/3`, `image: …`, `bundle: …`), shown as fields and custom_details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    pub at: jiff::Timestamp,
}

impl Event {
    /// An event of `kind` with its usual phase (see [`Event::default_phase`]).
    pub fn new(
        kind: EventKind,
        severity: Severity,
        target: EventTarget,
        summary: impl Into<String>,
        at: jiff::Timestamp,
    ) -> Self {
        Event {
            kind,
            phase: Event::default_phase(kind),
            severity,
            target,
            summary: summary.into(),
            impact: None,
            current_action: None,
            next_update: None,
            link: None,
            incident: None,
            findings: Vec::new(),
            facts: BTreeMap::new(),
            at,
        }
    }

    /// Aborts and failures open an incident, successes close it, the rest is progress. Triage's
    /// result is a problem unless told otherwise ([`Event::phase`]).
    pub fn default_phase(kind: EventKind) -> Phase {
        match kind {
            EventKind::CanaryAborted
            | EventKind::CanaryPromotionFailed
            | EventKind::RollbackFailed
            | EventKind::TriageResult
            | EventKind::KeyRotationFailed => Phase::Problem,
            EventKind::CanaryPromoted
            | EventKind::RollbackDone
            | EventKind::IncidentResolved
            | EventKind::KeyRotated => Phase::Recovered,
            EventKind::CanaryStarted
            | EventKind::CanaryStepPassed
            | EventKind::EvidenceWritten
            | EventKind::IncidentUpdate
            | EventKind::IncidentAcknowledged => Phase::Progress,
        }
    }

    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    pub fn impact(mut self, text: impl Into<String>) -> Self {
        self.impact = Some(text.into());
        self
    }

    pub fn current_action(mut self, text: impl Into<String>) -> Self {
        self.current_action = Some(text.into());
        self
    }

    pub fn next_update(mut self, text: impl Into<String>) -> Self {
        self.next_update = Some(text.into());
        self
    }

    pub fn link(mut self, url: impl Into<String>) -> Self {
        self.link = Some(url.into());
        self
    }

    pub fn incident(mut self, id: impl Into<String>) -> Self {
        self.incident = Some(id.into());
        self
    }

    pub fn fact(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.insert(name.into(), value.into());
        self
    }

    pub fn findings<'a>(
        mut self,
        findings: impl IntoIterator<Item = &'a crate::report::Finding>,
    ) -> Self {
        self.findings = findings.into_iter().map(EventFinding::of).collect();
        self
    }

    /// The key every update of this incident shares: PagerDuty's `dedup_key` (≤ 255), the
    /// Slack thread's name. Stable across runs: the context, namespace, Deployment and incident.
    pub fn incident_key(&self) -> String {
        let mut key = String::from("kubectl-posthog");
        if let Some(context) = &self.target.context {
            key.push('/');
            key.push_str(context);
        }
        key.push('/');
        key.push_str(&self.target.namespace);
        key.push('/');
        key.push_str(&self.target.deployment);
        if let Some(incident) = &self.incident {
            key.push('/');
            key.push_str(incident);
        }
        truncate_chars(&key, 255)
    }
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> EventTarget {
        EventTarget {
            namespace: "prod".into(),
            deployment: "posthog-integration".into(),
            context: Some("kind-prod".into()),
        }
    }

    #[test]
    fn names_round_trip_and_patterns_select_families() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
        assert!(EventKind::CanaryAborted.matches("canary.*"));
        assert!(!EventKind::RollbackDone.matches("canary.*"));
        assert!(EventKind::RollbackDone.matches("*"));
        assert!(EventKind::is_pattern("rollback.*"));
        assert!(!EventKind::is_pattern("canary.abort"));
        assert!(!EventKind::is_pattern("deploy.*"));
    }

    #[test]
    fn the_incident_key_is_stable_and_bounded() {
        let at: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let abort = Event::new(EventKind::CanaryAborted, Severity::P1, target(), "x", at);
        let promote = Event::new(EventKind::CanaryPromoted, Severity::P4, target(), "y", at);
        assert_eq!(abort.incident_key(), promote.incident_key());
        assert_eq!(
            abort.incident_key(),
            "kubectl-posthog/kind-prod/prod/posthog-integration"
        );
        assert_ne!(
            abort.clone().incident("INC-7").incident_key(),
            abort.incident_key()
        );
        let long = abort.incident("x".repeat(400));
        assert_eq!(long.incident_key().chars().count(), 255);
        assert_eq!(promote.phase, Phase::Recovered);
    }
}
