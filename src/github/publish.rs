//! The GitHub Actions hook of `Ctx::emit`: after the report is on stdout, write the JSON report
//! file, the step summary, the step outputs and the annotations, and upsert the sticky comments.
//!
//! Commenting is best effort by design: a fork's read-only token, a missing token, a rate limit
//! longer than `--github-max-wait` or an unreachable API become a warning, never the gate's
//! verdict — the exit code follows the report alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::api::{GithubClient, Method};
use super::comment::{self, RunLink};
use super::env::GithubEnv;
use super::event::{self, PullSource};
use super::sticky::{self, Sticky, Thread};
use super::workflow;
use crate::error::{Error, Result};
use crate::render::render_markdown;
use crate::report::{Report, VerdictResult};

/// What to publish besides the summary, outputs and annotations (from `--pr-comment`,
/// `--commit-comment`, `--report-json`, `--github-max-wait`).
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub pr_comment: bool,
    pub commit_comment: bool,
    /// Where to write the JSON report (default: `$RUNNER_TEMP/kubectl-posthog-COMMAND.json`).
    pub report_json: Option<PathBuf>,
    /// Longest time to spend waiting out rate limits and retrying.
    pub max_wait: std::time::Duration,
}

/// What the hook did, for the outputs and for tests.
#[derive(Debug, Default)]
pub struct Published {
    pub report_json: PathBuf,
    pub comment_url: Option<String>,
    /// One line per comment written or left alone: "posted pull request #7 https://…".
    pub comments: Vec<String>,
    pub warnings: Vec<String>,
}

/// Runs the hook. `err` receives annotations and warnings (the runner reads workflow commands
/// from stderr as from stdout, and stdout holds the report).
pub fn publish(
    report: &Report,
    args: &PublishOptions,
    env: &GithubEnv,
    cwd: &Path,
    err: &mut dyn Write,
) -> Result<Published> {
    let markdown = render_markdown(report);
    let mut published = Published {
        report_json: report_json_path(report, args, env),
        ..Published::default()
    };
    workflow::write_atomically(&published.report_json, &(report.to_json() + "\n")).map_err(
        |e| {
            Error::io(
                format!(
                    "write the JSON report to {}",
                    published.report_json.display()
                ),
                e,
            )
        },
    )?;

    if args.pr_comment || args.commit_comment {
        let (comments, url, warnings) = run_comments(report, &markdown, args, env);
        published.comments = comments;
        published.comment_url = url;
        published.warnings = warnings;
    }

    let mut lines = workflow::annotations(report, cwd, env.workspace.as_deref());
    lines.extend(published.warnings.iter().map(|w| workflow::warning(w)));
    for line in &published.comments {
        lines.push(format!("kubectl-posthog: comment {line}"));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    err.write_all(text.as_bytes())
        .map_err(|e| Error::io("write annotations to stderr", e))?;

    if let Some(path) = &env.step_summary {
        let existing = std::fs::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let summary = workflow::fit_summary(&format!("{}\n", markdown.trim_end()), existing);
        workflow::append(path, &summary)
            .map_err(|e| Error::io(format!("append the job summary to {}", path.display()), e))?;
    }
    if let Some(path) = &env.output {
        let verdict = match report.verdict.result {
            VerdictResult::Pass => "pass",
            VerdictResult::Warn => "warn",
            VerdictResult::Fail => "fail",
        };
        let outputs = [
            ("verdict", verdict.to_string()),
            ("failed", report.verdict.counts.fail.to_string()),
            ("warnings", report.verdict.counts.warn.to_string()),
            ("report-json", published.report_json.display().to_string()),
            (
                "comment-url",
                published.comment_url.clone().unwrap_or_default(),
            ),
        ];
        workflow::append(path, &workflow::output_lines(&outputs))
            .map_err(|e| Error::io(format!("append the step outputs to {}", path.display()), e))?;
    }
    Ok(published)
}

fn report_json_path(report: &Report, args: &PublishOptions, env: &GithubEnv) -> PathBuf {
    if let Some(path) = &args.report_json {
        return path.clone();
    }
    let dir = env.runner_temp.clone().unwrap_or_else(std::env::temp_dir);
    dir.join(format!("kubectl-posthog-{}.json", report.command))
}

/// Runs the comment upserts on a runtime of their own: `Ctx::emit` is synchronous and may be
/// called from inside any runtime, so the requests go to a scoped thread.
fn run_comments(
    report: &Report,
    markdown: &str,
    args: &PublishOptions,
    env: &GithubEnv,
) -> (Vec<String>, Option<String>, Vec<String>) {
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime for the GitHub API: {e}"))?;
                Ok::<_, String>(runtime.block_on(comment(report, markdown, args, env)))
            })
            .join()
    });
    match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(message)) => (Vec::new(), None, vec![message]),
        Err(_) => (
            Vec::new(),
            None,
            vec!["posting the comment failed unexpectedly".to_string()],
        ),
    }
}

