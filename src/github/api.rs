//! The GitHub client: octocrab at `$GITHUB_API_URL` for REST and at the matching GraphQL endpoint
//! (`…/graphql` on github.com, `…/api/graphql` on GitHub Enterprise Server), with our own retry
//! policy.
//!
//! octocrab is built without its `retry` feature on purpose: its retry layer replays a POST after a
//! 5xx, and a 502 that arrives after GitHub stored the comment would then post it twice. Here a GET,
//! PATCH or DELETE is retried (all idempotent), and so is a GraphQL call (a query, or a mutation
//! that sets a state); a REST POST never is — the caller lists again first ([`super::sticky`]).
//! Rate limits (403/429) are waited out as GitHub documents ([`super::rate`]), within one time
//! budget for the whole run (`--github-max-wait`).

use std::time::Duration;

use octocrab::Octocrab;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::rate::{self, RateHeaders};
use crate::http_log::{self, Outcome};

/// The permission error GitHub answers a token that may not write with: a fork's read-only
/// token, or a workflow token without the permission in the job's `permissions`.
pub const READ_ONLY_MESSAGE: &str = "Resource not accessible by integration";

/// Idempotent requests answered 5xx (or lost) are tried this many times in all.
const IDEMPOTENT_ATTEMPTS: u32 = 3;
/// Pages of comments followed at most (100 per page).
pub const MAX_PAGES: usize = 50;

/// Why a request failed. The messages say what GitHub answered; what to do about a 403 depends on
/// the event and the write (see `super::remote::permission_hint`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the token may not write here (403 {READ_ONLY_MESSAGE})")]
    ReadOnly,
    #[error("GitHub refused {what} (403 {message})")]
    Forbidden { what: String, message: String },
    #[error("GitHub rejected the token (401 {0}); check the github-token input")]
    Unauthorized(String),
    #[error("GitHub rate limit on {what}: {detail}")]
    RateLimited { what: String, detail: String },
    #[error("GitHub answered {status} to {what}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// A GraphQL answer with `errors` (GitHub sends those with HTTP 200).
    #[error("GitHub's GraphQL API refused {what}: {message}")]
    Graphql {
        what: String,
        /// The first error's `type` (`FORBIDDEN`, `NOT_FOUND`, …), when given.
        kind: Option<String>,
        message: String,
    },
    #[error("cannot reach GitHub at {url} for {what}: {message}")]
    Unreachable {
        url: String,
        what: String,
        message: String,
    },
}

impl ApiError {
    /// A server error or a lost connection: the request may or may not have taken effect.
    pub fn is_uncertain(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. })
            || matches!(self, ApiError::Status { status, .. } if *status >= 500)
    }

    /// The token lacks a permission (or is a fork's read-only token).
    pub fn is_permission(&self) -> bool {
        matches!(self, ApiError::ReadOnly | ApiError::Forbidden { .. })
            || matches!(self, ApiError::Graphql { kind: Some(kind), .. } if kind == "FORBIDDEN")
    }
}

/// A response that came back 2xx.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub link: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Which of the two endpoints a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Rest,
    Graphql,
}

/// Where GraphQL lives for a REST base: `https://api.github.com` → `https://api.github.com` (path
/// `/graphql`), GHES `https://HOST/api/v3` → `https://HOST/api` (path `/graphql`).
pub fn graphql_base(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    trimmed
        .strip_suffix("/v3")
        .filter(|base| base.ends_with("/api"))
        .unwrap_or(trimmed)
        .to_string()
}

pub struct GithubClient {
    rest: Octocrab,
    graphql: Octocrab,
    api_url: String,
    deadline: Instant,
    /// Every request made, as "METHOD path", for `-v` and the tests.
    pub log: std::sync::Mutex<Vec<String>>,
}

fn octocrab(base: &str, token: &str) -> Result<Octocrab, ApiError> {
    let unreachable = |message: String| ApiError::Unreachable {
        url: base.to_string(),
        what: "building the client".to_string(),
        message,
    };
    Octocrab::builder()
        .base_uri(base)
        .map_err(|e| unreachable(format!("invalid GITHUB_API_URL: {e}")))?
        .personal_token(token.to_string())
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| unreachable(first_line(&e.to_string())))
}

