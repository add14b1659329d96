//! The sticky comment's body: a hidden marker per command, target selection and optional key, the
//! Markdown report, a footer linking the run, and truncation to GitHub's comment limit with a
//! pointer to the job summary.
//!
//! The marker depends on what was asked for, never on what was found: `--all` is `*` whatever the
//! number of Deployments it matched, so a growing set keeps one comment. Bodies are compared
//! without what only names the run (the footer, links to the run), so a later run with the same
//! report writes nothing: the footer then names the run that last changed the report.

use crate::report::Report;

/// GitHub refuses comment bodies longer than this many characters (422 "body is too long").
pub const COMMENT_LIMIT: usize = 65_536;

/// The hidden marker that identifies this tool's comment for one command, target selection and
/// optional user-given key: `<!-- kubectl-posthog:preflight:prod/web -->`,
/// `<!-- kubectl-posthog:preflight:prod/*:staging -->`.
#[derive(Debug, Clone)]
pub struct Marker {
    text: String,
    target: String,
    /// Earlier versions put the count of Deployments into the marker for `--all`
    /// (`prod/* (3 using PostHog)`): such a comment is ours too, and is taken over.
    legacy: Option<regex::Regex>,
}

impl Marker {
    pub fn of(report: &Report, key: Option<&str>) -> Marker {
        let target = selection(report);
        let mut inner = format!("kubectl-posthog:{}:{target}", report.command);
        if let Some(key) = key.map(sanitize).filter(|k| !k.is_empty()) {
            inner.push(':');
            inner.push_str(&key);
        }
        let legacy = (key.is_none() && target.ends_with('*')).then(|| {
            let prefix = regex::escape(&format!("kubectl-posthog:{}:{target}", report.command));
            regex::Regex::new(&format!(r"<!-- {prefix} \(\d+ using PostHog\) -->"))
        });
        Marker {
            text: format!("<!-- {} -->", inner.replace("--", "-")),
            target,
            legacy: legacy.and_then(Result::ok),
        }
    }

    /// The HTML comment itself.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `NAMESPACE/NAME` or `NAMESPACE/*`: names the check run and the code-scanning category.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether a comment body carries this marker.
    pub fn matches(&self, body: &str) -> bool {
        body.contains(&self.text) || self.legacy.as_ref().is_some_and(|re| re.is_match(body))
    }
}

/// The target as selected: a Deployment, or `*` for `--all` (whose report names the count found).
fn selection(report: &Report) -> String {
    let name = &report.target.name;
    let name = if name == "*" || name.starts_with("* (") {
        "*"
    } else {
        name.as_str()
    };
    let target = match &report.target.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    // `--` would end the HTML comment early.
    target.replace("--", "-")
}

/// A user's key as it may appear in the marker: letters, digits, `.`, `_`, `/`, `-`.
fn sanitize(key: &str) -> String {
    let cleaned: String = key
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::new();
    for c in cleaned.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// A body as compared with the one already posted: without the footer line and with every link to
/// a workflow run (the cut note's link to the job summary) reduced to one placeholder, so that a
/// new run of an unchanged report is "unchanged".
pub fn comparable(body: &str) -> String {
    static RUN_LINK: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let normalized = body.replace("\r\n", "\n");
    let mut kept: Vec<&str> = normalized.trim_end().lines().collect();
    if kept
        .last()
        .is_some_and(|l| l.starts_with("<sub>kubectl-posthog "))
    {
        kept.pop();
    }
    let text = kept.join("\n");
    let re = RUN_LINK.get_or_init(|| {
        regex::Regex::new(r"https?://[^\s)\]]*/actions/runs/\d+(?:/attempts/\d+)?").ok()
    });
    match re {
        Some(re) => re.replace_all(text.trim_end(), "RUN").into_owned(),
        None => text.trim_end().to_string(),
    }
}

/// Where the comment sends readers for everything: the run (its job summary holds the full report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLink {
    pub run_url: Option<String>,
    pub sha: Option<String>,
}

