//! One finding of a report and its vocabulary: the checklist step it belongs to, its status,
//! its severity as the runbook defines P1–P4, and the `--fail-on` threshold.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One line of the checklist (or one observation of a canary, rollback or triage).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable identifier, e.g. `config.api-key-from-secret`; safe to match on in scripts.
    pub id: String,
    pub step: Step,
    pub title: String,
    pub status: Status,
    pub severity: Severity,
    /// What was measured: the value, count or evidence behind the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// The threshold or expectation the measured value was held against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The query, request or command that produced the measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// What to do when the status is not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// Where in a manifest or source file the finding comes from (offline checks, scans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The object the finding is about (`deployment/prod/web`) when a report covers several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Finding {
    pub fn new(id: &str, step: Step, severity: Severity, status: Status, title: &str) -> Self {
        Finding {
            id: id.to_string(),
            step,
            title: title.to_string(),
            status,
            severity,
            measured: None,
            expected: None,
            evidence: None,
            remediation: None,
            location: None,
            subject: None,
        }
    }

    pub fn measured(mut self, value: impl Into<String>) -> Self {
        self.measured = Some(value.into());
        self
    }

    pub fn expected(mut self, value: impl Into<String>) -> Self {
        self.expected = Some(value.into());
        self
    }

    pub fn evidence(mut self, value: impl Into<String>) -> Self {
        self.evidence = Some(value.into());
        self
    }

    pub fn remediation(mut self, value: impl Into<String>) -> Self {
        self.remediation = Some(value.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn at(mut self, file: impl Into<String>, line: Option<u32>) -> Self {
        self.location = Some(Location {
            file: file.into(),
            line,
        });
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// The five steps of the production checklist (`seeds/posthog-prod-checklist.txt`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(into = "u8", try_from = "u8")]
#[schemars(with = "StepNumber")]
pub enum Step {
    Configuration = 1,
    CodeQuality = 2,
    Infrastructure = 3,
    Documentation = 4,
    Rollout = 5,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Configuration,
        Step::CodeQuality,
        Step::Infrastructure,
        Step::Documentation,
        Step::Rollout,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Configuration => "Pre-deployment configuration",
            Step::CodeQuality => "Code quality",
            Step::Infrastructure => "Infrastructure",
            Step::Documentation => "Documentation",
            Step::Rollout => "Rollout",
        }
    }
}

/// A checklist step in the JSON form: its number, 1 to 5.
#[derive(JsonSchema)]
#[expect(dead_code, reason = "only its JSON Schema is used")]
struct StepNumber(#[schemars(range(min = 1, max = 5))] u8);

impl From<Step> for u8 {
    fn from(step: Step) -> u8 {
        step.number()
    }
}

impl TryFrom<u8> for Step {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|s| s.number() == n)
            .ok_or_else(|| format!("checklist step {n} does not exist (1-5)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skipped,
    /// Needs a person: shown until attested in the config file, never silently passed.
    Manual,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
            Status::Manual => "manual",
        }
    }

    /// Order for "worst first" listings.
    pub(super) fn rank(self) -> u8 {
        match self {
            Status::Fail => 0,
            Status::Warn => 1,
            Status::Manual => 2,
            Status::Skipped => 3,
            Status::Pass => 4,
        }
    }
}

/// Severity as the incident runbook defines it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
pub enum Severity {
    /// Complete outage; respond in under 15 minutes.
    P1,
    /// Degraded service; respond in under an hour.
    P2,
    /// Minor impact; respond in under 4 hours.
    P3,
    /// No user impact; next business day.
    P4,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
            Severity::P4 => "P4",
        }
    }

    pub fn definition(self) -> &'static str {
        match self {
            Severity::P1 => "complete outage, respond < 15 min",
            Severity::P2 => "degraded service, respond < 1 hour",
            Severity::P3 => "minor impact, respond < 4 hours",
            Severity::P4 => "no user impact, next business day",
        }
    }
}

/// The lowest severity that still blocks: `--fail-on p2` fails on P1 and P2 findings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    P1,
    #[default]
    P2,
    P3,
    P4,
    Never,
}

impl FailOn {
    pub fn blocks(self, severity: Severity) -> bool {
        let limit = match self {
            FailOn::P1 => Severity::P1,
            FailOn::P2 => Severity::P2,
            FailOn::P3 => Severity::P3,
            FailOn::P4 => Severity::P4,
            FailOn::Never => return false,
        };
        severity <= limit
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailOn::P1 => "p1",
            FailOn::P2 => "p2",
            FailOn::P3 => "p3",
            FailOn::P4 => "p4",
            FailOn::Never => "never",
        })
    }
}
