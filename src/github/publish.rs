//! The GitHub Actions hook of `crate::run`: after the report is on stdout, write the JSON report
//! file (and the SARIF log when asked), the step summary, the step outputs and the annotations,
//! and do the writes to GitHub: the sticky comments, the check run, the code-scanning upload.
//!
//! The writes to GitHub are best effort by design (see [`super::job`]): a refusal becomes a
//! warning annotation, never the gate's verdict — the exit code follows the report alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::api::GithubClient;
use super::comment::Marker;
use super::env::GithubEnv;
use super::job::{Job, RemoteOutcome, Repo, SUMMARY_ONLY};
use super::options::PublishOptions;
use super::{check_run, code_scanning, comments, workflow};
use crate::error::{Error, Result};
use crate::render::{render_markdown, sarif};
use crate::report::{Report, VerdictResult};

/// What the hook did, for the outputs and for tests.
#[derive(Debug, Default)]
pub struct Published {
    pub report_json: PathBuf,
    pub sarif: Option<PathBuf>,
    pub comment_url: Option<String>,
    pub check_run_url: Option<String>,
    /// One line per write to GitHub: "comment posted on pull request #7: https://…".
    pub comments: Vec<String>,
    pub warnings: Vec<String>,
}

/// Runs the hook. `err` receives annotations and warnings (the runner reads workflow commands
/// from stderr as from stdout, and stdout holds the report).
pub fn publish(
    report: &Report,
    options: &PublishOptions,
    env: &GithubEnv,
    cwd: &Path,
    err: &mut dyn Write,
) -> Result<Published> {
    let markdown = render_markdown(report);
    let marker = Marker::of(report, options.comment_key.as_deref());
    let mut published = Published {
        report_json: report_json_path(report, options, env),
        ..Published::default()
    };
    write_file(
        &published.report_json,
        &(report.to_json() + "\n"),
        "JSON report",
    )?;

    let sarif_log = sarif_path(report, options, env).map(|path| {
        let category = sarif::category(report, marker.target());
        let workspace = env.workspace.clone();
        let uri = move |file: &str| workflow::workspace_relative(file, cwd, workspace.as_deref());
        (path, sarif::sarif_log(report, &category, &uri))
    });
    if let Some((path, log)) = &sarif_log {
        let text = serde_json::to_string_pretty(log).unwrap_or_default() + "\n";
        write_file(path, &text, "SARIF log")?;
        published.sarif = Some(path.clone());
    }

    let payload = read_event(env, &mut published.warnings);
    let job = Job {
        report,
        markdown: &markdown,
        marker: &marker,
        options,
        env,
        payload: &payload,
        cwd,
        sarif: sarif_log.as_ref().map(|(_, log)| log),
    };
    let remote = run_remote(&job);
    published.comments = remote.lines;
    published.comment_url = remote.comment_url;
    published.check_run_url = remote.check_run_url;
    published.warnings.extend(remote.warnings);

    let mut lines = workflow::annotations(report, cwd, env.workspace.as_deref());
    lines.extend(published.warnings.iter().map(|w| workflow::warning(w)));
    for line in &published.comments {
        lines.push(format!("kubectl-posthog: {line}"));
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
        let text_of = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let outputs = [
            ("verdict", verdict.to_string()),
            ("failed", report.verdict.counts.fail.to_string()),
            ("warnings", report.verdict.counts.warn.to_string()),
            ("report-json", published.report_json.display().to_string()),
            ("sarif", text_of(&published.sarif).unwrap_or_default()),
            (
                "comment-url",
                published.comment_url.clone().unwrap_or_default(),
            ),
            (
                "check-run-url",
                published.check_run_url.clone().unwrap_or_default(),
            ),
        ];
        workflow::append(path, &workflow::output_lines(&outputs))
            .map_err(|e| Error::io(format!("append the step outputs to {}", path.display()), e))?;
    }
    Ok(published)
}

fn write_file(path: &Path, text: &str, what: &str) -> Result<()> {
    workflow::write_atomically(path, text)
        .map_err(|e| Error::io(format!("write the {what} to {}", path.display()), e))
}

fn report_json_path(report: &Report, options: &PublishOptions, env: &GithubEnv) -> PathBuf {
    if let Some(path) = &options.report_json {
        return path.clone();
    }
    runner_temp(env).join(format!("kubectl-posthog-{}.json", report.command))
}

/// `--sarif PATH`, or next to the JSON report when only the upload is asked for.
fn sarif_path(report: &Report, options: &PublishOptions, env: &GithubEnv) -> Option<PathBuf> {
    match (&options.sarif, options.upload_sarif) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => {
            Some(runner_temp(env).join(format!("kubectl-posthog-{}.sarif", report.command)))
        }
        (None, false) => None,
    }
}

fn runner_temp(env: &GithubEnv) -> PathBuf {
    env.runner_temp.clone().unwrap_or_else(std::env::temp_dir)
}

/// Runs the writes to GitHub on a runtime of their own: `crate::run` calls this after its
/// runtime is gone, and tests call it from inside one, so the requests go to a scoped thread.
fn run_remote(job: &Job<'_>) -> RemoteOutcome {
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime for the GitHub API: {e}"))?;
                Ok::<_, String>(runtime.block_on(remote(job)))
            })
            .join()
    });
    match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(message)) => RemoteOutcome {
            warnings: vec![message],
            ..RemoteOutcome::default()
        },
        Err(_) => RemoteOutcome {
            warnings: vec!["writing to GitHub failed unexpectedly".to_string()],
            ..RemoteOutcome::default()
        },
    }
}

/// Every write to GitHub the options ask for, through one client.
async fn remote(job: &Job<'_>) -> RemoteOutcome {
    let options = job.options;
    let mut out = RemoteOutcome::default();
    let comments = options.pr_comment || options.commit_comment;
    let upload = options.upload_sarif && job.sarif.is_some();
    if !comments && !options.check_run && !upload {
        return out;
    }
    let Some(token) = job.env.token.as_deref() else {
        out.warnings.push(format!(
            "no GitHub token (GITHUB_TOKEN) to write to GitHub with: {SUMMARY_ONLY}; \
             pass the github-token input or set GITHUB_TOKEN"
        ));
        return out;
    };
    let Some((owner, name)) = job.env.owner_repo() else {
        out.warnings.push(format!(
            "GITHUB_REPOSITORY is not owner/name, so there is nothing to write to: {SUMMARY_ONLY}"
        ));
        return out;
    };
    let client = match GithubClient::new(&job.env.api_url, token, options.max_wait) {
        Ok(client) => client,
        Err(error) => {
            out.warnings.push(format!("{error}: {SUMMARY_ONLY}"));
            return out;
        }
    };
    let repo = Repo {
        client: &client,
        owner,
        name,
    };
    if comments {
        comments::upsert_all(job, &repo, &mut out).await;
    }
    if options.check_run {
        check_run::create(job, &repo, &mut out).await;
    }
    if let (true, Some(log)) = (upload, job.sarif) {
        code_scanning::upload(job, &repo, log, &mut out).await;
    }
    out
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
