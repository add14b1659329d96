//! The global flags of GitHub Actions mode. They sit in the global flag set because every command's
//! report is published the same way (`crate::run`), whichever command produced it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::github::CommentMode;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "GitHub Actions")]
pub struct GithubArgs {
    /// GitHub Actions mode: write the report to $GITHUB_STEP_SUMMARY, outputs to $GITHUB_OUTPUT and
    /// annotations for findings with a file and line (on inside a job, where GITHUB_ACTIONS=true)
    // Read from the environment at parse time, so a Ctx built in-process (tests, the demo) is
    // never in GitHub mode by accident.
    #[arg(long, global = true, env = "GITHUB_ACTIONS", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub github: bool,

    /// Also upsert one sticky comment with the report on the pull request of this run
    /// (pull_request, pull_request_target, issue_comment; on push, the PR of the commit); implies --github
    #[arg(long, global = true)]
    pub pr_comment: bool,

    /// Also upsert one sticky comment with the report on the commit of this run ($GITHUB_SHA); implies --github
    #[arg(long, global = true)]
    pub commit_comment: bool,

    /// What a changed report does to the sticky comment: edit it (update), post a new one and delete
    /// the old (recreate), post a new one and hide the old as outdated (hide-previous), or nothing
    /// (off). An unchanged report is never written again
    #[arg(long, global = true, value_enum, value_name = "MODE", default_value_t = CommentMode::Update)]
    pub comment_mode: CommentMode,

    /// Tells apart sticky comments of the same command and target, e.g. one per cluster; the
    /// comment's marker is made of the command, the target as selected (`*` for --all) and this key
    #[arg(long, global = true, value_name = "KEY")]
    pub comment_key: Option<String>,

    /// Also create a check run on the commit with the summary and annotations (needs `checks: write`);
    /// implies --github
    #[arg(long, global = true)]
    pub check_run: bool,

    /// In GitHub mode, also write the report as a SARIF 2.1.0 log to PATH (paths relative to the
    /// workspace); its path is the `sarif` output
    #[arg(long, global = true, value_name = "PATH")]
    pub sarif: Option<PathBuf>,

    /// Upload the SARIF log to GitHub code scanning (needs `security-events: write`); implies --github
    #[arg(long, global = true)]
    pub upload_sarif: bool,

    /// In GitHub mode, where to write the JSON report (default: $RUNNER_TEMP/kubectl-posthog-COMMAND.json);
    /// its path is the `report-json` output
    #[arg(long, global = true, value_name = "PATH")]
    pub report_json: Option<PathBuf>,

    /// Longest time to spend waiting out GitHub rate limits and retrying before giving up on the comment
    #[arg(long, global = true, value_name = "DURATION", default_value = "2m", value_parser = crate::config::duration::duration_arg)]
    pub github_max_wait: Duration,
}

impl GithubArgs {
    /// GitHub mode is on with `--github` (or GITHUB_ACTIONS=true) or a flag that writes to GitHub.
    pub fn enabled(&self) -> bool {
        self.github || self.pr_comment || self.commit_comment || self.check_run || self.upload_sarif
    }

    pub fn publish_options(&self) -> crate::github::PublishOptions {
        let comments = self.comment_mode != CommentMode::Off;
        crate::github::PublishOptions {
            pr_comment: self.pr_comment && comments,
            commit_comment: self.commit_comment && comments,
            comment_mode: self.comment_mode,
            comment_key: self.comment_key.clone(),
            check_run: self.check_run,
            sarif: self.sarif.clone(),
            upload_sarif: self.upload_sarif,
            report_json: self.report_json.clone(),
            max_wait: self.github_max_wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cmd::Cli;

    #[test]
    fn comment_flags_imply_github_mode_and_max_wait_parses() {
        let cli = Cli::try_parse_from(["kubectl-posthog", "preflight", "--pr-comment"]).unwrap();
        assert!(cli.global.github.enabled());
        assert_eq!(cli.global.github.github_max_wait.as_secs(), 120);
        let cli = Cli::try_parse_from([
            "kubectl-posthog",
            "preflight",
            "--commit-comment",
            "--github-max-wait",
            "5s",
        ])
        .unwrap();
        assert!(cli.global.github.enabled());
        assert_eq!(cli.global.github.github_max_wait.as_secs(), 5);
    }

    #[test]
    fn comment_mode_off_turns_the_comment_flags_off() {
        let cli = Cli::try_parse_from([
            "kubectl-posthog",
            "preflight",
            "--pr-comment",
            "--comment-mode",
            "off",
            "--check-run",
        ])
        .unwrap();
        let options = cli.global.github.publish_options();
        assert!(!options.pr_comment);
        assert!(options.check_run);
        let cli = Cli::try_parse_from([
            "kubectl-posthog",
            "preflight",
            "--pr-comment",
            "--comment-mode",
            "hide-previous",
            "--comment-key",
            "eu",
        ])
        .unwrap();
        let options = cli.global.github.publish_options();
        assert_eq!(
            options.comment_mode,
            crate::github::CommentMode::HidePrevious
        );
        assert_eq!(options.comment_key.as_deref(), Some("eu"));
        assert!(cli.global.github.enabled());
    }
}
