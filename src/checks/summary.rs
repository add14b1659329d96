//! The preflight's report: its target (one Deployment, or `* (N using PostHog)`), its verdict
//! and its typed `details` ([`PreflightDetails`], documented in `docs/report-schema.md`).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use crate::report::{CommandDetails, Finding, Report, ReportTarget, Verdict};

use super::Subject;
use super::facts::ClusterFacts;
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

/// Where the checked Deployments were: the kubeconfig context, and the namespace a report over
/// several Deployments names (none with `-A`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    pub context: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

/// The whole report of one run.
pub fn report(
    plan: &Plan,
    facts: &ClusterFacts,
    subjects: &[Subject],
    remotes: &[SubjectRemote],
    findings: Vec<Finding>,
    scope: Scope,
    now: jiff::Timestamp,
) -> Report {
    let verdict = Verdict::judge(&findings, plan.fail_on);
    // `--all` keeps `*` even when it found one Deployment: the target is what was selected (the
    // sticky comment's marker is made of it, so one more Deployment must not change it).
    let target = match subjects {
        [one] if plan.target.is_some() => {
            ReportTarget::deployment(&one.name, Some(&one.namespace), scope.context)
        }
        _ => ReportTarget::deployment(
            &format!("* ({} using PostHog)", subjects.len()),
            scope.namespace.filter(|_| !plan.all_namespaces),
            scope.context,
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
    };
    Report::new("preflight", target, verdict, findings, now).with_details(&details)
}