/// The full comment body for `markdown` (the report rendered by `report::render_markdown`).
pub fn body(report: &Report, marker: &Marker, markdown: &str, link: &RunLink) -> String {
    body_within(report, marker, markdown, link, COMMENT_LIMIT)
}

/// The body cut to `limit` characters (a check run's summary allows 65,535).
pub(crate) fn body_within(
    report: &Report,
    marker: &Marker,
    markdown: &str,
    link: &RunLink,
    limit: usize,
) -> String {
    let marker = marker.text();
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
pub fn short_body(report: &Report, marker: &Marker, link: &RunLink) -> String {
    let where_ = match &link.run_url {
        Some(url) => format!("the [job summary]({url})"),
        None => "the job summary".to_string(),
    };
    format!(
        "{}\n### kubectl-posthog {}: {} — {}\n\n**{}**\n\nThe full report is in {where_} and the `report-json` output.\n\n{}\n",
        marker.text(),
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

    fn marker(report: &Report) -> String {
        Marker::of(report, None).text().to_string()
    }

    fn body(report: &Report, markdown: &str, link: &RunLink) -> String {
        super::body(report, &Marker::of(report, None), markdown, link)
    }

    #[test]
    fn marker_names_command_and_target() {
        assert_eq!(
            marker(&sample_report()),
            "<!-- kubectl-posthog:preflight:prod/posthog-integration -->"
        );
        let keyed = Marker::of(&sample_report(), Some("eu prod--2"));
        assert_eq!(
            keyed.text(),
            "<!-- kubectl-posthog:preflight:prod/posthog-integration:eu-prod-2 -->"
        );
    }

    /// Guards issue 16: `--all` put the Deployment count into the marker, so one more Deployment
    /// posted a second comment.
    #[test]
    fn all_deployments_marker_ignores_how_many_were_found() {
        let mut report = sample_report();
        report.target.name = "* (3 using PostHog)".into();
        let three = Marker::of(&report, None);
        report.target.name = "* (4 using PostHog)".into();
        let four = Marker::of(&report, None);
        assert_eq!(three.text(), "<!-- kubectl-posthog:preflight:prod/* -->");
        assert_eq!(three.text(), four.text());
        // A comment from a version that counted is taken over, but not another target's.
        assert!(four.matches("<!-- kubectl-posthog:preflight:prod/* (3 using PostHog) -->\nold"));
        assert!(!four.matches("<!-- kubectl-posthog:preflight:staging/* (3 using PostHog) -->"));
        assert!(!four.matches("<!-- kubectl-posthog:canary:prod/* (3 using PostHog) -->"));
        assert!(
            !Marker::of(&report, Some("k"))
                .matches("<!-- kubectl-posthog:preflight:prod/* (3 using PostHog) -->")
        );
    }

    /// Guards issue 16: every real run has a new run id, and the body linked it, so "left alone
    /// when unchanged" never happened on GitHub.
    #[test]
    fn bodies_of_another_run_compare_equal_and_changed_reports_do_not() {
        let report = sample_report();
        let markdown = render_markdown(&report);
        let other_run = RunLink {
            run_url: Some("https://github.com/acme/app/actions/runs/43/attempts/2".into()),
            sha: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
        };
        let first = body(&report, &markdown, &link());
        let second = body(&report, &markdown, &other_run);
        assert_ne!(first, second);
        assert_eq!(comparable(&first), comparable(&second));
        assert_eq!(
            comparable(&first.replace('\n', "\r\n")),
            comparable(&second)
        );
        let changed = body(&report, &markdown.replace("phx_", "phc_"), &other_run);
        assert_ne!(comparable(&first), comparable(&changed));
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
        let other_run = RunLink {
            run_url: Some("https://github.com/acme/app/actions/runs/77".into()),
            sha: None,
        };
        assert_eq!(
            comparable(&body),
            comparable(&super::body(
                &report,
                &Marker::of(&report, None),
                &markdown,
                &other_run
            )),
            "the cut note's link to the run is not a change"
        );
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
