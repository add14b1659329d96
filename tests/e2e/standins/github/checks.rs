//! The stand-in's check runs (`POST /repos/{o}/{r}/check-runs`, `PATCH …/check-runs/{id}`,
//! `GET …/commits/{sha}/check-runs?check_name=`) and code-scanning uploads
//! (`POST …/code-scanning/sarifs` with a gzipped, base64-encoded SARIF log), with GitHub's rules:
//! at most 50 annotations per request, a summary of at most 65,535 characters, check runs only
//! for apps (a personal token gets 403), `conclusion` required once `completed`.

use std::io::Read;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{
    Caller, CheckRun, OWNER, REPO, SarifUpload, Seen, State, forbidden, json as respond, not_found,
};

const CONCLUSIONS: [&str; 8] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

/// `Some` when the request is one of these routes.
pub fn route(
    state: &mut State,
    seen: &Seen,
    caller: &Caller,
    method: &str,
    rest: &[&str],
) -> Option<Response> {
    let response = match (method, rest) {
        ("POST", ["check-runs"]) => write_check_run(state, seen, caller, None),
        ("PATCH", ["check-runs", id]) => match id.parse() {
            Ok(id) => write_check_run(state, seen, caller, Some(id)),
            Err(_) => not_found(),
        },
        ("GET", ["commits", sha, "check-runs"]) => list_check_runs(state, seen, sha),
        ("POST", ["code-scanning", "sarifs"]) => upload_sarif(state, seen, caller),
        _ => return None,
    };
    Some(response)
}

fn unprocessable(message: &str) -> Response {
    respond(
        422,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest/checks/runs", "status": "422"})
            .to_string(),
    )
}

fn write_check_run(state: &mut State, seen: &Seen, caller: &Caller, id: Option<u64>) -> Response {
    if let Caller::User(_) = caller {
        return respond(
            403,
            r#"{"message":"You must authenticate via a GitHub App.","documentation_url":"https://docs.github.com/rest/checks/runs#create-a-check-run","status":"403"}"#.to_string(),
        );
    }
    if caller.read_only() {
        return forbidden();
    }
    let Ok(body) = serde_json::from_str::<Value>(&seen.body) else {
        return respond(400, r#"{"message":"Problems parsing JSON"}"#.to_string());
    };
    let annotations = body["output"]["annotations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if annotations.len() > 50 {
        return unprocessable("Invalid request.\n\nOnly 50 annotations are allowed per request.");
    }
    for a in &annotations {
        let level_ok = matches!(
            a["annotation_level"].as_str(),
            Some("notice" | "warning" | "failure")
        );
        if a["path"].as_str().is_none_or(str::is_empty)
            || a["start_line"].as_u64().is_none()
            || a["end_line"].as_u64().is_none()
            || !level_ok
            || a["message"].as_str().is_none()
        {
            return unprocessable(&format!("Invalid request.\n\nInvalid annotation: {a}"));
        }
    }
    if body["output"]["summary"]
        .as_str()
        .is_some_and(|s| s.chars().count() > 65_535)
    {
        return unprocessable("Invalid request.\n\nOnly 65535 characters are allowed in summary.");
    }
    let status = body["status"].as_str().unwrap_or("queued").to_string();
    let conclusion = body["conclusion"].as_str().map(str::to_string);
    if conclusion
        .as_deref()
        .is_some_and(|c| !CONCLUSIONS.contains(&c))
    {
        return unprocessable("Invalid request.\n\nconclusion is not a valid value.");
    }
    let run = match id {
        None => {
            let (Some(name), Some(head_sha)) = (body["name"].as_str(), body["head_sha"].as_str())
            else {
                return unprocessable(
                    "Invalid request.\n\n\"name\" and \"head_sha\" are required.",
                );
            };
            if status == "completed" && conclusion.is_none() {
                return unprocessable(
                    "Invalid request.\n\n\"conclusion\" is required when status is completed.",
                );
            }
            state.next_id += 1;
            state.check_runs.push(CheckRun {
                id: state.next_id,
                name: name.to_string(),
                head_sha: head_sha.to_string(),
                status,
                conclusion,
                external_id: body["external_id"].as_str().map(str::to_string),
                title: body["output"]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                summary: body["output"]["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                annotations,
            });
            state.check_runs.last().cloned()
        }
        Some(id) => state.check_runs.iter_mut().find(|r| r.id == id).map(|run| {
            if body["status"].is_string() {
                run.status = status;
            }
            if conclusion.is_some() {
                run.conclusion = conclusion;
            }
            if let Some(title) = body["output"]["title"].as_str() {
                run.title = title.to_string();
            }
            if let Some(summary) = body["output"]["summary"].as_str() {
                run.summary = summary.to_string();
            }
            run.annotations.extend(annotations);
            run.clone()
        }),
    };
    match run {
        Some(run) => respond(
            if id.is_none() { 201 } else { 200 },
            render(&state.url, &run).to_string(),
        ),
        None => not_found(),
    }
}

fn render(url: &str, run: &CheckRun) -> Value {
    json!({
        "id": run.id,
        "node_id": format!("CR_standin{}", run.id),
        "head_sha": run.head_sha,
        "external_id": run.external_id,
        "url": format!("{url}/repos/{OWNER}/{REPO}/check-runs/{}", run.id),
        "html_url": format!("https://github.com/{OWNER}/{REPO}/runs/{}", run.id),
        "status": run.status,
        "conclusion": run.conclusion,
        "name": run.name,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "annotations_count": run.annotations.len(),
        },
        "app": {"slug": "github-actions"},
    })
}

fn list_check_runs(state: &State, seen: &Seen, sha: &str) -> Response {
    let wanted = seen.query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "check_name")
            .map(|(_, v)| v.into_owned())
    });
    let runs: Vec<Value> = state
        .check_runs
        .iter()
        .filter(|r| r.head_sha == sha && wanted.as_deref().is_none_or(|w| w == r.name))
        .map(|r| render(&state.url, r))
        .collect();
    respond(
        200,
        json!({"total_count": runs.len(), "check_runs": runs}).to_string(),
    )
}

