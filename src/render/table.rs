//! The terminal rendering: findings grouped by checklist step, one line each with the measured
//! value, and for anything not passing the title, threshold, evidence and the fix underneath.

use std::fmt::Write as _;

use crate::report::{Report, Status, Step};
use crate::ui::Styles;

pub fn render_table(report: &Report, styles: &Styles) -> String {
    let mut out = String::new();
    let mut header = format!("{} {}", report.command.to_ascii_uppercase(), report.target);
    if let Some(context) = &report.target.context {
        let _ = write!(header, " (context {context})");
    }
    let _ = writeln!(out, "{}", styles.bold(&header));

    let id_width = report
        .findings
        .iter()
        .map(|f| f.id.len())
        .max()
        .unwrap_or(0);
    for step in Step::ALL {
        let findings: Vec<_> = report.findings.iter().filter(|f| f.step == step).collect();
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let title = format!(
            "STEP {}  {}",
            step.number(),
            step.title().to_ascii_uppercase()
        );
        let _ = writeln!(out, "{}", styles.bold(&title));
        for finding in findings {
            let mut line = format!(
                "  {} {}  {:<id_width$}",
                styles.status(finding.status),
                styles.severity(finding.severity),
                finding.id
            );
            if let Some(subject) = &finding.subject {
                let _ = write!(line, "  {}", styles.bold(subject));
            }
            if let Some(measured) = &finding.measured {
                let _ = write!(line, "  {measured}");
            }
            if let Some(location) = &finding.location {
                let _ = write!(line, "  {}", styles.dim(&format!("[{location}]")));
            }
            let _ = writeln!(out, "{}", line.trim_end());
            if finding.status == Status::Pass {
                continue;
            }
            let indent = " ".repeat(2 + 7 + 1 + 2 + 2);
            let _ = writeln!(out, "{indent}{}", finding.title);
            if let Some(expected) = &finding.expected {
                let _ = writeln!(out, "{indent}{} {expected}", styles.dim("expected:"));
            }
            if let Some(evidence) = &finding.evidence {
                let _ = writeln!(out, "{indent}{} {evidence}", styles.dim("from:"));
            }
            if let Some(fix) = &finding.remediation {
                let _ = writeln!(out, "{indent}{} {fix}", styles.note("fix:"));
            }
        }
    }

    let counts = report.verdict.counts;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}  {}  {}",
        styles.bold("VERDICT"),
        styles.verdict(report.verdict.result),
        report.verdict.summary
    );
    let _ = writeln!(
        out,
        "         {} pass, {} warn, {} fail, {} manual, {} skipped",
        counts.pass, counts.warn, counts.fail, counts.manual, counts.skipped
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn table_snapshot_plain() {
        insta::assert_snapshot!(render_table(&sample_report(), &Styles::plain()));
    }

    #[test]
    fn table_colours_only_when_enabled() {
        let report = sample_report();
        assert!(!render_table(&report, &Styles::plain()).contains('\x1b'));
        assert!(render_table(&report, &Styles::colored()).contains('\x1b'));
    }
}
