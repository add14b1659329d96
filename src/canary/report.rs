//! The canary's report: one finding per step, per metric (its latest reading, threshold and
//! query) and for pod health, a verdict a person reads first, and the details a program wants.

use super::analysis::{Reading, ReadingStatus, format_value};
use super::details::{RunOutcome, run_details};
use super::driver::{AbortKind, Outcome, Record};
use super::health::PodHealth;
use super::objects;
use super::plan::CanaryStep;
use super::settings::{BoundMetric, Settings};
use super::state::CanaryState;
use crate::report::{
    Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

/// Everything the report is built from.
pub struct ReportInput<'a> {
    pub target: ReportTarget,
    pub state: &'a CanaryState,
    pub settings: &'a Settings,
    pub bound: &'a [BoundMetric],
    pub record: &'a Record,
    pub source: &'a str,
    pub now: jiff::Timestamp,
}

fn step_title(step: &CanaryStep) -> String {
    if step.is_promotion() {
        "100%: the stable takes the new template".to_string()
    } else {
        format!(
            "{}%: {} canary + {} stable pods ({:.0}% of traffic)",
            step.weight,
            step.canary_replicas,
            step.stable_replicas,
            step.actual_share()
        )
    }
}

/// The steps: passed before the current one, the current one as the outcome says, later skipped.
pub fn step_findings(
    state: &CanaryState,
    outcome: Option<&Outcome>,
    record: &Record,
) -> Vec<Finding> {
    state
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let id = format!("canary.step-{}", step.number);
            let rounds = record
                .rounds_per_step
                .get(&step.number)
                .copied()
                .unwrap_or(0);
            let pause = step.pause_text();
            let (status, measured) = if i < state.step {
                (
                    Status::Pass,
                    format!("passed: {rounds} analysis round(s), pause {pause}"),
                )
            } else if i > state.step {
                let planned = if step.is_promotion() {
                    "not reached".to_string()
                } else {
                    format!("not reached (pause {pause})")
                };
                (Status::Skipped, planned)
            } else {
                match (outcome, state.phase) {
                    (None, _) => (Status::Skipped, format!("planned: pause {pause}")),
                    (Some(Outcome::Promoted), _) => (
                        Status::Pass,
                        format!(
                            "promoted: the stable rolled out {}",
                            objects::images_text(&state.images)
                        ),
                    ),
                    (Some(Outcome::PromotionFailed(m)), _) => (Status::Fail, m.clone()),
                    (Some(Outcome::Aborted { reason, .. }), _) => (
                        Status::Fail,
                        format!("aborted here after {rounds} round(s): {reason}"),
                    ),
                    (Some(Outcome::Interrupted { abort: Some(_) }), _) => {
                        (Status::Fail, "interrupted here; aborted safely".to_string())
                    }
                    (Some(Outcome::Superseded(m)), _) => (Status::Fail, m.clone()),
                    (Some(Outcome::Failed { abort: Some(_), .. }), _) => (
                        Status::Fail,
                        "stopped here by an error; aborted safely".to_string(),
                    ),
                    (Some(Outcome::Interrupted { abort: None }), phase)
                    | (Some(Outcome::Failed { abort: None, .. }), phase) => (
                        Status::Warn,
                        format!(
                            "left here ({}): resume with `canary --resume`",
                            phase.label()
                        ),
                    ),
                }
            };
            Finding::new(
                &id,
                Step::Rollout,
                if step.is_promotion() {
                    Severity::P2
                } else {
                    Severity::P3
                },
                status,
                &format!("Step {}: {}", step.number, step_title(step)),
            )
            .measured(measured)
        })
        .collect()
}

/// One finding per metric: its latest reading, or the query it would run.
pub fn metric_findings(
    settings: &Settings,
    bound: &[BoundMetric],
    record: &Record,
) -> Vec<Finding> {
    bound
        .iter()
        .map(|b| {
            let expected = match settings.comparison {
                Some(c) => format!(
                    "≤ stable × {} (at least {})",
                    c.factor,
                    format_value(b.spec.compare_floor, &b.unit)
                ),
                None => format!("≤ {}", format_value(b.spec.threshold, &b.unit)),
            };
            let mut evidence = b.canary.promql.clone();
            if settings.comparison.is_some() {
                evidence = format!("canary: {evidence}\nstable: {}", b.stable.promql);
            }
            let finding = Finding::new(
                &format!("canary.metric.{}", b.spec.id),
                Step::Rollout,
                b.spec.severity,
                Status::Skipped,
                &b.spec.title,
            )
            .expected(expected)
            .evidence(evidence);
            match record.latest.get(&b.spec.id) {
                None => Finding {
                    measured: Some("not measured".into()),
                    ..finding
                },
                Some(r) => reading_finding(finding, r),
            }
        })
        .collect()
}

