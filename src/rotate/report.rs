//! The rotation's report: one finding per step, the verdict from how it ended.

use crate::report::{
    CommandDetails, Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

use super::rotation::{Result_, Rotation};

impl CommandDetails for Rotation {
    const COMMAND: &'static str = "rotate-key";
}

pub fn rotation_report(target: ReportTarget, rotation: &Rotation, now: jiff::Timestamp) -> Report {
    let findings: Vec<Finding> = rotation
        .steps
        .iter()
        .map(|s| {
            let status = if s.ok { Status::Pass } else { Status::Fail };
            Finding::new(&s.id, Step::Configuration, Severity::P1, status, &s.title)
                .measured(s.measured.clone())
        })
        .collect();
    let (result, summary) = match rotation.result {
        Result_::Rotated => (
            VerdictResult::Pass,
            format!(
                "rotated {} → {} for {}",
                rotation.old_key,
                rotation.new_key,
                rotation.readers.join(", ")
            ),
        ),
        Result_::DryRun => (
            VerdictResult::Pass,
            "dry run: the plan only, nothing changed".to_string(),
        ),
        Result_::Refused => (VerdictResult::Fail, "refused: nothing changed".to_string()),
        Result_::Reverted => (
            VerdictResult::Fail,
            format!(
                "the new key failed verification: {} restored",
                rotation.old_key
            ),
        ),
        Result_::FailedNotReverted => (
            VerdictResult::Fail,
            "the new key failed verification and was left in place (--no-revert)".to_string(),
        ),
        Result_::RevertFailed => (
            VerdictResult::Fail,
            "the new key failed verification and the old key could not be restored: act now"
                .to_string(),
        ),
    };
    let verdict = Verdict::decided(result, summary, &findings);
    Report::new("rotate-key", target, verdict, findings, now).with_details(rotation)
}
