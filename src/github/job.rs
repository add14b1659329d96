//! What the writes to GitHub (comments, check run, code-scanning upload) share: the run they
//! belong to, the repository and client, what they did, and the warning a refusal becomes — with
//! what to do about a 403, which depends on the event (a fork's read-only token) and the write
//! (the permission it needs).

use std::path::Path;

use serde_json::Value;

use super::api::{ApiError, GithubClient};
use super::comment::Marker;
use super::env::GithubEnv;
use super::event;
use super::options::PublishOptions;
use crate::report::Report;

/// Appended to every warning: where the report still is.
pub const SUMMARY_ONLY: &str = "the report is in the job summary and the annotations";

/// What the remote writes did.
#[derive(Debug, Default)]
pub struct RemoteOutcome {
    /// One line per comment written or left alone, check run and upload.
    pub lines: Vec<String>,
    pub comment_url: Option<String>,
    pub check_run_url: Option<String>,
    pub warnings: Vec<String>,
}

/// The writes a 403 can refuse, each needing its own permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    PullComment,
    CommitComment,
    CheckRun,
    Sarif,
}

impl Write {
    fn permission(self) -> &'static str {
        match self {
            Write::PullComment => "pull-requests: write",
            Write::CommitComment => "contents: write",
            Write::CheckRun => "checks: write",
            Write::Sarif => "security-events: write",
        }
    }
}

/// What to do about a refused write. A 403 on a fork's pull request is the read-only token
/// GitHub gives such runs; anywhere else it is a permission the job did not ask for.
pub fn permission_hint(error: &ApiError, write: Write, fork: bool) -> Option<String> {
    if !error.is_permission() {
        return None;
    }
    if fork {
        return Some(
            "this pull request comes from a fork, and GitHub gives such runs a read-only token \
             whatever the workflow's permissions say"
                .to_string(),
        );
    }
    let permission = write.permission();
    Some(match write {
        Write::CheckRun => format!(
            "check runs can be created by the workflow token with `{permission}` in the job's \
             permissions, or by a GitHub App token; a personal token cannot"
        ),
        Write::Sarif => format!(
            "the token needs `{permission}` in the job's permissions, and code scanning must be \
             enabled for the repository (private repositories need GitHub Advanced Security)"
        ),
        _ => format!(
            "the token lacks `{permission}`: add it to the job's `permissions`, or pass a \
             github-token that has it"
        ),
    })
}

/// One warning line: what failed, GitHub's answer, what to do, and where the report is.
pub fn warning(what: &str, error: &ApiError, write: Write, fork: bool) -> String {
    match permission_hint(error, write, fork) {
        Some(hint) => format!("{what}: {error}; {hint}; {SUMMARY_ONLY}"),
        None => format!("{what}: {error}; {SUMMARY_ONLY}"),
    }
}

/// Everything the remote writes need from the run.
pub struct Job<'a> {
    pub report: &'a Report,
    pub markdown: &'a str,
    pub marker: &'a Marker,
    pub options: &'a PublishOptions,
    pub env: &'a GithubEnv,
    pub payload: &'a Value,
    pub cwd: &'a Path,
    pub sarif: Option<&'a Value>,
}

impl Job<'_> {
    pub fn event_name(&self) -> &str {
        self.env.event_name.as_deref().unwrap_or("")
    }

    pub fn is_fork(&self) -> bool {
        event::is_fork_pull(self.event_name(), self.payload)
    }

    /// The commit the run is about: a PR's head, else the pushed commit or `$GITHUB_SHA`.
    pub fn commit(&self) -> Option<String> {
        event::commit_sha(self.payload, self.env.sha.as_deref())
    }
}

/// The repository the run belongs to, and the client that reaches it.
pub struct Repo<'a> {
    pub client: &'a GithubClient,
    pub owner: &'a str,
    pub name: &'a str,
}

impl Repo<'_> {
    /// `/repos/{owner}/{name}{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_only() -> ApiError {
        ApiError::ReadOnly
    }

    /// Guards issue 16: every 403 blamed forks, so a same-repository workflow without
    /// `pull-requests: write` was never told to add it.
    #[test]
    fn a_403_names_the_missing_permission_unless_the_pull_request_is_a_fork() {
        let same_repo = warning("could not comment", &read_only(), Write::PullComment, false);
        assert!(
            same_repo.contains("lacks `pull-requests: write`"),
            "{same_repo}"
        );
        assert!(!same_repo.contains("fork"), "{same_repo}");
        let fork = warning("could not comment", &read_only(), Write::PullComment, true);
        assert!(fork.contains("comes from a fork"), "{fork}");
        assert!(!fork.contains("lacks"), "{fork}");
        let commit = warning("x", &read_only(), Write::CommitComment, false);
        assert!(commit.contains("`contents: write`"), "{commit}");
        let checks = warning(
            "x",
            &ApiError::Forbidden {
                what: "POST /repos/o/r/check-runs".into(),
                message: "You must authenticate via a GitHub App.".into(),
            },
            Write::CheckRun,
            false,
        );
        assert!(checks.contains("a personal token cannot"), "{checks}");
        let sarif = warning("x", &read_only(), Write::Sarif, false);
        assert!(sarif.contains("`security-events: write`"), "{sarif}");
        let unreachable = ApiError::Status {
            what: "GET /x".into(),
            status: 502,
            message: "bad gateway".into(),
        };
        assert_eq!(
            permission_hint(&unreachable, Write::PullComment, false),
            None
        );
    }
}
