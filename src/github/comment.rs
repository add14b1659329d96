//! The sticky comment's body: a hidden marker per command and target, the Markdown report, a footer
//! linking the run, and truncation to GitHub's comment limit with a pointer to the job summary.
//!
//! The body is deterministic for a given report and run (no timestamps), so re-running the same
//! job finds the comment unchanged and writes nothing.

use crate::report::Report;

/// GitHub refuses comment bodies longer than this many characters (422 "body is too long").
pub const COMMENT_LIMIT: usize = 65_536;

/// The hidden marker that identifies this tool's comment for one command and target.
pub fn marker(report: &Report) -> String {
    let target = match &report.target.namespace {
        Some(ns) => format!("{ns}/{}", report.target.name),
        None => report.target.name.clone(),
    };
    // `--` would end the HTML comment early.
    let target = target.replace("--", "-");
    format!("<!-- kubectl-posthog:{}:{target} -->", report.command)
}

/// Where the comment sends readers for everything: the run (its job summary holds the full report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLink {
    pub run_url: Option<String>,
    pub sha: Option<String>,
}

/// The full comment body for `markdown` (the report rendered by `report::render_markdown`).
pub fn body(report: &Report, markdown: &str, link: &RunLink) -> String {
    body_within(report, markdown, link, COMMENT_LIMIT)
}

pub(crate) fn body_within(report: &Report, markdown: &str, link: &RunLink, limit: usize) -> String {
    let marker = marker(report);
    let main = without_renderer_footer(markdown).trim_end();
    let footer = footer(report, link);
    let whole = format!("{marker}\n{main}\n\n{footer}\n");
    if whole.chars().count() <= limit {
        return whole;
    }
    let note = match &link.run_url {
        Some(url) => format!(
            "> ✂️ This comment was cut to fit GitHub's {COMMENT_LIMIT}-character limit. \
             The full report is in the [job summary]({url}) and the `report-json` output."
        ),
        None => format!(
            "> ✂️ This comment was cut to fit GitHub's {COMMENT_LIMIT}-character limit. \
             The full report is in the job summary and the `report-json` output."
        ),
    };
    // Room for the marker, the closing tags, the note and the footer, with slack for newlines.
    let fixed = marker.chars().count() + note.chars().count() + footer.chars().count() + 64;
    let room = limit.saturating_sub(fixed);
    let mut kept = String::new();
    let mut used = 0;
    for line in main.lines() {
        let cost = line.chars().count() + 1;
        if used + cost > room {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        used += cost;
    }
    let opened = kept.matches("<details>").count();
    let closed = kept.matches("</details>").count();
    let mut closing = String::new();
    for _ in closed..opened {
        closing.push_str("\n</details>\n");
    }
    format!(
        "{marker}\n{}{closing}\n{note}\n\n{footer}\n",
        kept.trim_end()
    )
}

/// The fallback body when GitHub refuses the full one: the verdict and where to read the rest.
pub fn short_body(report: &Report, link: &RunLink) -> String {
    let where_ = match &link.run_url {
        Some(url) => format!("the [job summary]({url})"),
        None => "the job summary".to_string(),
    };
    format!(
        "{}\n### kubectl-posthog {}: {} — {}\n\n**{}**\n\nThe full report is in {where_} and the `report-json` output.\n\n{}\n",
        marker(report),
        report.command,
        report.verdict.result.label(),
        report.target,
        report.verdict.summary,
        footer(report, link)
    )
}

/// The renderer's last line carries the generation time; the comment uses its own footer instead
/// so that an unchanged report gives an unchanged body.
fn without_renderer_footer(markdown: &str) -> &str {
    let trimmed = markdown.trim_end();
    match trimmed.rfind('\n') {
        Some(start) if trimmed[start + 1..].starts_with("<sub>kubectl-posthog ") => {
            &trimmed[..start]
        }
        _ => trimmed,
    }
}

fn footer(report: &Report, link: &RunLink) -> String {
    let mut parts = vec![format!("kubectl-posthog {}", report.tool_version)];
    if let Some(url) = &link.run_url {
        parts.push(format!("[workflow run]({url})"));
    }
    if let Some(sha) = &link.sha {
        parts.push(format!("commit {}", &sha[..sha.len().min(12)]));
    }
    format!("<sub>{}</sub>", parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render_markdown;
    use crate::report::tests::sample_report;

    fn link() -> RunLink {
        RunLink {
            run_url: Some("https://github.com/acme/app/actions/runs/42".into()),
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        }
    }

    #[test]
    fn marker_names_command_and_target() {
        assert_eq!(
            marker(&sample_report()),
            "<!-- kubectl-posthog:preflight:prod/posthog-integration -->"
        );
    }

    #[test]
    fn body_has_marker_verdict_first_and_run_link_without_timestamp() {
        let report = sample_report();
        let body = body(&report, &render_markdown(&report), &link());
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], marker(&report));
        assert!(
            lines[1].starts_with("### ❌ kubectl-posthog preflight: FAIL"),
            "{}",
            lines[1]
        );
        assert!(body.contains("<details>"));
        assert!(
            body.contains("POSTHOG_API_KEY holds a phx_ key"),
            "measured values shown"
        );
        assert!(body.ends_with(
            "<sub>kubectl-posthog 0.1.0 · [workflow run](https://github.com/acme/app/actions/runs/42) · commit 0123456789ab</sub>\n"
        ), "{body}");
        // Guards the renderer's footer format: a timestamp in the body would defeat "unchanged".
        assert!(!body.contains("2026-11-22T10:00:00Z"), "{body}");
    }

    #[test]
    fn same_report_gives_the_same_body_at_another_time() {
        let mut report = sample_report();
        let first = body(&report, &render_markdown(&report), &link());
        report.generated_at = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(first, body(&report, &render_markdown(&report), &link()));
    }

    #[test]
    fn over_long_body_is_cut_with_a_pointer_to_the_summary() {
        let report = sample_report();
        let mut markdown = render_markdown(&report);
        let filler: String = (0..3000)
            .map(|i| format!("| ✅ pass | P4 | `check.{i}` | measured value number {i} |\n"))
            .collect();
        markdown = markdown.replace("</details>", &format!("{filler}</details>"));
        let body = body(&report, &markdown, &link());
        assert!(
            body.chars().count() <= COMMENT_LIMIT,
            "{}",
            body.chars().count()
        );
        assert!(body.contains("cut to fit GitHub's 65536-character limit"));
        assert!(body.contains("[job summary](https://github.com/acme/app/actions/runs/42)"));
        assert_eq!(
            body.matches("<details>").count(),
            body.matches("</details>").count()
        );
        assert!(body.starts_with(&marker(&report)));
        assert!(
            body.contains("config.personal-key"),
            "failing items survive the cut"
        );
    }
}
