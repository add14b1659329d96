//! `index.html` at the top of the bundle: one self-contained page for the person writing the
//! postmortem — the verdict, the canaries and rollbacks, the timeline, the chart inline, the
//! triage's decision path and a link to every file. No script, no style sheet, font or image
//! from anywhere: it opens from the unpacked directory with no network.

use std::fmt::Write as _;

use super::history::Episode;
use super::timeline::TimelineEntry;
use super::triage::{Answer, TriageOutcome};

pub struct IndexInputs<'a> {
    pub deployment: &'a str,
    pub namespace: &'a str,
    pub outcome: &'a TriageOutcome,
    pub detected: Option<(jiff::Timestamp, String)>,
    pub episodes: &'a [Episode],
    pub timeline: &'a [TimelineEntry],
    /// `metrics/chart.svg`, already redacted; inlined.
    pub chart_svg: Option<&'a str>,
    /// Every file of the bundle, relative paths.
    pub files: &'a [String],
    pub now: jiff::Timestamp,
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A bundle path as a relative link (each segment percent-encoded where needed).
fn href(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The chart without its XML prolog, to sit inside the page.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or("", |at| &svg[at..])
}

pub fn index_html(inputs: &IndexInputs) -> String {
    let o = inputs.outcome;
    let mut h = String::new();
    let title = format!(
        "Incident evidence: deployment/{} in {}",
        inputs.deployment, inputs.namespace
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1150px;margin:1em auto;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}\
         .problem{{color:#b00}}.verdict{{font-size:1.2em;padding:.5em;border-left:6px solid #b00;background:#fbeaea}}\
         </style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<p class=\"verdict\"><strong>{}</strong>: {}</p>",
        escape(o.severity.label()),
        escape(o.conclusion)
    );
    match &inputs.detected {
        Some((at, what)) => {
            let _ = writeln!(
                h,
                "<p>Detected {} UTC ({}); evidence collected {} UTC.</p>",
                at.strftime("%Y-%m-%d %H:%M:%S"),
                escape(what),
                inputs.now.strftime("%H:%M:%S")
            );
        }
        None => {
            let _ = writeln!(
                h,
                "<p>No first evidence of a problem found; evidence collected {} UTC.</p>",
                inputs.now.strftime("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    if !inputs.episodes.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Canaries and rollbacks</h2>\n<table>\n<tr><th>started (UTC)</th><th>what</th><th>outcome</th></tr>"
        );
        for e in inputs.episodes {
            let _ = writeln!(
                h,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
                if e.problem { " class=\"problem\"" } else { "" },
                e.started.strftime("%H:%M:%S"),
                escape(&e.title()),
                escape(&e.outcome)
            );
        }
        let _ = writeln!(h, "</table>");
    }
    if let Some(svg) = inputs.chart_svg {
        let _ = writeln!(h, "<h2>Metrics</h2>\n<figure>{}</figure>", inline_svg(svg));
    }
    let _ = writeln!(h, "<h2>Triage decision path</h2>\n<ol>");
    for step in &o.path {
        let answer = match step.answer {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Unknown => "unknown",
        };
        let _ = writeln!(
            h,
            "<li>{} <strong>{answer}</strong>: {}</li>",
            escape(step.question),
            escape(&step.because)
        );
    }
    let _ = writeln!(h, "</ol>");
    for caveat in &o.caveats {
        let _ = writeln!(h, "<p><em>Caveat:</em> {}</p>", escape(caveat));
    }
    let _ = writeln!(h, "<h2>Timeline</h2>\n<table>");
    for entry in inputs.timeline {
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
            if entry.problem {
                " class=\"problem\""
            } else {
                ""
            },
            entry.at.strftime("%H:%M:%S"),
            escape(entry.source),
            escape(&entry.text)
        );
    }
    let _ = writeln!(h, "</table>\n<h2>Files</h2>\n<ul>");
    for file in inputs.files {
        let _ = writeln!(
            h,
            "<li><a href=\"{}\">{}</a></li>",
            href(file),
            escape(file)
        );
    }
    let _ = writeln!(h, "</ul>\n</body>\n</html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::triage::{Branch, DecisionStep};
    use crate::report::Severity;

    fn outcome() -> TriageOutcome {
        TriageOutcome {
            branch: Branch::Integration,
            severity: Severity::P1,
            conclusion: "our integration issue",
            path: vec![DecisionStep {
                question: "PostHog API returning errors?",
                answer: Answer::Yes,
                because: "5xx at 600/min <b>".into(),
            }],
            errors: vec![],
            service_problems: vec![],
            actions: vec![],
            caveats: vec![],
        }
    }

    /// Issue 18 (beyond): one page, nothing fetched from anywhere, every file linked.
    #[test]
    fn the_index_is_self_contained_and_links_every_file() {
        let o = outcome();
        let files = vec![
            "postmortem.md".to_string(),
            "logs/web-1/app.log".to_string(),
            "metrics/chart.svg".to_string(),
        ];
        let timeline = vec![TimelineEntry {
            at: "2026-11-22T09:01:00Z".parse().unwrap(),
            source: "canary",
            text: "canary #1 aborted by analysis: <script>alert(1)</script>".into(),
            problem: true,
        }];
        let html = index_html(&IndexInputs {
            deployment: "web",
            namespace: "prod",
            outcome: &o,
            detected: Some((
                "2026-11-22T09:00:30Z".parse().unwrap(),
                "first errors-5xx sample over the 10/min threshold".into(),
            )),
            episodes: &[],
            timeline: &timeline,
            chart_svg: Some(
                "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>",
            ),
            files: &files,
            now: "2026-11-22T09:30:00Z".parse().unwrap(),
        });
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<figure><svg"), "the chart is inline");
        assert!(!html.contains("<?xml"));
        for file in &files {
            assert!(html.contains(&format!("<a href=\"{file}\">")), "{file}");
        }
        assert!(html.contains("P1") && html.contains("our integration issue"));
        assert!(html.contains("Detected 2026-11-22 09:00:30 UTC"));
        assert!(!html.contains("<script"), "text is escaped");
        assert!(html.contains("&lt;b&gt;"));
        // Nothing leaves the page: no src or href to anywhere but the bundle's own files, and
        // the content security policy forbids it.
        for attr in [
            "src=\"http",
            "href=\"http",
            "href=\"//",
            "url(http",
            "@import",
        ] {
            assert!(!html.contains(attr), "{attr}");
        }
        assert!(html.contains("default-src 'none'"));
    }
}
