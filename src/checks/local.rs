//! The repository side of the checklist: documentation files, test results and the credential
//! scan. Read once from disk into plain data the checks judge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::scan::ScanResult;
use super::{DocsConfig, TestStatus, TestsConfig};

/// What the repository shows.
#[derive(Debug, Clone, Default)]
pub struct LocalFacts {
    pub root: PathBuf,
    /// Per documentation check id, the first configured path that exists.
    pub docs: BTreeMap<&'static str, Option<String>>,
    /// Per documentation check id, the paths that were looked for.
    pub docs_searched: BTreeMap<&'static str, Vec<String>>,
    pub tests: TestsEvidence,
    pub scan: Option<ScanResult>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum TestsEvidence {
    /// Nothing configured: a person must attest.
    #[default]
    None,
    Junit {
        file: String,
        tests: u64,
        failures: u64,
        errors: u64,
    },
    /// The JUnit file is configured but cannot be used.
    JunitUnreadable { file: String, cause: String },
    Reported {
        status: TestStatus,
        link: Option<String>,
    },
}

pub const DOC_CHECKS: [&str; 4] = [
    "docs.incident-runbook",
    "docs.key-rotation",
    "docs.rollback",
    "docs.on-call",
];

pub fn doc_paths<'a>(docs: &'a DocsConfig, id: &str) -> &'a [String] {
    match id {
        "docs.incident-runbook" => &docs.incident_runbook,
        "docs.key-rotation" => &docs.key_rotation,
        "docs.rollback" => &docs.rollback,
        _ => &docs.on_call,
    }
}

pub fn gather(
    root: &Path,
    docs: &DocsConfig,
    tests: &TestsConfig,
    scan: Option<ScanResult>,
) -> LocalFacts {
    let mut facts = LocalFacts {
        root: root.to_path_buf(),
        scan,
        ..LocalFacts::default()
    };
    for id in DOC_CHECKS {
        let paths = doc_paths(docs, id);
        let found = paths.iter().find(|p| root.join(p).is_file()).cloned();
        facts.docs.insert(id, found);
        facts.docs_searched.insert(id, paths.to_vec());
    }
    facts.tests = if let Some(file) = &tests.junit {
        match std::fs::read_to_string(root.join(file)) {
            Ok(text) => match parse_junit(&text) {
                Some((tests, failures, errors)) => TestsEvidence::Junit {
                    file: file.clone(),
                    tests,
                    failures,
                    errors,
                },
                None => TestsEvidence::JunitUnreadable {
                    file: file.clone(),
                    cause: "no <testsuite> element with a tests= count".to_string(),
                },
            },
            Err(e) => TestsEvidence::JunitUnreadable {
                file: file.clone(),
                cause: e.to_string(),
            },
        }
    } else if let Some(status) = tests.status {
        TestsEvidence::Reported {
            status,
            link: tests.link.clone(),
        }
    } else {
        TestsEvidence::None
    };
    facts
}

static SUITES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<testsuites?\b([^>]*)>").unwrap_or_else(|e| unreachable!("{e}")));

fn attr(attrs: &str, name: &str) -> Option<u64> {
    let pattern = format!(r#"\b{name}\s*=\s*["'](\d+)["']"#);
    Regex::new(&pattern)
        .ok()?
        .captures(attrs)
        .and_then(|c| c[1].parse().ok())
}

/// Totals of a JUnit XML report: `<testsuites tests failures errors>` when the root has them,
/// else the sum over `<testsuite>` elements.
pub fn parse_junit(text: &str) -> Option<(u64, u64, u64)> {
    let mut elements = SUITES.captures_iter(text).map(|c| {
        let is_root = c[0].starts_with("<testsuites");
        (is_root, c[1].to_string())
    });
    let all: Vec<(bool, String)> = elements.by_ref().collect();
    if let Some((_, attrs)) = all
        .iter()
        .find(|(root, a)| *root && attr(a, "tests").is_some())
    {
        return Some((
            attr(attrs, "tests")?,
            attr(attrs, "failures").unwrap_or(0),
            attr(attrs, "errors").unwrap_or(0),
        ));
    }
    let suites: Vec<&String> = all
        .iter()
        .filter(|(root, _)| !root)
        .map(|(_, a)| a)
        .collect();
    if suites.is_empty() || suites.iter().all(|a| attr(a, "tests").is_none()) {
        return None;
    }
    let sum = |name: &str| suites.iter().filter_map(|a| attr(a, name)).sum::<u64>();
    Some((sum("tests"), sum("failures"), sum("errors")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_totals() {
        let root = r#"<?xml version="1.0"?><testsuites tests="12" failures="1" errors="0"><testsuite tests="12"/></testsuites>"#;
        assert_eq!(parse_junit(root), Some((12, 1, 0)));
        let suites = r#"<testsuites><testsuite name="a" tests="3" failures="0" errors="1"></testsuite><testsuite name="b" tests='4' failures='2'></testsuite></testsuites>"#;
        assert_eq!(parse_junit(suites), Some((7, 2, 1)));
        assert_eq!(parse_junit("<html></html>"), None);
    }

    #[test]
    fn docs_are_found_by_configured_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/rollback.md"), "# Rollback").unwrap();
        let facts = gather(
            dir.path(),
            &DocsConfig::default(),
            &TestsConfig::default(),
            None,
        );
        assert_eq!(
            facts.docs["docs.rollback"].as_deref(),
            Some("docs/rollback.md")
        );
        assert_eq!(facts.docs["docs.incident-runbook"], None);
        assert_eq!(facts.tests, TestsEvidence::None);
    }
}
