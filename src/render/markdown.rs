//! GitHub-flavoured Markdown for PR comments and job summaries: the verdict first, the items that
//! need attention in a table, everything else folded into a `<details>` block per checklist step.

use std::fmt::Write as _;

use crate::report::{Finding, Report, Status, Step, VerdictResult, plural};

pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let icon = match report.verdict.result {
        VerdictResult::Pass => "✅",
        VerdictResult::Warn => "⚠️",
        VerdictResult::Fail => "❌",
    };
    let _ = writeln!(
        out,
        "### {icon} kubectl-posthog {}: {} — {}",
        report.command,
        report.verdict.result.label(),
        escape_inline(&report.target.to_string())
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "**{}**", escape_inline(&report.verdict.summary));
    let _ = writeln!(out);

    let summaries = report.subject_summaries();
    if summaries.len() > 1 {
        let _ = writeln!(
            out,
            "| Deployment | Result | Pass | Warn | Fail | Manual | Worst |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for row in &summaries {
            let worst = row.worst.map_or(String::new(), |f| {
                format!("{} `{}` {}", f.severity.label(), f.id, cell(&f.title))
            });
            let c = row.counts;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {worst} |",
                cell(row.subject),
                row.result.label(),
                c.pass,
                c.warn,
                c.fail,
                c.manual
            );
        }
        let _ = writeln!(out);
    }

    let attention: Vec<&Finding> = report
        .findings_worst_first()
        .into_iter()
        .filter(|f| f.status != Status::Pass && f.status != Status::Skipped)
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(out, "| Status | Severity | Check | Measured | Fix |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for finding in &attention {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                status_cell(finding.status),
                finding.severity.label(),
                check_cell(finding),
                measured_cell(finding),
                cell(finding.remediation.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(out);
    }

    let counts = report.verdict.counts;
    let total = report.findings.len();
    let _ = writeln!(
        out,
        "<details><summary>All {total} finding{} by checklist step ({} pass, {} warn, {} fail, {} manual, {} skipped)</summary>",
        plural(total),
        counts.pass,
        counts.warn,
        counts.fail,
        counts.manual,
        counts.skipped
    );
    let _ = writeln!(out);
    for step in Step::ALL {
        let findings: Vec<&Finding> = report.findings.iter().filter(|f| f.step == step).collect();
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out, "#### Step {} · {}", step.number(), step.title());
        let _ = writeln!(out);
        let _ = writeln!(out, "| Status | Severity | Check | Measured |");
        let _ = writeln!(out, "|---|---|---|---|");
        for finding in findings {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                status_cell(finding.status),
                finding.severity.label(),
                check_cell(finding),
                measured_cell(finding)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "</details>");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "<sub>kubectl-posthog {} · report schema {} · {}</sub>",
        report.tool_version, report.schema_version, report.generated_at
    );
    out
}

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
        Status::Skipped => "⏭️ skipped",
        Status::Manual => "📝 manual",
    }
}

fn check_cell(finding: &Finding) -> String {
    match &finding.subject {
        Some(subject) => format!(
            "`{}`<br>{}<br>{}",
            finding.id,
            cell(&finding.title),
            cell(subject)
        ),
        None => format!("`{}`<br>{}", finding.id, cell(&finding.title)),
    }
}

fn measured_cell(finding: &Finding) -> String {
    let mut text = cell(finding.measured.as_deref().unwrap_or("—"));
    if let Some(expected) = &finding.expected {
        let _ = write!(text, "<br>expected: {}", cell(expected));
    }
    if let Some(location) = &finding.location {
        let _ = write!(text, "<br>`{}`", location.to_string().replace('`', "'"));
    }
    // The query or request behind the value, as users of rollout tools asked to see it.
    if let Some(evidence) = &finding.evidence {
        let _ = write!(text, "<br>from: {}", cell(evidence));
    }
    text
}

/// Table cells cannot hold pipes or newlines, and angle brackets would open HTML.
fn cell(text: &str) -> String {
    escape_inline(text)
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

fn escape_inline(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(render_markdown(&sample_report()));
    }

    #[test]
    fn cells_escape_pipes_newlines_and_html() {
        assert_eq!(cell("a|b\nc<d>"), "a\\|b<br>c&lt;d&gt;");
    }

    #[test]
    fn failing_items_come_first() {
        let md = render_markdown(&sample_report());
        let fail = md.find("config.personal-key").unwrap();
        let warn = md.find("infra.image-pinned").unwrap();
        assert!(fail < warn);
        assert!(md.starts_with("### ❌"));
        assert!(
            md.contains("from: secret posthog-secrets key api-key"),
            "{md}"
        );
    }
}
