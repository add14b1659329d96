//! The report every subcommand produces: a target, a verdict and findings, as plain data. The
//! renderers in `crate::render` turn it into a table, JSON, YAML or Markdown.
//!
//! The JSON/YAML form is a documented, versioned schema (`docs/report-schema.md`): fields are only
//! ever added within a `schemaVersion`; renaming or removing one bumps it.

mod finding;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped when a field of the JSON/YAML report changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    /// The subcommand that produced the report: preflight, canary, rollback, evidence, triage.
    pub command: String,
    pub target: ReportTarget,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Command-specific data (canary steps, rollback revisions, bundle manifest…): one of the
    /// [`CommandDetails`] types of the command, as `docs/report.schema.json` says per command.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    pub generated_at: jiff::Timestamp,
    pub tool_version: String,
    /// What people see before the findings (a revision table, a template diff); JSON and YAML
    /// carry the same data in `details`.
    #[serde(skip)]
    pub preface: Option<Preface>,
    /// What `--notify` sent, one entry per destination and event (never a URL or key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
}

/// One event offered to one `--notify` destination and what became of it. Names the
/// destination as the config file does; its URL, token or routing key never appears.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The destination's name under `notify.destinations`.
    pub destination: String,
    /// `slack-webhook`, `slack-bot`, `pagerduty` or `webhook`.
    pub kind: String,
    /// The event's name (`canary.aborted`, `triage.result`, …).
    pub event: String,
    pub outcome: NotificationOutcome,
    /// HTTP requests made (retries included); 0 when skipped or a dry run.
    pub attempts: u32,
    /// Why it failed or was skipped, or what the receiver answered (a Slack `ts`, a dedup key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With `--dry-run`: the message that would be sent, credentials masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationOutcome {
    /// The receiver accepted it.
    Sent,
    /// Not delivered within the destination's timeout, or refused; never changes the exit code.
    Failed,
    /// The destination's `events` or `minSeverity` leaves it out.
    Skipped,
    /// `--dry-run`: shown, not sent.
    DryRun,
}

/// The typed `details` of one command's report. Each implementation is listed in
/// `cmd::schema`, which publishes the report's JSON Schema with them.
pub trait CommandDetails: Serialize + JsonSchema {
    /// The `command` of the reports these details belong to.
    const COMMAND: &'static str;
}

/// One object's line of a report that covers several (see [`Report::subject_summaries`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectSummary<'a> {
    pub subject: &'a str,
    pub result: VerdictResult,
    pub counts: Counts,
    pub worst: Option<&'a Finding>,
}

