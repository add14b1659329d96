//! What a run publishes besides the summary, outputs and annotations, as plain values (from the
//! GitHub flags in `crate::cmd::global_github`).

use std::path::PathBuf;
use std::time::Duration;

use super::sticky::CommentMode;

#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Upsert the sticky comment on the pull request of the run.
    pub pr_comment: bool,
    /// Upsert the sticky comment on the commit of the run.
    pub commit_comment: bool,
    /// What a changed report does to the comment.
    pub comment_mode: CommentMode,
    /// A user-given key that tells apart comments of the same command and target
    /// (`--comment-key`, e.g. two clusters).
    pub comment_key: Option<String>,
    /// Create a check run with the summary and annotations.
    pub check_run: bool,
    /// Where to write the SARIF log (default with `upload_sarif`: next to the JSON report).
    pub sarif: Option<PathBuf>,
    /// Upload the SARIF log to code scanning.
    pub upload_sarif: bool,
    /// Where to write the JSON report (default: `$RUNNER_TEMP/kubectl-posthog-COMMAND.json`).
    pub report_json: Option<PathBuf>,
    /// Longest time to spend waiting out rate limits and retrying.
    pub max_wait: Duration,
}
