//! The bundle's documents people read — `triage.md`, `postmortem.md`, `communication.md` — and
//! the PostHog side as it answered (`posthog/status.json`, `posthog/health.json`).

use k8s_openapi::api::core::v1::Event;

use super::bundle::Bundle;
use super::facts::TriageFacts;
use super::manifest::Missing;
use super::objects::RevisionRow;
use super::postmortem::{PostmortemInputs, communication, postmortem};
use super::redact::Redactor;
use super::timeline::{TimelineInputs, timeline, window_episodes};
use super::triage::{Thresholds, TriageOutcome};
use super::triage_report::{triage_markdown, triage_report};
use super::workload::Workload;
use crate::error::Result;
use crate::report::{FailOn, ReportTarget};

pub struct DocumentInputs<'a> {
    pub workload: &'a Workload,
    pub namespace: &'a str,
    pub context: Option<&'a str>,
    pub facts: &'a TriageFacts,
    pub outcome: &'a TriageOutcome,
    pub thresholds: &'a Thresholds,
    pub history: &'a [RevisionRow],
    pub events: &'a [Event],
    /// The alert queries' answers over the window, for the first breaching sample.
    pub ranges: &'a super::metrics_files::Ranges,
    pub start: jiff::Timestamp,
    pub now: jiff::Timestamp,
}

/// What the documents were written from, for `index.html`.
pub struct DocumentsWritten {
    pub timeline: Vec<super::timeline::TimelineEntry>,
    pub episodes: Vec<super::history::Episode>,
    pub detected: Option<super::detect::Detected>,
}

pub fn write_documents(
    bundle: &Bundle,
    redactor: &Redactor,
    inputs: &DocumentInputs,
) -> Result<DocumentsWritten> {
    let workload = inputs.workload;
    let target = ReportTarget::deployment(workload.name(), Some(inputs.namespace), inputs.context);
    let report = triage_report(
        target,
        inputs.facts,
        inputs.outcome,
        inputs.thresholds,
        FailOn::P2,
        &[],
        inputs.now,
    );
    bundle.add_text(
        "triage.md",
        &triage_markdown(inputs.facts, inputs.outcome, &report),
        redactor,
        0,
    )?;
    let deployments: Vec<_> = std::iter::once(&workload.deployment)
        .chain(workload.canary.as_ref())
        .collect();
    let timeline_inputs = TimelineInputs {
        stable: workload.name(),
        history: inputs.history,
        deployments,
        canary: workload.canary_state.as_ref(),
        events: inputs.events,
        pods: workload.pods.iter().map(|(p, _)| p).collect(),
        start: inputs.start,
        end: inputs.now,
    };
    let entries = timeline(&timeline_inputs);
    let episodes = window_episodes(&timeline_inputs);
    let answered: Vec<&super::metrics::RangeResult> = match inputs.ranges {
        Ok(results) => results.iter().filter_map(|r| r.as_ref().ok()).collect(),
        Err(_) => Vec::new(),
    };
    let detected = super::detect::detected(
        super::detect::first_breach(&answered, inputs.thresholds),
        inputs
            .facts
            .log_errors
            .as_ref()
            .ok()
            .and_then(|l| l.first_error_at),
        &entries,
        inputs.start,
    );
    let pm = PostmortemInputs {
        deployment: workload.name(),
        namespace: inputs.namespace,
        outcome: inputs.outcome,
        timeline: &entries,
        detected: detected.as_ref().map(|d| d.at),
        detected_by: detected.as_ref().map(|d| d.what.clone()),
        episodes: &episodes,
        now: inputs.now,
        window_start: inputs.start,
    };
    bundle.add_text("postmortem.md", &postmortem(&pm), redactor, 0)?;
    bundle.add_text("communication.md", &communication(&pm), redactor, 0)?;
    Ok(DocumentsWritten {
        timeline: entries,
        episodes,
        detected,
    })
}

/// The status page and the health endpoint as they answered; what did not answer is missing.
pub fn write_posthog(
    bundle: &Bundle,
    redactor: &Redactor,
    facts: &TriageFacts,
) -> Result<Vec<Missing>> {
    let mut missing = Vec::new();
    match &facts.status_page {
        Ok(view) => bundle.add_text(
            "posthog/status.json",
            &serde_json::to_string_pretty(view).unwrap_or_default(),
            redactor,
            0,
        )?,
        Err(reason) => missing.push(Missing::new("status-page", reason.clone())),
    }
    match &facts.health {
        Ok(health) => bundle.add_text(
            "posthog/health.json",
            &serde_json::to_string_pretty(health).unwrap_or_default(),
            redactor,
            0,
        )?,
        Err(reason) => missing.push(Missing::new("health", reason.clone())),
    }
    if let Err(reason) = &facts.log_errors {
        missing.push(Missing::new("triage/log-errors", reason.clone()));
    }
    Ok(missing)
}