fn reading_finding(mut finding: Finding, reading: &Reading) -> Finding {
    finding.status = match reading.status {
        ReadingStatus::Pass => Status::Pass,
        ReadingStatus::Breach => Status::Fail,
        ReadingStatus::Inconclusive => Status::Warn,
    };
    finding.measured = Some(format!(
        "{} at {}",
        reading.describe(),
        reading.at.strftime("%H:%M:%S UTC")
    ));
    if reading.status == ReadingStatus::Breach {
        finding.remediation = Some(
            "the canary was aborted; look at its logs (`kubectl posthog evidence`) before retrying"
                .into(),
        );
    }
    finding
}

fn health_finding(health: &PodHealth, failed: bool) -> Finding {
    let status = if health.is_failing() || failed {
        Status::Fail
    } else {
        Status::Pass
    };
    let mut finding = Finding::new(
        "canary.pod-health",
        Step::Rollout,
        Severity::P1,
        status,
        "Canary pods stay ready without restarts or crash loops",
    )
    .measured(if health.problems.is_empty() {
        health.summary()
    } else {
        format!("{}: {}", health.summary(), health.problems.join("; "))
    });
    if status == Status::Fail {
        finding = finding.remediation(
            "`kubectl posthog evidence` collects the crashed container's previous logs",
        );
    }
    finding
}

/// The plan `--dry-run` prints: steps with replica counts, and every query filled in.
pub fn plan_report(input: &ReportInput<'_>, notes: &[String]) -> Report {
    let mut findings = step_findings(input.state, None, input.record);
    findings.extend(metric_findings(input.settings, input.bound, input.record));
    let summary = format!(
        "dry run: nothing changed; {} step(s) from {} stable replicas to {} with {} metric(s) from {}",
        input.state.steps.len(),
        input.state.stable_replicas,
        objects::images_text(&input.state.images),
        input.bound.len(),
        input.source
    );
    let verdict = Verdict::decided(VerdictResult::Pass, summary, &findings);
    Report::new("canary", input.target.clone(), verdict, findings, input.now).with_details(
        &run_details(
            input.state,
            input.settings,
            input.record,
            input.source,
            RunOutcome::Planned,
            None,
            notes,
        ),
    )
}

/// The final report of a run.
pub fn outcome_report(input: &ReportInput<'_>, outcome: &Outcome, notes: &[String]) -> Report {
    let state = input.state;
    let mut findings = step_findings(state, Some(outcome), input.record);
    findings.extend(metric_findings(input.settings, input.bound, input.record));
    let health_failed = matches!(
        outcome,
        Outcome::Aborted {
            kind: AbortKind::Health,
            ..
        }
    );
    findings.push(health_finding(&input.record.health, health_failed));
    let step = state.current().map(|s| s.weight).unwrap_or(0);
    // With an HPA the tool never sized the stable: it is where the HPA keeps it.
    let restored = match &state.autoscaler {
        Some(a) if a.gone => "stable left (its HPA deleted mid-canary) at",
        Some(_) => "stable left to its HPA at",
        None => "stable restored to",
    };
    let (result, summary, label, abort) = match outcome {
        Outcome::Promoted => (
            VerdictResult::Pass,
            format!(
                "promoted {} to deployment/{} ({} replicas) after {} step(s)",
                objects::images_text(&state.images),
                input.target.name,
                state.stable_replicas,
                state.steps.len()
            ),
            RunOutcome::Promoted,
            None,
        ),
        Outcome::Aborted {
            kind,
            reason,
            summary,
        } => (
            VerdictResult::Fail,
            format!(
                "aborted at {step}%: {reason}; {restored} {} replicas ({} ready), canary {}",
                summary.stable_replicas,
                summary.stable_ready,
                if summary.canary_removed {
                    "removed"
                } else {
                    "not found"
                }
            ),
            RunOutcome::aborted(kind),
            Some(summary),
        ),
        Outcome::PromotionFailed(message) => (
            VerdictResult::Fail,
            message.clone(),
            RunOutcome::PromotionFailed,
            None,
        ),
        Outcome::Interrupted {
            abort: Some(summary),
        } => (
            VerdictResult::Fail,
            format!(
                "interrupted at {step}%: aborted safely; {restored} {} replicas, canary removed",
                summary.stable_replicas
            ),
            RunOutcome::InterruptedAborted,
            Some(summary),
        ),
        Outcome::Interrupted { abort: None } => (
            VerdictResult::Fail,
            format!(
                "interrupted at {step}% ({}): the canary was left in place; \
                 `kubectl posthog canary --resume deployment/{name}` continues it, \
                 `kubectl posthog canary abort deployment/{name}` restores the stable",
                state.phase.label(),
                name = input.target.name,
            ),
            RunOutcome::InterruptedLeft,
            None,
        ),
        Outcome::Failed { error, abort: None } => (
            VerdictResult::Fail,
            format!(
                "stopped at {step}% by an error: {error}; the canary was left in place: \
                 `kubectl posthog canary --resume deployment/{name}` continues it, \
                 `kubectl posthog canary abort deployment/{name}` restores the stable",
                name = input.target.name,
            ),
            RunOutcome::Failed,
            None,
        ),
        Outcome::Failed {
            error,
            abort: Some(summary),
        } => (
            VerdictResult::Fail,
            format!(
                "stopped at {step}% by an error: {error}; aborted safely (--on-error abort): \
                 {restored} {} replicas ({} ready), canary {}",
                summary.stable_replicas,
                summary.stable_ready,
                if summary.canary_removed {
                    "removed"
                } else {
                    "not found"
                }
            ),
            RunOutcome::FailedAborted,
            Some(summary),
        ),
        Outcome::Superseded(message) => (
            VerdictResult::Fail,
            message.clone(),
            RunOutcome::Superseded,
            None,
        ),
    };
    let verdict = Verdict::decided(result, summary, &findings);
    let kind = match outcome {
        Outcome::Aborted { kind, .. } => Some(kind),
        _ => None,
    };
    let details = run_details(
        state,
        input.settings,
        input.record,
        input.source,
        label,
        abort.map(|summary| (summary, kind)),
        notes,
    );
    Report::new("canary", input.target.clone(), verdict, findings, input.now).with_details(&details)
}

