//! What `notify` and every `--notify` report says of the deliveries: a warning per failed
//! one, and the `notify` command's own report.

use crate::event::Event;
use crate::report::{Finding, Notification, NotificationOutcome, Report, Severity, Status, Step};

/// A warning per failed delivery; nothing for the rest (they are in `notifications`).
pub fn delivery_findings(notifications: &[Notification]) -> Vec<Finding> {
    notifications
        .iter()
        .filter(|n| n.outcome == NotificationOutcome::Failed)
        .map(|n| {
            Finding::new(
                "notify.delivery",
                Step::Documentation,
                Severity::P3,
                Status::Warn,
                &format!("{} was not delivered to {} ({})", n.event, n.destination, n.kind),
            )
            .measured(n.detail.clone().unwrap_or_default())
            .expected("accepted by the receiver within the destination's timeout")
            .subject(n.destination.clone())
            .remediation(format!(
                "check notify.destinations.{} and its credential; re-send with `kubectl posthog notify --notify {}`",
                n.destination, n.destination
            ))
        })
        .collect()
}

/// The `details` of `kubectl posthog notify`: the event it sent.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifyDetails {
    pub event: Event,
}

impl crate::report::CommandDetails for NotifyDetails {
    const COMMAND: &'static str = "notify";
}

/// `kubectl posthog notify`'s report: a finding per destination (sent passes, a failure fails
/// the verdict: delivering is this command's whole job), the event in `details`.
pub fn notify_report(
    target: crate::report::ReportTarget,
    event: &Event,
    notifications: Vec<Notification>,
    now: jiff::Timestamp,
) -> Report {
    let findings: Vec<Finding> = notifications
        .iter()
        .map(|n| {
            let (status, title) = match n.outcome {
                NotificationOutcome::Sent => (
                    Status::Pass,
                    format!("{} sent to {}", n.event, n.destination),
                ),
                NotificationOutcome::Failed => (
                    Status::Fail,
                    format!("{} was not delivered to {}", n.event, n.destination),
                ),
                NotificationOutcome::Skipped => (
                    Status::Skipped,
                    format!("{} not sent to {}", n.event, n.destination),
                ),
                NotificationOutcome::DryRun => (
                    Status::Pass,
                    format!("{} would be sent to {} (dry run)", n.event, n.destination),
                ),
            };
            let mut finding = Finding::new(
                "notify.delivery",
                Step::Documentation,
                Severity::P3,
                status,
                &title,
            )
            .subject(n.destination.clone())
            .measured(match &n.detail {
                Some(detail) => format!(
                    "{} ({}, {} attempt{})",
                    detail,
                    n.kind,
                    n.attempts,
                    if n.attempts == 1 { "" } else { "s" }
                ),
                None => format!(
                    "{}, {} attempt{}",
                    n.kind,
                    n.attempts,
                    if n.attempts == 1 { "" } else { "s" }
                ),
            });
            if let Some(message) = &n.message {
                finding =
                    finding.evidence(serde_json::to_string_pretty(message).unwrap_or_default());
            }
            finding
        })
        .collect();
    let failed = notifications
        .iter()
        .filter(|n| n.outcome == NotificationOutcome::Failed)
        .count();
    let (result, summary) = match failed {
        0 => (
            crate::report::VerdictResult::Pass,
            format!(
                "{} delivered to {} destination{}",
                event.kind.name(),
                notifications.len(),
                if notifications.len() == 1 { "" } else { "s" }
            ),
        ),
        n => (
            crate::report::VerdictResult::Fail,
            format!("{n} of {} deliveries failed", notifications.len()),
        ),
    };
    let verdict = crate::report::Verdict::decided(result, summary, &findings);
    let mut report =
        Report::new("notify", target, verdict, findings, now).with_details(&NotifyDetails {
            event: event.clone(),
        });
    report.notifications = notifications;
    report
}
