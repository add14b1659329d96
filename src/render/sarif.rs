//! `-o sarif`: the report as a SARIF 2.1.0 log for GitHub code scanning and other SARIF viewers.
//!
//! One result per failing or warning finding that has a file location (code scanning needs one);
//! the rule id is the check id. The level comes from severity and `--fail-on`, the same rule the
//! GitHub annotations and check runs follow ([`finding_level`]): a finding that blocks at the
//! chosen `fail-on` is an error, the others a warning, or a note at P4 (reviewdog keeps report
//! level and failure level apart in the same way).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::report::{Finding, Report, Severity, Status, VerdictResult};

const INFORMATION_URI: &str = "https://github.com/kubectl-posthog/kubectl-posthog";
const HELP_URI: &str =
    "https://github.com/kubectl-posthog/kubectl-posthog/blob/main/docs/config.md#check-ids";
const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// How loudly a finding is reported (SARIF `error`/`warning`/`note`; GitHub `::error`,
/// `::warning`, `::notice`; check-run `failure`, `warning`, `notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    pub fn sarif(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// Whether a finding blocks the verdict: a failing finding at or above the report's `fail-on`,
/// or, for a verdict the command decided itself (canary, rollback), a failing finding of a
/// failed verdict.
pub fn blocks(report: &Report, finding: &Finding) -> bool {
    finding.status == Status::Fail
        && match report.verdict.fail_on {
            Some(fail_on) => fail_on.blocks(finding.severity),
            None => report.verdict.result == VerdictResult::Fail,
        }
}

/// The level of a failing or warning finding; `None` for the others (pass, skipped, manual).
pub fn finding_level(report: &Report, finding: &Finding) -> Option<Level> {
    if !matches!(finding.status, Status::Fail | Status::Warn) {
        return None;
    }
    Some(if blocks(report, finding) {
        Level::Error
    } else if finding.severity == Severity::P4 {
        Level::Note
    } else {
        Level::Warning
    })
}

/// The message a person reads: the measured value (else the title) and the fix.
pub fn finding_message(finding: &Finding) -> String {
    let mut message = finding
        .measured
        .clone()
        .unwrap_or_else(|| finding.title.clone());
    if let Some(fix) = &finding.remediation {
        message.push_str(&format!("\nFix: {fix}"));
    }
    message
}

/// The code-scanning category (`runAutomationDetails.id`): one per command and target, so the
/// uploads of several gates in one repository do not replace each other.
pub fn category(report: &Report, target: &str) -> String {
    format!("kubectl-posthog/{}/{target}/", report.command)
}

/// `-o sarif`: file paths as the findings name them.
pub fn render_sarif(report: &Report) -> String {
    let target = match &report.target.namespace {
        Some(ns) => format!("{ns}/{}", report.target.name),
        None => report.target.name.clone(),
    };
    let log = sarif_log(report, &category(report, &target), &|file| {
        file.strip_prefix("./").unwrap_or(file).to_string()
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&log).unwrap_or_default()
    )
}

/// The SARIF log; `uri_of` turns a finding's file into the URI code scanning resolves against
/// the repository root (GitHub mode makes it workspace-relative).
pub fn sarif_log(report: &Report, category: &str, uri_of: &dyn Fn(&str) -> String) -> Value {
    let findings: Vec<(&Finding, Level)> = report
        .findings_worst_first()
        .into_iter()
        .filter(|f| f.location.is_some())
        .filter_map(|f| finding_level(report, f).map(|level| (f, level)))
        .collect();
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for (finding, _) in &findings {
        if !rule_index.contains_key(finding.id.as_str()) {
            rule_index.insert(&finding.id, rules.len());
            rules.push(rule(finding));
        }
    }
    let results: Vec<Value> = findings
        .iter()
        .map(|(finding, level)| {
            let location = finding.location.as_ref();
            let file = location.map(|l| uri_of(&l.file)).unwrap_or_default();
            let line = location.and_then(|l| l.line).unwrap_or(1).max(1);
            json!({
                "ruleId": finding.id,
                "ruleIndex": rule_index[finding.id.as_str()],
                "level": level.sarif(),
                "message": {"text": finding_message(finding)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": line},
                }}],
                "properties": {
                    "severity": finding.severity.label(),
                    "status": finding.status.label(),
                    "blocking": *level == Level::Error,
                },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubectl-posthog",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "automationDetails": {"id": category},
            "results": results,
            "properties": {
                "command": report.command,
                "verdict": report.verdict.result,
                "failOn": report.verdict.fail_on,
            },
        }],
    })
}