#[cfg(test)]
mod tests {
    use crate::canary::state::Phase;
    use std::collections::BTreeMap;

    use super::*;
    use crate::canary::abort::AbortSummary;
    use crate::canary::analysis::{Sample, judge};
    use crate::canary::settings::bind_metrics;
    use crate::render::render_markdown;
    use crate::ui::Styles;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_795_000_000 + secs).unwrap()
    }

    /// A canary aborted at its second step by a 5xx breach, as the driver leaves it.
    fn aborted() -> (CanaryState, Settings, Vec<BoundMetric>, Record, Outcome) {
        let settings = crate::canary::settings::tests::settings();
        let mut state = crate::canary::state::tests::sample_state();
        state.steps = crate::canary::plan::plan_steps(
            10,
            &[10, 50, 100],
            &crate::canary::plan::DEFAULT_PAUSES,
            true,
        );
        state.stable_replicas = 10;
        state.step = 1;
        state.phase = Phase::Aborted;
        state.started_at = at(0);
        state.reason = Some("P1 errors-5xx: 42/min > 10/min".into());
        let bound = bind_metrics(
            &settings,
            "prod",
            "web",
            "web-canary",
            &["web-canary-7c9d-a1z9k".into()],
        )
        .unwrap();
        let mut record = Record {
            rounds: 23,
            rounds_per_step: BTreeMap::from([(1, 20), (2, 3)]),
            decided_at: Some(at(700)),
            finished_at: Some(at(702)),
            ..Record::default()
        };
        for (b, sample) in bound.iter().zip([
            Sample::Value(42.0),
            Sample::Value(180.0),
            Sample::NoData,
            Sample::Value(0.0),
        ]) {
            let reading = judge(
                &b.spec,
                &b.unit,
                &b.canary.promql,
                &sample,
                None,
                None,
                at(700),
            );
            record.latest.insert(reading.metric.clone(), reading);
        }
        record.health = crate::canary::health::PodHealth {
            total: 5,
            ready: 5,
            restarts: 0,
            problems: Vec::new(),
        };
        let outcome = Outcome::Aborted {
            kind: AbortKind::Analysis,
            reason: "P1 errors-5xx: 42/min > 10/min".into(),
            summary: AbortSummary {
                found: true,
                stable_replicas: 10,
                stable_ready: 10,
                canary_removed: true,
                canary_zeroed_at: Some(at(700) + jiff::SignedDuration::from_millis(40)),
                state: None,
            },
        };
        (state, settings, bound, record, outcome)
    }

    fn report() -> Report {
        let (state, settings, bound, record, outcome) = aborted();
        let input = ReportInput {
            target: ReportTarget::deployment("web", Some("prod"), Some("prod-eu")),
            state: &state,
            settings: &settings,
            bound: &bound,
            record: &record,
            source: "Prometheus at http://prometheus:9090",
            now: at(703),
        };
        outcome_report(&input, &outcome, &[])
    }

    #[test]
    fn aborted_canary_fails_with_the_breach_first() {
        let report = report();
        assert_eq!(report.verdict.result, VerdictResult::Fail);
        assert_eq!(
            report.verdict.summary,
            "aborted at 50%: P1 errors-5xx: 42/min > 10/min; stable restored to 10 replicas (10 ready), canary removed"
        );
        let worst = report.findings_worst_first();
        assert_eq!(worst[0].id, "canary.metric.errors-5xx");
        assert_eq!(worst[1].id, "canary.step-2");
        assert_eq!(report.details["abort"]["decisionToZeroMs"], 40);
        assert_eq!(report.details["outcome"], "aborted-by-analysis");
    }

    #[test]
    fn aborted_canary_markdown() {
        insta::assert_snapshot!(render_markdown(&report()));
    }

    #[test]
    fn aborted_canary_table() {
        insta::assert_snapshot!(crate::render::render_table(&report(), &Styles::plain()));
    }
}