fn upload_sarif(state: &mut State, seen: &Seen, caller: &Caller) -> Response {
    if caller.read_only() {
        return forbidden();
    }
    let Ok(body) = serde_json::from_str::<Value>(&seen.body) else {
        return respond(400, r#"{"message":"Problems parsing JSON"}"#.to_string());
    };
    let commit_sha = body["commit_sha"].as_str().unwrap_or_default();
    let git_ref = body["ref"].as_str().unwrap_or_default();
    let ref_ok = ["refs/heads/", "refs/tags/", "refs/pull/"]
        .iter()
        .any(|p| git_ref.starts_with(p));
    if commit_sha.len() != 40 || !commit_sha.bytes().all(|b| b.is_ascii_hexdigit()) || !ref_ok {
        return unprocessable(
            "Invalid request.\n\ncommit_sha must be 40 hex characters and ref a full Git reference.",
        );
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body["sarif"].as_str().unwrap_or_default())
        .ok()
        .and_then(|gz| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(gz.as_slice())
                .read_to_string(&mut text)
                .ok()
                .map(|_| text)
        })
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let Some(sarif) = decoded else {
        return respond(
            400,
            r#"{"message":"Invalid request: sarif must be a gzip-compressed, Base64-encoded SARIF file"}"#.to_string(),
        );
    };
    state.next_id += 1;
    let id = format!("47177e22-5596-11eb-80a1-{:012x}", state.next_id);
    state.sarifs.push(SarifUpload {
        commit_sha: commit_sha.to_string(),
        git_ref: git_ref.to_string(),
        sarif,
    });
    let mut response = respond(
        202,
        json!({"id": id, "url": format!("{}/repos/{OWNER}/{REPO}/code-scanning/sarifs/{id}", state.url)})
            .to_string(),
    );
    *response.status_mut() = StatusCode::ACCEPTED;
    response.into_response()
}
