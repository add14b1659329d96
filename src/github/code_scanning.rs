//! `--upload-sarif`: the SARIF log to GitHub code scanning (`POST /repos/{o}/{r}/code-scanning/sarifs`,
//! `security-events: write`), so findings become alerts on the lines they name and in the PR's
//! diff. GitHub wants the log gzipped and base64-encoded, the commit and the full ref of the run
//! (`GITHUB_SHA` and `GITHUB_REF`: on a pull request, the merge commit and `refs/pull/N/merge`,
//! as codeql-action sends them). The category in `runAutomationDetails.id` keeps the uploads of
//! different commands and targets apart.

use std::io::Write as _;

use base64::Engine;
use serde_json::{Value, json};

use super::api::Method;
use super::job::{Job, RemoteOutcome, Repo, SUMMARY_ONLY, Write, warning};

/// The request body: the log compressed and encoded as GitHub documents.
pub fn upload_body(sarif: &Value, commit_sha: &str, git_ref: &str) -> std::io::Result<Value> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(sarif.to_string().as_bytes())?;
    let compressed = gz.finish()?;
    Ok(json!({
        "commit_sha": commit_sha,
        "ref": git_ref,
        "sarif": base64::engine::general_purpose::STANDARD.encode(compressed),
        "tool_name": "kubectl-posthog",
    }))
}

pub async fn upload(job: &Job<'_>, repo: &Repo<'_>, sarif: &Value, out: &mut RemoteOutcome) {
    let (Some(sha), Some(git_ref)) = (job.env.sha.as_deref(), job.env.git_ref.as_deref()) else {
        out.warnings.push(format!(
            "GITHUB_SHA and GITHUB_REF name no commit and ref for the code-scanning upload: {SUMMARY_ONLY}"
        ));
        return;
    };
    let body = match upload_body(sarif, sha, git_ref) {
        Ok(body) => body,
        Err(e) => {
            out.warnings.push(format!(
                "cannot compress the SARIF log: {e}; {SUMMARY_ONLY}"
            ));
            return;
        }
    };
    match repo
        .client
        .send(
            Method::Post,
            &repo.path("/code-scanning/sarifs"),
            Some(&body),
        )
        .await
    {
        Ok(answer) => out.lines.push(format!(
            "SARIF uploaded to code scanning for {git_ref}: {}",
            answer.body["url"].as_str().unwrap_or("accepted")
        )),
        Err(error) => out.warnings.push(warning(
            "could not upload the SARIF log to code scanning",
            &error,
            Write::Sarif,
            job.is_fork(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_log_travels_gzipped_and_base64_encoded() {
        let sarif = json!({"version": "2.1.0", "runs": []});
        let body = upload_body(&sarif, "abc", "refs/pull/7/merge").unwrap();
        assert_eq!(body["ref"], "refs/pull/7/merge");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body["sarif"].as_str().unwrap())
            .unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), sarif);
    }
}