const SUMMARY_ONLY: &str = "the report is in the job summary and the annotations";

/// Upserts the PR and/or commit comment; returns what was done, the comment URL and warnings.
pub async fn comment(
    report: &Report,
    markdown: &str,
    args: &PublishOptions,
    env: &GithubEnv,
) -> (Vec<String>, Option<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut warnings = Vec::new();
    let Some(token) = env.token.as_deref() else {
        warnings.push(format!(
            "no GitHub token (GITHUB_TOKEN) to comment with: {SUMMARY_ONLY}; \
             pass the github-token input or set GITHUB_TOKEN"
        ));
        return (done, None, warnings);
    };
    let Some((owner, repo)) = env.owner_repo() else {
        warnings.push(format!(
            "GITHUB_REPOSITORY is not owner/name, so there is nothing to comment on: {SUMMARY_ONLY}"
        ));
        return (done, None, warnings);
    };
    let client = match GithubClient::new(&env.api_url, token, args.max_wait) {
        Ok(client) => client,
        Err(error) => {
            warnings.push(format!("{error}: {SUMMARY_ONLY}"));
            return (done, None, warnings);
        }
    };
    let payload = read_event(env, &mut warnings);
    let event_name = env.event_name.as_deref().unwrap_or("");
    let sha = event::commit_sha(&payload, env.sha.as_deref());

    let mut threads = Vec::new();
    if args.pr_comment {
        match event::pull_source(event_name, &payload) {
            PullSource::Number(n) => threads.push(Thread::Pull(n)),
            PullSource::Commit(sha) => {
                let path = format!("/repos/{owner}/{repo}/commits/{sha}/pulls");
                match client.send(Method::Get, &path, None).await {
                    Ok(response) => {
                        let pulls = response.body.as_array().cloned().unwrap_or_default();
                        match event::choose_pull(&pulls, &sha) {
                            Some(n) => threads.push(Thread::Pull(n)),
                            None => done.push(format!(
                                "skipped: commit {} belongs to no pull request",
                                &sha[..sha.len().min(12)]
                            )),
                        }
                    }
                    Err(error) => warnings.push(format!(
                        "cannot find the pull request of commit {sha}: {error}; {SUMMARY_ONLY}"
                    )),
                }
            }
            PullSource::None(reason) => done.push(format!("skipped: {reason}")),
        }
    }
    if args.commit_comment {
        match &sha {
            Some(sha) => threads.push(Thread::Commit(sha.clone())),
            None => warnings.push(format!(
                "no commit SHA in the event or GITHUB_SHA to comment on: {SUMMARY_ONLY}"
            )),
        }
    }
    if threads.is_empty() {
        return (done, None, warnings);
    }

    let link = RunLink {
        run_url: env.run_url(),
        sha: sha.clone(),
    };
    let body = comment::body(report, markdown, &link);
    let short = comment::short_body(report, &link);
    let marker = comment::marker(report);
    let author = sticky::comment_author(&client).await;
    let mut url = None;
    for thread in threads {
        let sticky = Sticky {
            client: &client,
            owner,
            repo,
            thread: thread.clone(),
            marker: &marker,
            author: &author,
        };
        match sticky.upsert(&body, &short).await {
            Ok(upsert) => {
                done.push(format!("{} on {thread}: {}", upsert.verb(), upsert.url()));
                // PR threads come first: the PR comment is the `comment-url` output when there is one.
                url.get_or_insert_with(|| upsert.url().to_string());
            }
            Err(error) => warnings.push(format!(
                "could not comment on {thread}: {error}; {SUMMARY_ONLY}"
            )),
        }
    }
    (done, url, warnings)
}

fn read_event(env: &GithubEnv, warnings: &mut Vec<String>) -> Value {
    let Some(path) = &env.event_path else {
        return Value::Null;
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            warnings.push(format!(
                "the event payload {} is not JSON: {e}",
                path.display()
            ));
            Value::Null
        }),
        Err(e) => {
            warnings.push(format!(
                "cannot read the event payload {}: {e}",
                path.display()
            ));
            Value::Null
        }
    }
}
