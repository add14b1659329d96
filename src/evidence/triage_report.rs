//! The triage as a report: one finding per source with the measured value and the query or
//! request behind it, one for where the decision tree landed, and one `manual` finding per
//! immediate action whose fix is the exact command. The same text feeds `triage.md`.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use super::apply::Applied;
use super::facts::TriageFacts;
use super::signals::{Action, ErrorSignal, ServiceProblem};
use super::triage::{Answer, Branch, DecisionStep, Thresholds, TriageOutcome, describe_signal};
use super::triage_findings::{
    health_finding, log_finding, pods_finding, rate_findings, status_page_finding,
};
use crate::report::{
    CommandDetails, FailOn, Finding, Report, ReportTarget, Severity, Status, Step, Verdict,
    VerdictResult,
};

/// `triage -o json`: where the tree landed and why, the actions, what `--apply` did, and the
/// facts it read.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriageDetails {
    pub branch: Branch,
    pub severity: Severity,
    pub conclusion: &'static str,
    /// The questions of the decision tree, each with its answer and why.
    pub path: Vec<DecisionStep>,
    pub errors: Vec<ErrorSignal>,
    pub service_problems: Vec<ServiceProblem>,
    pub actions: Vec<Action>,
    /// Sources that could not be consulted, and what that means for the answer.
    pub caveats: Vec<String>,
    /// What `--apply` did (empty without it).
    pub applied: Vec<Applied>,
    /// The last error lines of the pods' logs, redacted, oldest first.
    pub recent_error_lines: Vec<String>,
    pub facts: TriageFacts,
}

impl CommandDetails for TriageDetails {
    const COMMAND: &'static str = "triage";
}

pub fn triage_report(
    target: ReportTarget,
    facts: &TriageFacts,
    outcome: &TriageOutcome,
    thresholds: &Thresholds,
    fail_on: FailOn,
    applied: &[Applied],
    now: jiff::Timestamp,
) -> Report {
    let mut findings = vec![status_page_finding(facts), health_finding(facts)];
    findings.extend(rate_findings(facts, thresholds));
    findings.push(log_finding(facts));
    findings.push(pods_finding(facts));
    if !outcome.caveats.is_empty() {
        findings.push(
            Finding::new(
                "triage.sources",
                Step::Infrastructure,
                Severity::P4,
                Status::Warn,
                "Some sources could not be consulted",
            )
            .measured(outcome.caveats.join("; ")),
        );
    }
    // The documented exit code: 1 when the severity found is at or above --fail-on.
    let blocks = fail_on.blocks(outcome.severity);
    findings.push(
        Finding::new(
            "triage.decision",
            Step::Infrastructure,
            outcome.severity,
            if blocks {
                Status::Fail
            } else if outcome.branch == Branch::ResolvedOrIntermittent {
                Status::Pass
            } else {
                Status::Warn
            },
            &format!("Decision tree: {}", outcome.conclusion),
        )
        .measured(path_text(outcome))
        .expected(format!("severity below --fail-on {fail_on}"))
        .remediation("run the triage.action.* steps below, in order"),
    );
    for action in &outcome.actions {
        findings.push(action_finding(action, outcome.severity));
    }
    for a in applied {
        let status = if a.result == "dry-run" {
            Status::Skipped
        } else {
            Status::Pass
        };
        findings.push(
            Finding::new(
                &format!(
                    "triage.applied.{}",
                    a.env.to_ascii_lowercase().replace('_', "-")
                ),
                Step::Infrastructure,
                outcome.severity,
                status,
                &format!("--apply {}", a.env),
            )
            .measured(format!("{}: {}", a.result, a.detail)),
        );
    }
    let result = if blocks {
        VerdictResult::Fail
    } else if outcome.branch == Branch::ResolvedOrIntermittent {
        VerdictResult::Pass
    } else {
        VerdictResult::Warn
    };
    let verdict = Verdict {
        result,
        summary: summary(outcome),
        fail_on: Some(fail_on),
        counts: crate::report::Counts::of(&findings),
        incomplete: None,
    };
    Report::new("triage", target, verdict, findings, now).with_details(&TriageDetails {
        branch: outcome.branch,
        severity: outcome.severity,
        conclusion: outcome.conclusion,
        path: outcome.path.clone(),
        errors: outcome.errors.clone(),
        service_problems: outcome.service_problems.clone(),
        actions: outcome.actions.clone(),
        caveats: outcome.caveats.clone(),
        applied: applied.to_vec(),
        recent_error_lines: facts
            .log_errors
            .as_ref()
            .map(|l| l.recent.clone())
            .unwrap_or_default(),
        facts: facts.clone(),
    })
}

