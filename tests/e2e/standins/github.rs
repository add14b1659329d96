//! A stand-in for the parts of the GitHub API that GitHub mode uses, stateful like GitHub:
//! issue (PR) and commit comments with `per_page`/`page` pagination and `Link` headers (in GitHub's
//! `/repositories/{id}/…` form), POST to create, PATCH (and POST) to edit, DELETE, `GET /user`,
//! `GET /repos/{o}/{r}/commits/{sha}/pulls`, the 65,536-character limit (422), tokens that are
//! read-only (403 "Resource not accessible by integration"), GraphQL (`viewer { login }` for the
//! three kinds of token, `minimizeComment`), check runs, code-scanning SARIF uploads, the GHES
//! layout (`/api/v3/…` and `/api/graphql`), and injected faults: rate limits (403/429, with or
//! without `retry-after`, `x-ratelimit-reset`) and a 502 answered after the write was stored.
//! Every request is logged.
//!
//! The three identities, as GitHub answers them: the workflow token (`ghs_…`) is the
//! `github-actions[bot]` app (`GET /user` 403), a GitHub App installation token (`ghs_…`) is
//! `<slug>[bot]` (`GET /user` 403), a personal token is its user.
//!
//! ```ignore
//! let gh = GithubStandIn::start().await;
//! gh.fail(Some("POST"), "/repos/acme/app/issues/7/comments", GhFault::BadGatewayAfterWrite, 1);
//! … GITHUB_API_URL=gh.url(), GITHUB_TOKEN=WRITE_TOKEN …
//! assert_eq!(gh.comments_on_pull(7).len(), 1);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

mod checks;
mod graphql;

pub const OWNER: &str = "acme";
pub const REPO: &str = "app";
/// The numeric id GitHub's `Link` URLs use instead of owner/name.
pub const REPO_ID: u64 = 4242;
/// A workflow token with `pull-requests: write`: `GET /user` is refused, comments are the bot's.
pub const WRITE_TOKEN: &str = "ghs_StandInWriteToken000000000000000001";
/// A fork PR's workflow token: reads work, writes answer 403.
pub const READ_ONLY_TOKEN: &str = "ghs_StandInReadOnlyToken0000000000001";
/// A personal access token of [`PAT_LOGIN`].
pub const PAT_TOKEN: &str = "ghp_StandInPersonalToken00000000000001";
pub const PAT_LOGIN: &str = "release-engineer";
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// A GitHub App installation token: comments are [`APP_LOGIN`]'s, `GET /user` answers 403.
pub const APP_TOKEN: &str = "ghs_StandInAppInstallationToken000001";
pub const APP_LOGIN: &str = "posthog-gate[bot]";

/// The token of each identity, with the login its comments carry.
pub const IDENTITIES: [(&str, &str); 3] = [
    (WRITE_TOKEN, BOT_LOGIN),
    (PAT_TOKEN, PAT_LOGIN),
    (APP_TOKEN, APP_LOGIN),
];

/// Where a comment lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Thread {
    Issue(u64),
    Commit(String),
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub thread: Thread,
    pub author: String,
    pub body: String,
    /// How many times it was edited.
    pub edits: u32,
    /// The `minimizeComment` classifier once hidden (`OUTDATED`, …).
    pub minimized: Option<String>,
}

/// A check run as created and updated through the API.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub title: String,
    pub summary: String,
    /// Every annotation sent, across the create and the updates.
    pub annotations: Vec<Value>,
}

/// A SARIF upload to code scanning, decoded.
#[derive(Debug, Clone)]
pub struct SarifUpload {
    pub commit_sha: String,
    pub git_ref: String,
    pub sarif: Value,
}

/// A failure injected on requests matching a method and path prefix.
#[derive(Debug, Clone)]
pub enum GhFault {
    /// A rate limit: `status` 403 or 429, optional `retry-after` seconds, optional
    /// `x-ratelimit-remaining: 0` with `x-ratelimit-reset` this many seconds from now.
    RateLimit {
        status: u16,
        retry_after: Option<u64>,
        reset_in: Option<i64>,
    },
    /// Do the request (store the comment), then answer 502 Bad Gateway.
    BadGatewayAfterWrite,
    /// Answer this status and JSON body without doing anything.
    Status(u16, String),
}

struct ActiveFault {
    method: Option<String>,
    path_prefix: String,
    fault: GhFault,
    remaining: usize,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
    pub status: u16,
    pub at: Instant,
}

