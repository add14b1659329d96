//! Turning a [`Report`] into what is written to stdout: a table for people, JSON or YAML for
//! programs, Markdown for pull requests and job summaries, SARIF for code scanning. The one place
//! a format is chosen.

mod markdown;
pub mod sarif;
mod table;

pub use markdown::render_markdown;
pub use sarif::render_sarif;
pub use table::render_table;

use crate::report::Report;
use crate::ui::Styles;

/// `-o`: how a report is written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Markdown,
    /// SARIF 2.1.0: failing and warning findings with a file location, for code scanning.
    Sarif,
}

impl Format {
    /// Machine-readable output keeps stderr free of progress drawing.
    pub fn is_machine_readable(self) -> bool {
        matches!(self, Format::Json | Format::Yaml | Format::Sarif)
    }
}

/// The report in `format`; `styles` colour the table only.
pub fn render(report: &Report, format: Format, styles: &Styles) -> String {
    let preface = report.preface.as_ref();
    let (before, only) = match (format, preface) {
        (Format::Table, Some(p)) => (p.table.as_str(), p.only),
        (Format::Markdown, Some(p)) => (p.markdown.as_str(), p.only),
        _ => ("", false),
    };
    let body = match format {
        _ if only => String::new(),
        Format::Table => render_table(report, styles),
        Format::Json => format!("{}\n", report.to_json()),
        Format::Yaml => report.to_yaml(),
        Format::Markdown => render_markdown(report),
        Format::Sarif => render_sarif(report),
    };
    format!("{before}{body}")
}
