//! The global flags of GitHub Actions mode. They sit in the global flag set because every command's
//! report is published the same way (`crate::run`), whichever command produced it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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

    /// In GitHub mode, where to write the JSON report (default: $RUNNER_TEMP/kubectl-posthog-COMMAND.json);
    /// its path is the `report-json` output
    #[arg(long, global = true, value_name = "PATH")]
    pub report_json: Option<PathBuf>,

    /// Longest time to spend waiting out GitHub rate limits and retrying before giving up on the comment
    #[arg(long, global = true, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration)]
    pub github_max_wait: Duration,
}

impl GithubArgs {
    /// GitHub mode is on with `--github` (or GITHUB_ACTIONS=true) or a comment flag.
    pub fn enabled(&self) -> bool {
        self.github || self.pr_comment || self.commit_comment
    }

    pub fn publish_options(&self) -> crate::github::PublishOptions {
        crate::github::PublishOptions {
            pr_comment: self.pr_comment,
            commit_comment: self.commit_comment,
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
}