fn rule(finding: &Finding) -> Value {
    // GitHub orders and filters code-scanning alerts of security rules by this 0-10 score.
    let score = match finding.severity {
        Severity::P1 => "9.0",
        Severity::P2 => "7.0",
        Severity::P3 => "4.0",
        Severity::P4 => "1.0",
    };
    let mut rule = json!({
        "id": finding.id,
        "name": finding.id,
        "shortDescription": {"text": finding.title},
        "helpUri": HELP_URI,
        "properties": {
            "tags": ["posthog", format!("checklist-step-{}", finding.step.number())],
            "security-severity": score,
        },
    });
    if let Some(fix) = &finding.remediation {
        rule["help"] = json!({ "text": fix });
    }
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;
    use crate::report::{FailOn, Step, Verdict};

    fn schema() -> jsonschema::Validator {
        let text = include_str!("../../tests/e2e/fixtures/github/sarif-schema-2.1.0.json");
        let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the OASIS schema compiles")
    }

    fn violations(log: &Value) -> Vec<String> {
        schema()
            .iter_errors(log)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn located(id: &str, severity: Severity, status: Status) -> Finding {
        Finding::new(id, Step::Configuration, severity, status, "a check")
            .measured(format!("{id} measured"))
            .at("./k8s/app.yaml", Some(3))
    }

    fn report_at(fail_on: FailOn) -> Report {
        let findings = vec![
            located("p1.fail", Severity::P1, Status::Fail),
            located("p3.fail", Severity::P3, Status::Fail),
            located("p4.fail", Severity::P4, Status::Fail),
            located("p2.warn", Severity::P2, Status::Warn),
            located("p1.pass", Severity::P1, Status::Pass),
            Finding::new(
                "live.only",
                Step::Rollout,
                Severity::P1,
                Status::Fail,
                "no file",
            ),
        ];
        let verdict = Verdict::judge(&findings, fail_on);
        Report::new(
            "preflight",
            crate::report::ReportTarget::deployment("web", Some("prod"), None),
            verdict,
            findings,
            "2026-11-22T10:00:00Z".parse().unwrap(),
        )
    }

    fn levels(report: &Report) -> Vec<(String, String)> {
        let log: Value = serde_json::from_str(&render_sarif(report)).unwrap();
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["ruleId"].as_str().unwrap().to_string(),
                    r["level"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn sample_report_validates_against_the_oasis_schema() {
        let report = sample_report();
        let log: Value = serde_json::from_str(&render_sarif(&report)).unwrap();
        assert_eq!(violations(&log), Vec::<String>::new(), "{log:#}");
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "only located fail/warn findings: {log:#}");
        assert_eq!(results[0]["ruleId"], "config.personal-key");
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "k8s/production.yaml"
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            42
        );
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules[0]["id"], "config.personal-key");
        assert_eq!(
            log["runs"][0]["automationDetails"]["id"],
            "kubectl-posthog/preflight/prod/posthog-integration/"
        );
    }

    #[test]
    fn the_schema_check_catches_a_broken_log() {
        // Guards the validation itself: a wrong level and a missing message must be reported.
        let mut log: Value = serde_json::from_str(&render_sarif(&sample_report())).unwrap();
        log["runs"][0]["results"][0]["level"] = json!("fatal");
        log["runs"][0]["results"][0]
            .as_object_mut()
            .unwrap()
            .remove("message");
        let found = violations(&log).join("\n");
        assert!(found.contains("fatal"), "{found}");
        assert!(found.contains("message"), "{found}");
    }

    #[test]
    fn levels_follow_severity_and_fail_on() {
        let at = |f| levels(&report_at(f));
        let want = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            at(FailOn::P2),
            want(&[
                ("p1.fail", "error"),
                ("p3.fail", "warning"),
                ("p4.fail", "note"),
                ("p2.warn", "warning"),
            ])
        );
        assert_eq!(
            at(FailOn::P4),
            want(&[
                ("p1.fail", "error"),
                ("p3.fail", "error"),
                ("p4.fail", "error"),
                ("p2.warn", "warning"),
            ])
        );
        assert_eq!(
            at(FailOn::Never),
            want(&[
                ("p1.fail", "warning"),
                ("p3.fail", "warning"),
                ("p4.fail", "note"),
                ("p2.warn", "warning"),
            ])
        );
        for fail_on in [
            FailOn::P1,
            FailOn::P2,
            FailOn::P3,
            FailOn::P4,
            FailOn::Never,
        ] {
            let log: Value = serde_json::from_str(&render_sarif(&report_at(fail_on))).unwrap();
            assert_eq!(violations(&log), Vec::<String>::new(), "{fail_on}");
        }
    }

    #[test]
    fn a_decided_verdict_blocks_with_its_failing_findings() {
        let findings = vec![located("canary.analysis", Severity::P2, Status::Fail)];
        let verdict = Verdict::decided(VerdictResult::Fail, "aborted", &findings);
        let report = Report::new(
            "canary",
            crate::report::ReportTarget::deployment("web", Some("prod"), None),
            verdict,
            findings,
            "2026-11-22T10:00:00Z".parse().unwrap(),
        );
        assert_eq!(
            finding_level(&report, &report.findings[0]),
            Some(Level::Error)
        );
    }
}