pub(crate) struct State {
    pub(crate) url: String,
    pub(crate) next_id: u64,
    pub(crate) comments: Vec<Comment>,
    pub(crate) check_runs: Vec<CheckRun>,
    pub(crate) sarifs: Vec<SarifUpload>,
    pub(crate) pulls_of_commit: HashMap<String, Vec<Value>>,
    faults: Vec<ActiveFault>,
    pub(crate) seen: Vec<Seen>,
    pub(crate) body_limit: usize,
}

#[derive(Clone)]
pub struct GithubStandIn {
    url: String,
    state: Arc<Mutex<State>>,
}

impl GithubStandIn {
    pub async fn start() -> GithubStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub stand-in");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State {
            url: url.clone(),
            next_id: 1000,
            comments: Vec::new(),
            check_runs: Vec::new(),
            sarifs: Vec::new(),
            pulls_of_commit: HashMap::new(),
            faults: Vec::new(),
            seen: Vec::new(),
            body_limit: 65_536,
        }));
        let shared = state.clone();
        let app = Router::new().fallback(move |request: Request<Body>| {
            let state = shared.clone();
            async move { answer(state, request).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GithubStandIn { url, state }
    }

    /// Use as `GITHUB_API_URL` (github.com's layout: REST at the root, GraphQL at `/graphql`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Use as `GITHUB_API_URL` for GitHub Enterprise Server's layout: REST under `/api/v3`,
    /// GraphQL at `/api/graphql`.
    pub fn ghes_url(&self) -> String {
        format!("{}/api/v3", self.url)
    }

    /// Adds a comment as if someone had written it before the run.
    pub fn seed(&self, thread: Thread, author: &str, body: &str) -> u64 {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.comments.push(Comment {
            id,
            thread,
            author: author.to_string(),
            body: body.to_string(),
            edits: 0,
            minimized: None,
        });
        id
    }

    /// What `GET /repos/{o}/{r}/commits/{sha}/pulls` answers for `sha`.
    pub fn set_pulls_of_commit(&self, sha: &str, pulls: Vec<Value>) {
        self.lock().pulls_of_commit.insert(sha.to_string(), pulls);
    }

    /// Lowers the comment length limit (GitHub's is 65,536 characters).
    pub fn set_body_limit(&self, limit: usize) {
        self.lock().body_limit = limit;
    }

    /// Fails the next `count` requests with `method` (any when `None`) whose path starts with `prefix`.
    pub fn fail(&self, method: Option<&str>, prefix: &str, fault: GhFault, count: usize) {
        self.lock().faults.push(ActiveFault {
            method: method.map(str::to_string),
            path_prefix: prefix.to_string(),
            fault,
            remaining: count,
        });
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.lock().comments.clone()
    }

    pub fn comments_on_pull(&self, number: u64) -> Vec<Comment> {
        self.comments_on(&Thread::Issue(number))
    }

    pub fn comments_on(&self, thread: &Thread) -> Vec<Comment> {
        self.comments()
            .into_iter()
            .filter(|c| &c.thread == thread)
            .collect()
    }

    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.lock().check_runs.clone()
    }

    pub fn sarif_uploads(&self) -> Vec<SarifUpload> {
        self.lock().sarifs.clone()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Requests that change something (POST, PATCH, DELETE, GraphQL mutations), as
    /// "METHOD path" (a mutation as "GRAPHQL name"). GraphQL queries read and are left out.
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|s| s.method != "GET")
            .filter_map(|s| match graphql::operation(&s) {
                Some(graphql::Operation::Query) => None,
                Some(graphql::Operation::Mutation(name)) => Some(format!("GRAPHQL {name}")),
                None => Some(format!("{} {}", s.method, s.path)),
            })
            .collect()
    }

    pub fn clear_requests(&self) {
        self.lock().seen.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 8 << 20).await.unwrap_or_default();
    let mut seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: 0,
        at: Instant::now(),
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let fault = state
        .faults
        .iter_mut()
        .find(|f| {
            f.remaining > 0
                && f.method.as_deref().is_none_or(|m| m == seen.method)
                && seen.path.starts_with(&f.path_prefix)
        })
        .map(|f| {
            f.remaining -= 1;
            f.fault.clone()
        });
    let response = match fault {
        Some(GhFault::RateLimit {
            status,
            retry_after,
            reset_in,
        }) => rate_limited(status, retry_after, reset_in),
        Some(GhFault::Status(code, body)) => json(code, body),
        Some(GhFault::BadGatewayAfterWrite) => {
            let _stored = route(&mut state, &seen);
            json(502, r#"{"message":"Server Error"}"#.to_string())
        }
        None => route(&mut state, &seen),
    };
    seen.status = response.status().as_u16();
    state.seen.push(seen);
    response
}

