//! `--check-run`: the report as a check run on the commit (`checks: write`), with the Markdown
//! summary and one annotation per located failing or warning finding — for a deploy gate on
//! `push`, where there is no pull request to comment on, or instead of workflow-command
//! annotations (which GitHub caps at 10 per level per step).
//!
//! GitHub takes at most 50 annotations per request: the rest follow in PATCHes of the same run.
//! A POST is never repeated blindly: after an uncertain failure the commit's check runs of this
//! name are listed, and one carrying this run's `external_id` is ours.

use serde_json::{Value, json};

use super::api::{ApiError, Method};
use super::comment::{self, RunLink};
use super::job::{Job, RemoteOutcome, Repo, SUMMARY_ONLY, Write, warning};
use super::workflow::workspace_relative;
use crate::render::sarif::{Level, finding_level, finding_message};
use crate::report::{Incomplete, Report, VerdictResult};

/// GitHub's limits on one check-run request.
const ANNOTATIONS_PER_REQUEST: usize = 50;
const SUMMARY_LIMIT: usize = 65_535;
const CREATE_ATTEMPTS: u32 = 3;

/// The check run's conclusion for a verdict: a warning passes as `neutral` (which satisfies a
/// required check), a command that stopped early is `cancelled` (interrupted) or `failure`.
pub fn conclusion(report: &Report) -> &'static str {
    match (report.verdict.incomplete, report.verdict.result) {
        (Some(Incomplete::Interrupted), _) => "cancelled",
        (Some(_), _) | (None, VerdictResult::Fail) => "failure",
        (None, VerdictResult::Warn) => "neutral",
        (None, VerdictResult::Pass) => "success",
    }
}

/// The check-run annotations of the report's located failing and warning findings.
pub fn annotations(report: &Report, job: &Job<'_>) -> Vec<Value> {
    report
        .findings_worst_first()
        .into_iter()
        .filter_map(|finding| {
            let level = match finding_level(report, finding)? {
                Level::Error => "failure",
                Level::Warning => "warning",
                Level::Note => "notice",
            };
            let location = finding.location.as_ref()?;
            let path = workspace_relative(&location.file, job.cwd, job.env.workspace.as_deref());
            let line = location.line.unwrap_or(1).max(1);
            Some(json!({
                "path": path,
                "start_line": line,
                "end_line": line,
                "annotation_level": level,
                "title": format!("{} {} ({})", finding.severity.label(), finding.title, finding.id),
                "message": finding_message(finding),
            }))
        })
        .collect()
}

/// Creates the check run, with every annotation; the outcome says where it is or why not.
pub async fn create(job: &Job<'_>, repo: &Repo<'_>, out: &mut RemoteOutcome) {
    let Some(head_sha) = job.commit() else {
        out.warnings.push(format!(
            "no commit SHA in the event or GITHUB_SHA for the check run: {SUMMARY_ONLY}"
        ));
        return;
    };
    let name = format!(
        "kubectl-posthog {} ({})",
        job.report.command,
        job.marker.target()
    );
    match write(job, repo, &name, &head_sha).await {
        Ok(url) => {
            out.lines.push(format!(
                "check run \"{name}\" {}: {url}",
                conclusion(job.report)
            ));
            out.check_run_url = Some(url);
        }
        Err(error) => out.warnings.push(warning(
            &format!("could not create the check run \"{name}\""),
            &error,
            Write::CheckRun,
            job.is_fork(),
        )),
    }
}

async fn write(
    job: &Job<'_>,
    repo: &Repo<'_>,
    name: &str,
    head_sha: &str,
) -> Result<String, ApiError> {
    let report = job.report;
    let link = RunLink {
        run_url: job.env.run_url(),
        sha: Some(head_sha.to_string()),
    };
    let summary = comment::body_within(report, job.marker, job.markdown, &link, SUMMARY_LIMIT);
    let title: String = format!(
        "{}: {}",
        report.verdict.result.label(),
        report.verdict.summary
    )
    .chars()
    .take(200)
    .collect();
    let external_id = format!(
        "{}/{}/{}",
        job.marker
            .text()
            .trim_start_matches("<!-- ")
            .trim_end_matches(" -->"),
        job.env.run_id.as_deref().unwrap_or("local"),
        job.env.run_attempt.as_deref().unwrap_or("1")
    );
    let all = annotations(report, job);
    let mut batches = all.chunks(ANNOTATIONS_PER_REQUEST);
    let first = batches.next().unwrap_or(&[]);
    let output = |annotations: &[Value]| json!({ "title": title, "summary": summary, "annotations": annotations });
    let mut body = json!({
        "name": name,
        "head_sha": head_sha,
        "status": "completed",
        "conclusion": conclusion(report),
        "external_id": external_id,
        "output": output(first),
    });
    if let Some(url) = &link.run_url {
        body["details_url"] = json!(url);
    }
    let created = post_once(repo, &body, name, head_sha, &external_id).await?;
    let id = created["id"].as_u64();
    for batch in batches {
        let Some(id) = id else { break };
        repo.client
            .send(
                Method::Patch,
                &repo.path(&format!("/check-runs/{id}")),
                Some(&json!({ "output": output(batch) })),
            )
            .await?;
    }
    Ok(created["html_url"].as_str().unwrap_or_default().to_string())
}

/// POSTs the check run; after an uncertain failure, a run of this name with our `external_id`
/// on the commit is the one stored.
async fn post_once(
    repo: &Repo<'_>,
    body: &Value,
    name: &str,
    head_sha: &str,
    external_id: &str,
) -> Result<Value, ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match repo
            .client
            .send(Method::Post, &repo.path("/check-runs"), Some(body))
            .await
        {
            Ok(created) => return Ok(created.body),
            Err(error) if error.is_uncertain() && attempt < CREATE_ATTEMPTS => {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("check_name", name)
                    .finish();
                let listed = repo
                    .client
                    .send(
                        Method::Get,
                        &repo.path(&format!("/commits/{head_sha}/check-runs?{query}")),
                        None,
                    )
                    .await?;
                let stored = listed.body["check_runs"]
                    .as_array()
                    .and_then(|runs| runs.iter().find(|r| r["external_id"] == external_id));
                if let Some(stored) = stored {
                    return Ok(stored.clone());
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn conclusions() {
        let mut report = sample_report();
        assert_eq!(conclusion(&report), "failure");
        report.verdict.result = VerdictResult::Warn;
        assert_eq!(conclusion(&report), "neutral");
        report.verdict.result = VerdictResult::Pass;
        assert_eq!(conclusion(&report), "success");
        report.verdict.incomplete = Some(Incomplete::Interrupted);
        assert_eq!(conclusion(&report), "cancelled");
        report.verdict.incomplete = Some(Incomplete::Unavailable);
        assert_eq!(conclusion(&report), "failure");
    }
}
