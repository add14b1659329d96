//! Workflow commands and files of the runner contract: `::error`/`::warning`/`::notice` annotations
//! (escaped as the runner unescapes them), `name=value` / heredoc lines for `$GITHUB_OUTPUT`, and
//! the step summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::render::sarif::{Level, finding_level, finding_message};
use crate::report::Report;

/// The step summary file holds at most 1 MiB; GitHub refuses the whole summary past it.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Escapes an annotation message: `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes an annotation property (`file=`, `title=`): also `:` and `,`, which end a property.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation per failing or warning finding that has a file location. The level follows
/// `fail-on`: `::error` for a finding that blocks the verdict, `::warning` for the others, and
/// `::notice` for P4 ([`finding_level`]). Paths are made relative to the workspace so the
/// annotation lands on the PR's diff.
pub fn annotations(report: &Report, cwd: &Path, workspace: Option<&Path>) -> Vec<String> {
    report
        .findings_worst_first()
        .into_iter()
        .filter_map(|finding| {
            let level = match finding_level(report, finding)? {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Note => "notice",
            };
            let location = finding.location.as_ref()?;
            let file = workspace_relative(&location.file, cwd, workspace);
            let mut properties = format!("file={}", escape_property(&file));
            if let Some(line) = location.line {
                properties.push_str(&format!(",line={line}"));
            }
            let title = format!(
                "{} {} ({})",
                finding.severity.label(),
                finding.title,
                finding.id
            );
            properties.push_str(&format!(",title={}", escape_property(&title)));
            let message = finding_message(finding);
            Some(format!("::{level} {properties}::{}", escape_data(&message)))
        })
        .collect()
}

/// An error annotation without a location: the command stopped (bad input, a cluster error).
pub fn error(message: &str) -> String {
    format!("::error title=kubectl-posthog::{}", escape_data(message))
}

/// A warning annotation without a location (the comment could not be posted, …).
pub fn warning(message: &str) -> String {
    format!("::warning title=kubectl-posthog::{}", escape_data(message))
}

pub fn workspace_relative(file: &str, cwd: &Path, workspace: Option<&Path>) -> String {
    let path = Path::new(file);
    let absolute: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let relative = workspace
        .and_then(|ws| absolute.strip_prefix(ws).ok())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").unwrap_or(&text).to_string()
}

/// The `$GITHUB_OUTPUT` text for `outputs`: `name=value`, or a heredoc when the value spans lines.
/// The delimiter is chosen so it occurs in no value.
pub fn output_lines(outputs: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let mut delimiter = "ghadelimiter_kubectl_posthog".to_string();
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    text
}

/// Appends to a runner file (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`), creating it if needed.
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Writes a whole file through a temporary file in the same directory, so a reader never sees half.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Cuts a summary to the runner's limit at a line boundary, saying so.
pub fn fit_summary(markdown: &str, already_written: usize) -> String {
    let note = "\n\n> The report was cut to fit GitHub's 1 MiB job summary limit; \
                the full report is in the `report-json` output file.\n";
    let room = SUMMARY_LIMIT.saturating_sub(already_written);
    if markdown.len() <= room {
        return markdown.to_string();
    }
    let budget = room.saturating_sub(note.len());
    let mut cut = markdown[..floor_char_boundary(markdown, budget)].to_string();
    if let Some(end) = cut.rfind('\n') {
        cut.truncate(end);
    }
    cut + note
}

pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn annotations_only_for_located_fail_and_warn() {
        let report = sample_report();
        let lines = annotations(&report, Path::new("/ws/app"), Some(Path::new("/ws")));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            lines[0],
            "::error file=app/k8s/production.yaml,line=42,\
             title=P1 No personal (phx_) key where a project key belongs (config.personal-key)\
             ::POSTHOG_API_KEY holds a phx_ key (phx_…3f9a)%0AFix: use the project API key (phc_…) from Project settings"
        );
    }

    /// Guards issue 16: a gate that passes at `fail-on p2` printed `::error` for a P3 failure.
    #[test]
    fn annotation_levels_follow_fail_on() {
        use crate::report::{FailOn, Finding, Severity, Status, Step, Verdict};
        let findings: Vec<Finding> = [
            ("p1", Severity::P1, Status::Fail),
            ("p3", Severity::P3, Status::Fail),
            ("p4", Severity::P4, Status::Fail),
            ("w2", Severity::P2, Status::Warn),
        ]
        .into_iter()
        .map(|(id, severity, status)| {
            Finding::new(id, Step::Configuration, severity, status, id).at("k8s/a.yaml", Some(1))
        })
        .collect();
        let levels = |fail_on| {
            let mut report = sample_report();
            report.verdict = Verdict::judge(&findings, fail_on);
            report.findings = findings.clone();
            annotations(&report, Path::new("/ws"), Some(Path::new("/ws")))
                .iter()
                .map(|l| {
                    let (level, rest) = l[2..].split_once(' ').unwrap();
                    let id = rest.split("::").next().unwrap().rsplit('(').next().unwrap();
                    format!("{level} {}", id.trim_end_matches(')'))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            levels(FailOn::P2),
            ["error p1", "warning p3", "notice p4", "warning w2"]
        );
        assert_eq!(
            levels(FailOn::P3),
            ["error p1", "error p3", "notice p4", "warning w2"]
        );
        assert_eq!(
            levels(FailOn::Never),
            ["warning p1", "warning p3", "notice p4", "warning w2"]
        );
    }

    #[test]
    fn annotation_paths_outside_the_workspace_stay_as_written() {
        assert_eq!(
            workspace_relative(
                "./k8s/a.yaml",
                Path::new("/elsewhere"),
                Some(Path::new("/ws"))
            ),
            "k8s/a.yaml"
        );
        assert_eq!(
            workspace_relative("/ws/k8s/a.yaml", Path::new("/x"), Some(Path::new("/ws"))),
            "k8s/a.yaml"
        );
    }

    #[test]
    fn outputs_use_a_heredoc_for_multiline_values() {
        let text = output_lines(&[
            ("verdict", "fail".into()),
            ("notes", "a\nghadelimiter_kubectl_posthog\nb".into()),
        ]);
        assert_eq!(
            text,
            "verdict=fail\nnotes<<ghadelimiter_kubectl_posthog_\na\nghadelimiter_kubectl_posthog\nb\nghadelimiter_kubectl_posthog_\n"
        );
    }

    #[test]
    fn summary_is_cut_at_a_line_within_the_limit() {
        let line = "| ❌ fail | P1 | x |\n";
        let huge = line.repeat(SUMMARY_LIMIT / line.len() + 10);
        let fitted = fit_summary(&huge, 100);
        assert!(fitted.len() + 100 <= SUMMARY_LIMIT, "{}", fitted.len());
        assert!(fitted.contains("1 MiB job summary limit"));
        let body = fitted.split("\n\n> The report").next().unwrap();
        assert!(body.ends_with("| x |"), "{}", &body[body.len() - 30..]);
        assert_eq!(fit_summary("small", 0), "small");
    }
}