/// Who a token belongs to.
pub(crate) enum Caller {
    /// An app: the workflow token (`github-actions[bot]`) or an App installation.
    Bot {
        login: String,
        read_only: bool,
    },
    User(String),
}

impl Caller {
    pub(crate) fn login(&self) -> &str {
        match self {
            Caller::Bot { login, .. } | Caller::User(login) => login,
        }
    }

    pub(crate) fn read_only(&self) -> bool {
        matches!(
            self,
            Caller::Bot {
                read_only: true,
                ..
            }
        )
    }
}

fn caller(seen: &Seen) -> Option<Caller> {
    let token = seen
        .authorization
        .as_deref()?
        .strip_prefix("Bearer ")
        .or_else(|| seen.authorization.as_deref()?.strip_prefix("token "))?;
    let bot = |login: &str, read_only| Caller::Bot {
        login: login.to_string(),
        read_only,
    };
    match token {
        WRITE_TOKEN => Some(bot(BOT_LOGIN, false)),
        READ_ONLY_TOKEN => Some(bot(BOT_LOGIN, true)),
        APP_TOKEN => Some(bot(APP_LOGIN, false)),
        PAT_TOKEN => Some(Caller::User(PAT_LOGIN.to_string())),
        _ => None,
    }
}

fn route(state: &mut State, seen: &Seen) -> Response {
    let Some(caller) = caller(seen) else {
        return json(
            401,
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#.to_string(),
        );
    };
    // GitHub Enterprise Server serves REST under /api/v3 and GraphQL at /api/graphql.
    let path = seen.path.strip_prefix("/api/v3").unwrap_or(&seen.path);
    if seen.method == "POST" && (path == "/graphql" || path == "/api/graphql") {
        return graphql::answer(state, seen, &caller);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `/repositories/{id}/rest…` is the same as `/repos/{owner}/{repo}/rest…`.
    let rest: Vec<&str> = match segments.as_slice() {
        ["repos", o, r, rest @ ..] if *o == OWNER && *r == REPO => rest.to_vec(),
        ["repositories", id, rest @ ..] if *id == REPO_ID.to_string() => rest.to_vec(),
        ["user"] => {
            return match caller {
                Caller::User(login) => json(
                    200,
                    json!({"login": login, "id": 1, "type": "User"}).to_string(),
                ),
                Caller::Bot { .. } => forbidden(),
            };
        }
        _ => return not_found(),
    };
    let (author, read_only) = (caller.login().to_string(), caller.read_only());
    let method = seen.method.as_str();
    if let Some(response) = checks::route(state, seen, &caller, method, &rest) {
        return response;
    }
    match (method, rest.as_slice()) {
        ("GET", ["issues", n, "comments"]) => match n.parse() {
            Ok(n) => list(state, seen, &Thread::Issue(n)),
            Err(_) => not_found(),
        },
        ("GET", ["commits", sha, "comments"]) => {
            list(state, seen, &Thread::Commit(sha.to_string()))
        }
        ("GET", ["commits", sha, "pulls"]) => {
            let pulls = state.pulls_of_commit.get(*sha).cloned().unwrap_or_default();
            json(200, Value::Array(pulls).to_string())
        }
        ("POST", ["issues", n, "comments"]) | ("POST", ["commits", n, "comments"]) => {
            if read_only {
                return forbidden();
            }
            let thread = if rest[0] == "issues" {
                match n.parse() {
                    Ok(n) => Thread::Issue(n),
                    Err(_) => return not_found(),
                }
            } else {
                Thread::Commit(n.to_string())
            };
            let body = match body_of(seen, state.body_limit) {
                Ok(body) => body,
                Err((code, body)) => return json(code, body),
            };
            state.next_id += 1;
            let comment = Comment {
                id: state.next_id,
                thread,
                author,
                body,
                edits: 0,
                minimized: None,
            };
            state.comments.push(comment.clone());
            json(201, render(&state.url, &comment).to_string())
        }
        ("PATCH" | "POST", ["issues", "comments", id]) | ("PATCH", ["comments", id]) => {
            if read_only {
                return forbidden();
            }
            let body = match body_of(seen, state.body_limit) {
                Ok(body) => body,
                Err((code, body)) => return json(code, body),
            };
            let url = state.url.clone();
            let Some(comment) = state.comments.iter_mut().find(|c| id.parse() == Ok(c.id)) else {
                return not_found();
            };
            if comment.author != author {
                return forbidden();
            }
            comment.body = body;
            comment.edits += 1;
            json(200, render(&url, comment).to_string())
        }
        ("DELETE", ["issues", "comments", id]) | ("DELETE", ["comments", id]) => {
            if read_only {
                return forbidden();
            }
            let Some(index) = state.comments.iter().position(|c| id.parse() == Ok(c.id)) else {
                return not_found();
            };
            if state.comments[index].author != author {
                return forbidden();
            }
            state.comments.remove(index);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found(),
    }
}

fn list(state: &State, seen: &Seen, thread: &Thread) -> Response {
    let query: HashMap<String, String> = seen
        .query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all: Vec<&Comment> = state
        .comments
        .iter()
        .filter(|c| &c.thread == thread)
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| render(&state.url, c))
        .collect();
    let base = match thread {
        Thread::Issue(n) => format!("{}/repositories/{REPO_ID}/issues/{n}/comments", state.url),
        Thread::Commit(sha) => format!(
            "{}/repositories/{REPO_ID}/commits/{sha}/comments",
            state.url
        ),
    };
    let link =
        |p: usize, rel: &str| format!("<{base}?per_page={per_page}&page={p}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
        links.push(link(1, "first"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    let mut response = json(200, Value::Array(items).to_string());
    if !links.is_empty() {
        response.headers_mut().insert(
            header::LINK,
            HeaderValue::from_str(&links.join(", ")).expect("a valid Link header"),
        );
    }
    response
}

fn body_of(seen: &Seen, limit: usize) -> Result<String, (u16, String)> {
    let body = serde_json::from_str::<Value>(&seen.body)
        .ok()
        .and_then(|v| v["body"].as_str().map(str::to_string));
    let Some(body) = body else {
        return Err((
            422,
            r#"{"message":"Invalid request.\n\n\"body\" wasn't supplied.","documentation_url":"https://docs.github.com/rest","status":"422"}"#.to_string(),
        ));
    };
    if body.chars().count() > limit {
        return Err((
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "IssueComment", "code": "custom", "field": "body",
                            "message": format!("body is too long (maximum is {limit} characters)")}],
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                "status": "422"
            })
            .to_string(),
        ));
    }
    Ok(body)
}

