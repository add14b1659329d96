//! The events `triage` and `evidence` send with `--notify`: triage's result (a problem at the
//! severity found, or a recovery when the tree lands on "resolved or intermittent"), and the
//! bundle written.

use crate::event::{Event, EventKind, EventTarget, Phase};
use crate::report::{Report, Severity, Status};

use super::signals::Branch;
use super::triage::TriageOutcome;
use super::triage_report::summary;

/// `triage.result`: the severity and leaf found, the first action as the current action, the
/// failing findings.
pub fn triage_event(target: EventTarget, outcome: &TriageOutcome, report: &Report) -> Event {
    let phase = match outcome.branch {
        Branch::ResolvedOrIntermittent => Phase::Recovered,
        _ => Phase::Problem,
    };
    let mut event = Event::new(
        EventKind::TriageResult,
        outcome.severity,
        target,
        format!("triage: {}", summary(outcome)),
        report.generated_at,
    )
    .phase(phase)
    .fact("decision", outcome.conclusion)
    .findings(
        report
            .findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Warn)),
    );
    if let Some(action) = outcome.actions.iter().find(|a| !a.already_done) {
        event = event.current_action(match &action.command {
            Some(command) => format!("{}: `{command}`", action.title),
            None => action.title.clone(),
        });
    }
    event
}

/// `evidence.written`: where the bundle is and how big.
pub fn bundle_event(target: EventTarget, report: &Report) -> Event {
    let location = report
        .findings
        .iter()
        .find(|f| f.id == "evidence.bundle")
        .and_then(|f| f.measured.clone())
        .unwrap_or_default();
    Event::new(
        EventKind::EvidenceWritten,
        Severity::P4,
        target,
        format!("evidence bundle written: {location}"),
        report.generated_at,
    )
    .current_action("collecting evidence for the postmortem")
    .fact("bundle", location)
}
