//! The `evidence` command's report: where the bundle is and what it holds (one finding per part,
//! with the figures), then every source that could not be collected; the manifest in `details`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use super::collect::Collected;
use super::manifest::Manifest;
use crate::report::{
    CommandDetails, Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

/// `evidence -o json`: the bundle's location, the logs' figures and the whole manifest.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceDetails {
    /// The archive (`incident-NAME-TIMESTAMP.tar.gz`) or the `--out-dir` directory.
    pub bundle: PathBuf,
    /// Log files written (current and previous containers).
    pub log_files: usize,
    /// Their size in bytes, after redaction.
    pub log_bytes: u64,
    pub manifest: Manifest,
}

impl CommandDetails for EvidenceDetails {
    const COMMAND: &'static str = "evidence";
}

/// The command's report: the bundle's path and a summary of its contents, then what is missing.
pub fn evidence_report(
    target: ReportTarget,
    collected: &Collected,
    now: jiff::Timestamp,
) -> Report {
    let m = &collected.manifest;
    let total: u64 = m.files.iter().map(|f| f.size).sum();
    let count = |prefix: &str| {
        m.files
            .iter()
            .filter(|f| f.path.starts_with(prefix))
            .count()
    };
    let pass = |id: &str, title: &str, measured: String| {
        Finding::new(id, Step::Infrastructure, Severity::P4, Status::Pass, title).measured(measured)
    };
    let redacted_files = m.files.iter().filter(|f| f.redactions > 0).count();
    let mut findings = vec![
        pass(
            "evidence.bundle",
            "Incident bundle written",
            format!(
                "{} ({} files + manifest.json, {})",
                collected.location.display(),
                m.files.len(),
                human_bytes(total)
            ),
        )
        .evidence(format!(
            "manifest.json: SHA-256 of every file, window {} → {}",
            m.window.start, m.window.end
        )),
        pass(
            "evidence.logs",
            "Pod logs (streamed, redacted)",
            format!(
                "{} log files ({} of previous containers) from {} pods, {}",
                collected.log_files,
                collected.previous_logs,
                m.target.pods.len(),
                human_bytes(collected.log_bytes)
            ),
        ),
        pass(
            "evidence.kubernetes",
            "Deployment, ReplicaSets, pods, events, rollout history, HPA/PDB, Secrets by name",
            format!("{} files under k8s/", count("k8s/")),
        ),
        if count("metrics/") > 0 {
            pass(
                "evidence.metrics",
                "Alert metrics over the window and the chart",
                format!("{} files under metrics/", count("metrics/")),
            )
        } else {
            Finding::new(
                "evidence.metrics",
                Step::Infrastructure,
                Severity::P4,
                Status::Skipped,
                "Alert metrics over the window and the chart",
            )
            .measured("not collected: no Prometheus answered (see manifest.json missing)")
        },
        pass(
            "evidence.documents",
            "triage.md, postmortem.md, communication.md",
            format!(
                "triage: {}",
                super::triage_report::summary(&collected.outcome)
            ),
        ),
        pass(
            "evidence.redactions",
            "Credentials redacted before writing",
            format!(
                "{} Secret value{} redacted{}; {} other credential-shaped string{} blanked; {} file{} touched",
                m.redactions.total,
                crate::report::plural(m.redactions.total),
                if m.redactions.by_source.is_empty() {
                    " (no Secret values to look for)".to_string()
                } else {
                    format!(
                        " ({})",
                        m.redactions
                            .by_source
                            .iter()
                            .map(|s| format!("{} ×{}", s.source, s.count))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                m.redactions.pattern_matches,
                crate::report::plural(m.redactions.pattern_matches),
                redacted_files,
                crate::report::plural(redacted_files),
            ),
        ),
    ];
    if !m.redactions.too_short_to_redact.is_empty() {
        findings.push(
            Finding::new(
                "evidence.redactions.short-values",
                Step::Infrastructure,
                Severity::P4,
                Status::Warn,
                "Secret values too short to redact by value",
            )
            .measured(m.redactions.too_short_to_redact.join(", ")),
        );
    }
    for missing in &m.missing {
        findings.push(
            Finding::new(
                &format!("evidence.missing.{}", missing.source.replace('/', ".")),
                Step::Infrastructure,
                Severity::P4,
                Status::Warn,
                &format!("Not collected: {}", missing.source),
            )
            .measured(missing.reason.clone()),
        );
    }
    let (result, summary) = if m.missing.is_empty() {
        (
            VerdictResult::Pass,
            format!("bundle written to {}", collected.location.display()),
        )
    } else {
        (
            VerdictResult::Warn,
            format!(
                "bundle written to {} ({} source{} missing, listed in manifest.json)",
                collected.location.display(),
                m.missing.len(),
                crate::report::plural(m.missing.len())
            ),
        )
    };
    let verdict = Verdict::decided(result, summary, &findings);
    Report::new("evidence", target, verdict, findings, now).with_details(&EvidenceDetails {
        bundle: collected.location.clone(),
        log_files: collected.log_files,
        log_bytes: collected.log_bytes,
        manifest: m.clone(),
    })
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