/// A comment as GitHub renders it (the fields clients use).
pub(crate) fn render(url: &str, comment: &Comment) -> Value {
    let html_url = match &comment.thread {
        Thread::Issue(n) => format!(
            "https://github.com/{OWNER}/{REPO}/pull/{n}#issuecomment-{}",
            comment.id
        ),
        Thread::Commit(sha) => format!(
            "https://github.com/{OWNER}/{REPO}/commit/{sha}#commitcomment-{}",
            comment.id
        ),
    };
    let user_type = if comment.author.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({
        "id": comment.id,
        "node_id": format!("IC_standin{}", comment.id),
        "url": format!("{url}/repos/{OWNER}/{REPO}/issues/comments/{}", comment.id),
        "html_url": html_url,
        "body": comment.body,
        "user": {"login": comment.author, "id": 41898282, "type": user_type},
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:00:00Z",
        "author_association": "NONE"
    })
}

fn rate_limited(status: u16, retry_after: Option<u64>, reset_in: Option<i64>) -> Response {
    let message = if status == 429 || retry_after.is_some() && reset_in.is_none() {
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    } else {
        "API rate limit exceeded for installation ID 1."
    };
    let mut response = json(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": status.to_string()}).to_string(),
    );
    let headers = response.headers_mut();
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(reset_in) = reset_in {
        let reset = jiff::Timestamp::now().as_second() + reset_in;
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}

pub(crate) fn forbidden() -> Response {
    json(
        403,
        r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest","status":"403"}"#.to_string(),
    )
}

pub(crate) fn not_found() -> Response {
    json(
        404,
        r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}"#.to_string(),
    )
}

pub(crate) fn json(code: u16, body: String) -> Response {
    let mut response = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
