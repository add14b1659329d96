//! The terminal rendering: findings grouped by checklist step, one line each with the measured
//! value, and for anything not passing the title, threshold, evidence and the fix underneath.

use std::fmt::Write as _;

use crate::report::{Finding, Report, Status, Step};
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
    let summaries = report.subject_summaries();
    if summaries.len() > 1 {
        // Many Deployments: one line each, worst first, then each one's findings together.
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", styles.bold("DEPLOYMENTS"));
        let width = summaries.iter().map(|r| r.subject.len()).max().unwrap_or(0);
        for row in &summaries {
            let c = row.counts;
            let mut line = format!(
                "  {}  {:<width$}  {} pass, {} warn, {} fail, {} manual",
                styles.verdict(row.result),
                row.subject,
                c.pass,
                c.warn,
                c.fail,
                c.manual
            );
            if let Some(worst) = row.worst {
                let _ = write!(
                    line,
                    "  worst: {} {}",
                    styles.severity(worst.severity),
                    worst.id
                );
            }
            let _ = writeln!(out, "{line}");
        }
        let general: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.subject.is_none())
            .collect();
        steps(&mut out, &general, id_width, styles);
        for row in &summaries {
            let mine: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.subject.as_deref() == Some(row.subject))
                .collect();
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", styles.bold(&format!("== {}", row.subject)));
            steps(&mut out, &mine, id_width, styles);
        }
    } else {
        let all: Vec<&Finding> = report.findings.iter().collect();
        steps(&mut out, &all, id_width, styles);
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

/// The findings grouped by checklist step, one line each, details under what does not pass.
fn steps(out: &mut String, findings: &[&Finding], id_width: usize, styles: &Styles) {
    for step in Step::ALL {
        let in_step: Vec<&Finding> = findings
            .iter()
            .copied()
            .filter(|f| f.step == step)
            .collect();
        if in_step.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let title = format!(
            "STEP {}  {}",
            step.number(),
            step.title().to_ascii_uppercase()
        );
        let _ = writeln!(out, "{}", styles.bold(&title));
        for finding in in_step {
            let mut line = format!(
                "  {} {}  {:<id_width$}",
                styles.status(finding.status),
                severity(styles, finding),
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
}

/// Severity is coloured only where it matters: a passing or skipped line is not alarming.
fn severity(styles: &Styles, finding: &Finding) -> String {
    match finding.status {
        Status::Pass | Status::Skipped => styles.dim(finding.severity.label()),
        _ => styles.severity(finding.severity),
    }
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

    #[test]
    fn a_passing_line_does_not_show_a_red_severity() {
        // Issue 17: `PASS P1 config.api-key-from-secret` had a bold red P1.
        let table = render_table(&sample_report(), &Styles::colored());
        let pass_line = table
            .lines()
            .find(|l| l.contains("config.api-key-from-secret"))
            .unwrap();
        let red_p1 = Styles::colored().bad("P1");
        assert!(!pass_line.contains(&red_p1), "{pass_line:?}");
        let fail_line = table
            .lines()
            .find(|l| l.contains("config.personal-key"))
            .unwrap();
        assert!(fail_line.contains(&red_p1), "{fail_line:?}");
    }

    pub(crate) fn many_deployments() -> crate::report::Report {
        use crate::report::{FailOn, Finding, Severity, Status, Step, Verdict};
        let f = |subject: &str, id: &str, severity, status| {
            Finding::new(id, Step::Configuration, severity, status, id).subject(subject)
        };
        let findings = vec![
            f(
                "deployment/prod/api",
                "config.a",
                Severity::P2,
                Status::Pass,
            ),
            f(
                "deployment/prod/web",
                "infra.pdb",
                Severity::P2,
                Status::Fail,
            ),
            f(
                "deployment/prod/api",
                "config.b",
                Severity::P3,
                Status::Warn,
            ),
            f(
                "deployment/prod/web",
                "config.personal-key",
                Severity::P1,
                Status::Fail,
            ),
            f(
                "deployment/prod/mail",
                "config.a",
                Severity::P1,
                Status::Pass,
            ),
        ];
        let mut report = sample_report();
        report.verdict = Verdict::judge(&findings, FailOn::P2);
        report.findings = findings;
        report
    }

    #[test]
    fn many_deployments_get_a_summary_worst_first_and_their_findings_together() {
        let report = many_deployments();
        // Issue 17: the verdict named a P2 finding as "first" after "worst P1".
        assert!(
            report.verdict.summary.contains("worst P1")
                && report
                    .verdict
                    .summary
                    .contains("first: config.personal-key"),
            "{}",
            report.verdict.summary
        );
        let table = render_table(&report, &Styles::plain());
        let summary: Vec<&str> = table
            .lines()
            .skip_while(|l| *l != "DEPLOYMENTS")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(summary.len(), 3, "{table}");
        assert!(
            summary[0].starts_with("  FAIL  deployment/prod/web "),
            "{summary:?}"
        );
        assert!(
            summary[0].ends_with("worst: P1 config.personal-key"),
            "{summary:?}"
        );
        assert!(
            summary[1].contains("WARN  deployment/prod/api"),
            "{summary:?}"
        );
        assert!(
            summary[2].contains("PASS  deployment/prod/mail"),
            "{summary:?}"
        );
        let web = table.find("== deployment/prod/web").unwrap();
        let api = table.find("== deployment/prod/api").unwrap();
        let pdb = table.find("infra.pdb").unwrap();
        assert!(web < pdb && pdb < api, "web's findings together:\n{table}");
        let markdown = crate::render::render_markdown(&report);
        assert!(
            markdown.contains(
                "| deployment/prod/web | FAIL | 0 | 0 | 2 | 0 | P1 `config.personal-key`"
            ),
            "{markdown}"
        );
    }
}