/// A human-only view a command puts before its findings, rendered for the table and Markdown
/// formats by the feature that owns the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preface {
    pub table: String,
    pub markdown: String,
    /// The preface is the whole human output (a listing without findings).
    pub only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportTarget {
    /// Always `Deployment` today.
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The kubeconfig context, or absent for offline checks of files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl ReportTarget {
    pub fn deployment(name: &str, namespace: Option<&str>, context: Option<&str>) -> Self {
        ReportTarget {
            kind: "Deployment".to_string(),
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            context: context.map(str::to_string),
        }
    }
}

impl fmt::Display for ReportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.to_ascii_lowercase(), self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

pub use finding::{FailOn, Finding, Location, Severity, Status, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerdictResult {
    Pass,
    Warn,
    Fail,
}

impl VerdictResult {
    pub fn label(self) -> &'static str {
        match self {
            VerdictResult::Pass => "PASS",
            VerdictResult::Warn => "WARN",
            VerdictResult::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub result: VerdictResult,
    /// One sentence a person reads first.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<FailOn>,
    pub counts: Counts,
    /// Set when the command could not finish: what it did is reported, and the exit code says
    /// why it stopped (130 interrupted, 3 a service failed, 2 bad input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
}

/// Why a command stopped before its verdict was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Incomplete {
    /// Ctrl-C or SIGTERM (after any safe abort).
    Interrupted,
    /// The cluster or a remote service failed or could not be reached.
    Unavailable,
    /// The input (flags, config, the objects found) did not allow going on.
    Input,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skipped: usize,
    pub manual: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Self {
        let mut counts = Counts::default();
        for finding in findings {
            match finding.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
                Status::Skipped => counts.skipped += 1,
                Status::Manual => counts.manual += 1,
            }
        }
        counts
    }
}

impl Verdict {
    /// The checklist verdict: fail when a failing finding is at or above `fail_on`,
    /// warn when anything else needs attention, pass otherwise.
    pub fn judge(findings: &[Finding], fail_on: FailOn) -> Verdict {
        let counts = Counts::of(findings);
        let blocking: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.status == Status::Fail && fail_on.blocks(f.severity))
            .collect();
        let result = if !blocking.is_empty() {
            VerdictResult::Fail
        } else if counts.fail + counts.warn + counts.manual > 0 {
            VerdictResult::Warn
        } else {
            VerdictResult::Pass
        };
        let summary = match result {
            VerdictResult::Fail => {
                // The first finding of the worst severity, so "first" names a "worst" one.
                let first = blocking
                    .iter()
                    .min_by_key(|f| f.severity)
                    .copied()
                    .unwrap_or(blocking[0]);
                format!(
                    "{} blocking finding{} (worst {}, fail-on {fail_on}); first: {}",
                    blocking.len(),
                    plural(blocking.len()),
                    first.severity.label(),
                    first.id
                )
            }
            VerdictResult::Warn => format!(
                "nothing blocks at fail-on {fail_on}; {} failing below it, {} warning{}, {} manual",
                counts.fail,
                counts.warn,
                plural(counts.warn),
                counts.manual
            ),
            VerdictResult::Pass => format!("all {} checks pass", counts.pass),
        };
        Verdict {
            result,
            summary,
            fail_on: Some(fail_on),
            counts,
            incomplete: None,
        }
    }

    /// A verdict decided by the command itself (a canary promoted or aborted, a rollback done).
    pub fn decided(
        result: VerdictResult,
        summary: impl Into<String>,
        findings: &[Finding],
    ) -> Self {
        Verdict {
            result,
            summary: summary.into(),
            fail_on: None,
            counts: Counts::of(findings),
            incomplete: None,
        }
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Report {
    pub fn new(
        command: &str,
        target: ReportTarget,
        verdict: Verdict,
        findings: Vec<Finding>,
        generated_at: jiff::Timestamp,
    ) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            command: command.to_string(),
            target,
            verdict,
            findings,
            details: serde_json::Value::Null,
            generated_at,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            preface: None,
            notifications: Vec::new(),
        }
    }

    pub fn with_preface(mut self, preface: Preface) -> Self {
        self.preface = Some(preface);
        self
    }

    /// Marks the report as that of a command that stopped early (see [`Incomplete`]).
    pub fn incomplete(mut self, why: Incomplete) -> Self {
        self.verdict.incomplete = Some(why);
        self
    }

    /// The command's typed details (see [`CommandDetails`]).
    pub fn with_details<D: CommandDetails>(mut self, details: &D) -> Self {
        debug_assert_eq!(self.command, D::COMMAND, "details of another command");
        // Plain data with string keys always serialises.
        self.details = serde_json::to_value(details).unwrap_or_default();
        self
    }

    /// Details not yet typed (being moved to [`Report::with_details`]).
    pub fn with_untyped_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// One row per object when the report covers several (`preflight --all`), worst first: the
    /// counts, and the worst finding that blocks (else the worst that needs attention).
    pub fn subject_summaries(&self) -> Vec<SubjectSummary<'_>> {
        let fail_on = self.verdict.fail_on.unwrap_or_default();
        let mut rows: Vec<SubjectSummary<'_>> = Vec::new();
        for finding in &self.findings {
            let Some(subject) = finding.subject.as_deref() else {
                continue;
            };
            if !rows.iter().any(|r| r.subject == subject) {
                let findings: Vec<Finding> = self
                    .findings
                    .iter()
                    .filter(|f| f.subject.as_deref() == Some(subject))
                    .cloned()
                    .collect();
                let verdict = Verdict::judge(&findings, fail_on);
                rows.push(SubjectSummary {
                    subject,
                    result: verdict.result,
                    counts: verdict.counts,
                    worst: None,
                });
            }
        }
        for row in &mut rows {
            let mut mine: Vec<&Finding> = self
                .findings_worst_first()
                .into_iter()
                .filter(|f| f.subject.as_deref() == Some(row.subject))
                .filter(|f| !matches!(f.status, Status::Pass | Status::Skipped))
                .collect();
            mine.sort_by_key(|f| {
                let blocks = f.status == Status::Fail && fail_on.blocks(f.severity);
                (!blocks, f.severity, f.status.rank(), f.step)
            });
            row.worst = mine.first().copied();
        }
        let rank = |r: VerdictResult| match r {
            VerdictResult::Fail => 0,
            VerdictResult::Warn => 1,
            VerdictResult::Pass => 2,
        };
        rows.sort_by_key(|r| {
            (
                rank(r.result),
                r.worst.map(|f| f.severity),
                std::cmp::Reverse(r.counts.fail),
            )
        });
        rows
    }

    /// Findings ordered worst first (fail, warn, manual, skipped, pass), then by severity and step.
    pub fn findings_worst_first(&self) -> Vec<&Finding> {
        let mut sorted: Vec<&Finding> = self.findings.iter().collect();
        sorted.sort_by_key(|f| (f.status.rank(), f.severity, f.step));
        sorted
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_report() -> Report {
        let findings = vec![
            Finding::new(
                "config.api-key-from-secret",
                Step::Configuration,
                Severity::P1,
                Status::Pass,
                "API key comes from a Secret",
            )
            .measured("POSTHOG_API_KEY from secret posthog-secrets key api-key"),
            Finding::new(
                "config.personal-key",
                Step::Configuration,
                Severity::P1,
                Status::Fail,
                "No personal (phx_) key where a project key belongs",
            )
            .measured("POSTHOG_API_KEY holds a phx_ key (phx_…3f9a)")
            .evidence("secret posthog-secrets key api-key")
            .remediation("use the project API key (phc_…) from Project settings")
            .at("k8s/production.yaml", Some(42)),
            Finding::new(
                "infra.image-pinned",
                Step::Infrastructure,
                Severity::P3,
                Status::Warn,
                "Image is pinned",
            )
            .measured("ghcr.io/acme/app:1.4 (tag, no digest)")
            .expected("a digest or an immutable tag"),
            Finding::new(
                "docs.on-call",
                Step::Documentation,
                Severity::P4,
                Status::Manual,
                "On-call escalation path defined",
            )
            .remediation("attest it under attestations.docs.on-call in kubectl-posthog.yaml"),
        ];
        let verdict = Verdict::judge(&findings, FailOn::P2);
        Report::new(
            "preflight",
            ReportTarget::deployment("posthog-integration", Some("prod"), Some("sim")),
            verdict,
            findings,
            "2026-11-22T10:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn fail_on_threshold() {
        assert!(FailOn::P2.blocks(Severity::P1));
        assert!(FailOn::P2.blocks(Severity::P2));
        assert!(!FailOn::P2.blocks(Severity::P3));
        assert!(!FailOn::Never.blocks(Severity::P1));
        assert!(FailOn::P4.blocks(Severity::P4));
    }

    #[test]
    fn verdict_fails_only_on_blocking_findings() {
        let report = sample_report();
        assert_eq!(report.verdict.result, VerdictResult::Fail);
        assert!(
            report.verdict.summary.contains("config.personal-key"),
            "{}",
            report.verdict.summary
        );

        let lenient = Verdict::judge(&report.findings, FailOn::Never);
        assert_eq!(lenient.result, VerdictResult::Warn);
        let passing = vec![report.findings[0].clone()];
        assert_eq!(
            Verdict::judge(&passing, FailOn::P2).result,
            VerdictResult::Pass
        );
    }

    #[test]
    fn json_round_trips_with_schema_version() {
        let report = sample_report();
        let json = report.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["schemaVersion"], 1);
        assert_eq!(value["findings"][1]["step"], 1);
        assert_eq!(value["findings"][1]["location"]["line"], 42);
        assert_eq!(value["verdict"]["failOn"], "p2");
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn yaml_round_trips() {
        let report = sample_report();
        let yaml = report.to_yaml();
        assert!(yaml.contains("schemaVersion: 1"), "{yaml}");
        let back: Report = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn worst_first_ordering() {
        let report = sample_report();
        let ids: Vec<&str> = report
            .findings_worst_first()
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "config.personal-key",
                "infra.image-pinned",
                "docs.on-call",
                "config.api-key-from-secret"
            ]
        );
    }
}