/// One sentence: severity, leaf, and the strongest signal.
pub fn summary(outcome: &TriageOutcome) -> String {
    let why = outcome
        .errors
        .first()
        .map(describe_signal)
        .or_else(|| outcome.service_problems.first().map(|p| p.what.clone()))
        .unwrap_or_else(|| "no errors, service healthy".to_string());
    format!(
        "{} · {} ({why})",
        outcome.severity.label(),
        outcome.conclusion
    )
}

/// `errors? yes (…) → incident? no → our integration`.
pub fn path_text(outcome: &TriageOutcome) -> String {
    let mut text = String::new();
    for step in &outcome.path {
        let answer = match step.answer {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Unknown => "unknown",
        };
        let _ = write!(text, "{} {answer} ({}) → ", step.question, step.because);
    }
    text.push_str(match outcome.branch {
        Branch::PosthogIncident => "PostHog-side incident",
        Branch::Integration => "our integration",
        Branch::Infrastructure => "our infrastructure",
        Branch::ResolvedOrIntermittent => "resolved or intermittent",
    });
    text
}

fn action_finding(action: &Action, severity: Severity) -> Finding {
    let id = format!("triage.action.{}", action.id);
    // Every triage finding sits in one step so the table keeps the runbook's order: facts, the
    // decision, then the actions.
    let step = Step::Infrastructure;
    let status = if action.already_done {
        Status::Pass
    } else {
        Status::Manual
    };
    let mut finding = Finding::new(&id, step, severity, status, &action.title);
    if let Some(note) = &action.note {
        finding = finding.measured(note.clone());
    }
    match &action.command {
        Some(command) => finding.remediation(command.clone()),
        None => finding,
    }
}

/// `triage.md` for the evidence bundle: the same content for people reading it later.
pub fn triage_markdown(facts: &TriageFacts, outcome: &TriageOutcome, report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Triage: deployment/{} in {}\n",
        facts.deployment, facts.namespace
    );
    let _ = writeln!(
        md,
        "Observed at {} UTC.\n",
        facts.observed_at.strftime("%Y-%m-%d %H:%M:%S")
    );
    let _ = writeln!(md, "**{}**\n", summary(outcome));
    let _ = writeln!(md, "## Decision tree\n");
    for step in &outcome.path {
        let _ = writeln!(
            md,
            "- {} **{:?}** — {}",
            step.question, step.answer, step.because
        );
    }
    let _ = writeln!(md, "- → **{}**\n", outcome.conclusion);
    let _ = writeln!(md, "## Immediate actions\n");
    for (i, action) in outcome.actions.iter().enumerate() {
        let done = if action.already_done {
            " (already done)"
        } else {
            ""
        };
        let _ = writeln!(md, "{}. {}{done}", i + 1, action.title);
        if let Some(note) = &action.note {
            let _ = writeln!(md, "   - {note}");
        }
        if let Some(command) = &action.command {
            let _ = writeln!(md, "\n   ```sh\n   {command}\n   ```\n");
        }
    }
    let _ = writeln!(md, "\n## What was measured\n");
    let _ = writeln!(
        md,
        "| check | status | severity | measured | from |\n|---|---|---|---|---|"
    );
    for f in report
        .findings
        .iter()
        .filter(|f| !f.id.starts_with("triage.action."))
    {
        let cell = |s: &Option<String>| {
            s.clone()
                .unwrap_or_default()
                .replace('|', "\\|")
                .replace('\n', " ")
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} |",
            f.id,
            f.status.label(),
            f.severity.label(),
            cell(&f.measured),
            cell(&f.evidence)
        );
    }
    if let Ok(logs) = &facts.log_errors
        && !logs.recent.is_empty()
    {
        let _ = writeln!(md, "\n## Recent error lines\n\n```");
        for line in &logs.recent {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "```");
    }
    if !outcome.caveats.is_empty() {
        let _ = writeln!(md, "\n## Caveats\n");
        for c in &outcome.caveats {
            let _ = writeln!(md, "- {c}");
        }
    }
    md
}
