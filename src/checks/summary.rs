//! The preflight's report: its target (one Deployment, or `* (N using PostHog)`), its verdict
//! and its typed `details` ([`PreflightDetails`], documented in `docs/report-schema.md`).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use crate::report::{CommandDetails, Finding, Preface, Report, ReportTarget, Verdict};

use super::Subject;
use super::facts::ClusterFacts;
use super::fix::Fix;
use super::plan::Plan;
use super::remote::SubjectRemote;

/// `details` of a `preflight` report.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightDetails {
    pub mode: Mode,
    /// False with `--offline`: no request to PostHog, the status page, health endpoints or Prometheus.
    pub network: bool,
    /// `namespace/name` of each Deployment checked.
    pub deployments: Vec<String>,
    /// The manifest files read offline (`<stdin>` for `-f -`).
    pub files: Vec<String>,
    /// Kinds in the files that no check reads.
    pub ignored_kinds: Vec<String>,
    /// Where alert rules were looked for, and why a source failed.
    pub alert_sources: Vec<String>,
    /// The PostHog region each Deployment sends to, and how it was found.
    pub regions: Vec<String>,
    /// With `--fix DIR`: where the fixes were written and each fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixReport>,
}

/// What `--fix DIR` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixReport {
    pub dir: String,
    pub fixes: Vec<Fix>,
}

/// The cluster, or manifest files (`-f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Live,
    Offline,
}

impl CommandDetails for PreflightDetails {
    const COMMAND: &'static str = "preflight";
}

/// What the report says beyond the checks: the kubeconfig context, the namespace a report over
/// several Deployments names (none with `-A`), and what `--fix` wrote.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    pub context: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub fix: Option<FixReport>,
}

/// The whole report of one run.
pub fn report(
    plan: &Plan,
    facts: &ClusterFacts,
    subjects: &[Subject],
    remotes: &[SubjectRemote],
    findings: Vec<Finding>,
    extras: Extras,
    now: jiff::Timestamp,
) -> Report {
    let verdict = Verdict::judge(&findings, plan.fail_on);
    // `--all` keeps `*` even when it found one Deployment: the target is what was selected (the
    // sticky comment's marker is made of it, so one more Deployment must not change it).
    let target = match subjects {
        [one] if plan.target.is_some() => {
            ReportTarget::deployment(&one.name, Some(&one.namespace), extras.context)
        }
        _ => ReportTarget::deployment(
            &format!("* ({} using PostHog)", subjects.len()),
            extras.namespace.filter(|_| !plan.all_namespaces),
            extras.context,
        ),
    };
    let regions: BTreeSet<String> = remotes
        .iter()
        .map(|r| format!("{} (from {})", r.region.region.name(), r.region.from))
        .collect();
    let details = PreflightDetails {
        mode: match plan.offline_files() {
            true => Mode::Offline,
            false => Mode::Live,
        },
        network: !plan.remote.offline,
        deployments: subjects
            .iter()
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect(),
        files: facts.files.clone(),
        ignored_kinds: facts.ignored_kinds.iter().cloned().collect(),
        alert_sources: facts.alert_sources.clone(),
        regions: regions.into_iter().collect(),
        fix: extras.fix,
    };
    let preface = details.fix.as_ref().map(fix_preface);
    let report = Report::new("preflight", target, verdict, findings, now).with_details(&details);
    match preface {
        Some(preface) => report.with_preface(preface),
        None => report,
    }
}

/// The fixes, listed before the findings (the PR comment shows them).
fn fix_preface(fix: &FixReport) -> Preface {
    let mut table = format!(
        "FIXES written to {} (nothing changed in the cluster)\n",
        fix.dir
    );
    let mut markdown = format!(
        "### Fixes written to `{}`\n\nReview them, then `kubectl apply -k {}`; nothing was changed in the cluster. FIXES.md says what a person must still do.\n\n",
        fix.dir, fix.dir
    );
    if fix.fixes.is_empty() {
        table.push_str("  nothing a machine can fix\n");
        markdown.push_str("Nothing a machine can fix was found.\n");
    } else {
        markdown.push_str("| finding | Deployment | change | file |\n|---|---|---|---|\n");
        for f in &fix.fixes {
            table.push_str(&format!("  {:<30} {} ({})\n", f.finding, f.change, f.file));
            markdown.push_str(&format!(
                "| `{}` | {} | {} | `{}` |\n",
                f.finding,
                f.subject,
                f.change.replace('|', "\\|"),
                f.file
            ));
        }
    }
    Preface {
        table: format!("{table}\n"),
        markdown: format!("{markdown}\n"),
        only: false,
    }
}