impl GithubClient {
    /// `max_wait` bounds all rate-limit waits and retries of this client together.
    pub fn new(api_url: &str, token: &str, max_wait: Duration) -> Result<Self, ApiError> {
        Ok(GithubClient {
            rest: octocrab(api_url, token)?,
            graphql: octocrab(&graphql_base(api_url), token)?,
            api_url: api_url.to_string(),
            deadline: Instant::now() + max_wait,
            log: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// One REST request, with rate limits waited out and idempotent requests retried on 5xx.
    /// A POST is sent once: on an uncertain failure the caller must look before it posts again.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ApiError> {
        self.send_to(Endpoint::Rest, method, path, body).await
    }

    /// One GraphQL call: the `data` of the answer, or its first error. `what` names it in errors
    /// ("the viewer query", "minimizeComment").
    pub async fn graphql(
        &self,
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, ApiError> {
        let body = json!({ "query": query, "variables": variables });
        let answer = self
            .send_to(Endpoint::Graphql, Method::Post, "/graphql", Some(&body))
            .await?
            .body;
        if let Some(first) = answer["errors"].as_array().and_then(|e| e.first()) {
            return Err(ApiError::Graphql {
                what: what.to_string(),
                kind: first["type"].as_str().map(str::to_string),
                message: first["message"]
                    .as_str()
                    .unwrap_or("an error without a message")
                    .to_string(),
            });
        }
        Ok(answer["data"].clone())
    }

    async fn send_to(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ApiError> {
        let what = format!("{} {path}", method.label());
        // GraphQL calls here read or set a state, so sending one again is harmless.
        let idempotent = method != Method::Post || endpoint == Endpoint::Graphql;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Ok(mut log) = self.log.lock() {
                log.push(what.clone());
            }
            let result = self.send_once(endpoint, method, path, body, &what).await;
            let (status, headers, message) = match result {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(failure)) => failure,
                Err(error) => {
                    if idempotent && attempt < IDEMPOTENT_ATTEMPTS {
                        self.pause(Duration::from_millis(500 * u64::from(attempt)))
                            .await;
                        continue;
                    }
                    return Err(error);
                }
            };
            let now = jiff::Timestamp::now().as_second();
            if let Some(rate) = rate::rate_limit_wait(status, &headers, &message, now) {
                let left = self.deadline.saturating_duration_since(Instant::now());
                let wait = if rate.exact {
                    rate.wait
                } else {
                    rate.wait.min(left)
                };
                if wait > left || left.is_zero() {
                    return Err(ApiError::RateLimited {
                        what,
                        detail: format!(
                            "GitHub asks to wait {}s, more than the {}s left of --github-max-wait",
                            rate.wait.as_secs(),
                            left.as_secs()
                        ),
                    });
                }
                tracing::info!(request = %what, wait_secs = wait.as_secs(), "github rate limit: waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            let error = match status {
                401 => ApiError::Unauthorized(message),
                403 if message.contains(READ_ONLY_MESSAGE) => ApiError::ReadOnly,
                403 => ApiError::Forbidden {
                    what: what.clone(),
                    message,
                },
                _ => ApiError::Status {
                    what: what.clone(),
                    status,
                    message,
                },
            };
            if error.is_uncertain() && idempotent && attempt < IDEMPOTENT_ATTEMPTS {
                self.pause(Duration::from_millis(500 * u64::from(attempt)))
                    .await;
                continue;
            }
            return Err(error);
        }
    }

    /// Sleeps for a retry unless that would pass the deadline.
    async fn pause(&self, wait: Duration) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(wait.min(left)).await;
    }

    /// The response, or (status, rate headers, message) for a non-2xx answer.
    async fn send_once(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Result<ApiResponse, (u16, RateHeaders, String)>, ApiError> {
        let unreachable = |message: String| ApiError::Unreachable {
            url: self.api_url.clone(),
            what: what.to_string(),
            message,
        };
        let octo = match endpoint {
            Endpoint::Rest => &self.rest,
            Endpoint::Graphql => &self.graphql,
        };
        let base = match endpoint {
            Endpoint::Rest => self.api_url.clone(),
            Endpoint::Graphql => graphql_base(&self.api_url),
        };
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let sent = body.map(|b| b.to_string());
        http_log::details(
            "github",
            "request",
            None,
            sent.as_deref().map(str::as_bytes),
        );
        let started = std::time::Instant::now();
        let response = match method {
            Method::Get => octo._get(path).await,
            Method::Post => octo._post(path, body).await,
            Method::Patch => octo._patch(path, body).await,
            Method::Delete => octo._delete(path, body).await,
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let error = first_line(&e.to_string());
                http_log::exchange(
                    "github",
                    method.label(),
                    &url,
                    Outcome::Failed(&error),
                    started.elapsed(),
                );
                return Err(unreachable(error));
            }
        };
        let status = response.status().as_u16();
        http_log::exchange(
            "github",
            method.label(),
            &url,
            Outcome::Status(status),
            started.elapsed(),
        );
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let rate = RateHeaders {
            retry_after: header("retry-after").and_then(|v| v.trim().parse().ok()),
            remaining: header("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset: header("x-ratelimit-reset").and_then(|v| v.trim().parse().ok()),
        };
        let link = header("link");
        let headers = response.headers().clone();
        let text = octo
            .body_to_string(response)
            .await
            .map_err(|e| unreachable(first_line(&e.to_string())))?;
        http_log::details("github", "response", Some(&headers), Some(text.as_bytes()));
        if (200..300).contains(&status) {
            let body = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| ApiError::Status {
                    what: what.to_string(),
                    status,
                    message: format!("the answer is not JSON: {e}"),
                })?
            };
            return Ok(Ok(ApiResponse { status, link, body }));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| first_line(text.trim()).chars().take(200).collect());
        Ok(Err((status, rate, message)))
    }

    /// Every item of a paginated list, following `Link: rel="next"` (at most [`MAX_PAGES`] pages).
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{separator}per_page=100"));
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            let response = self.send(Method::Get, &page, None).await?;
            match response.body {
                Value::Array(list) => items.extend(list),
                other => {
                    return Err(ApiError::Status {
                        what: format!("GET {page}"),
                        status: response.status,
                        message: format!("expected a list, got {}", short(&other)),
                    });
                }
            }
            if pages < MAX_PAGES {
                next = response
                    .link
                    .as_deref()
                    .and_then(rate::next_link)
                    .map(|u| rate::relative(&u));
            }
        }
        Ok(items)
    }

    /// The requests made so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_string()
}

fn short(value: &Value) -> String {
    value.to_string().chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_next_to_rest_on_github_and_under_api_on_ghes() {
        assert_eq!(
            graphql_base("https://api.github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_base("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(graphql_base("http://127.0.0.1:9"), "http://127.0.0.1:9");
        // Only GHES's /api/v3 is rewritten.
        assert_eq!(graphql_base("http://x/v3"), "http://x/v3");
    }
}
