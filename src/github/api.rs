//! The GitHub REST client for comments: octocrab at `$GITHUB_API_URL`, with our own retry policy.
//!
//! octocrab is built without its `retry` feature on purpose: its retry layer replays a POST after a
//! 5xx, and a 502 that arrives after GitHub stored the comment would then post it twice. Here a GET
//! or PATCH is retried (both idempotent); a POST never is — the caller lists again first
//! ([`super::sticky`]). Rate limits (403/429) are waited out as GitHub documents, within one time
//! budget for the whole run (`--github-max-wait`).

use std::time::Duration;

use octocrab::Octocrab;
use serde_json::Value;
use tokio::time::Instant;

/// The permission error GitHub answers a read-only token (a fork's PR) with.
pub const READ_ONLY_MESSAGE: &str = "Resource not accessible by integration";

/// GitHub's advice when a rate limit names no time: wait at least a minute.
const UNNAMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Idempotent requests answered 5xx (or lost) are tried this many times in all.
const IDEMPOTENT_ATTEMPTS: u32 = 3;
/// Pages of comments followed at most (100 per page).
pub const MAX_PAGES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the token cannot write here (403 {READ_ONLY_MESSAGE}); fork pull requests get a read-only token"
    )]
    ReadOnly,
    #[error(
        "GitHub refused {what} (403 {message}); the token needs `pull-requests: write` (or `contents: write` for commit comments)"
    )]
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
}

/// A response that came back 2xx.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub link: Option<String>,
    pub body: Value,
}

/// The headers and message that decide what a 403/429 means.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    pub retry_after: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<i64>,
}

/// How long a 403/429 asks us to wait, or `None` when it is not a rate limit (a permission error).
/// `exact` says GitHub named the time; a guessed wait may be shortened to fit the budget, an exact
/// one may not (retrying early only earns another refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWait {
    pub wait: Duration,
    pub exact: bool,
}

pub fn rate_limit_wait(
    status: u16,
    headers: &RateHeaders,
    message: &str,
    now_epoch: i64,
) -> Option<RateWait> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = headers.retry_after {
        return Some(RateWait {
            wait: Duration::from_secs(secs),
            exact: true,
        });
    }
    if let (Some(0), Some(reset)) = (headers.remaining, headers.reset) {
        // One extra second: the window resets at the start of that second, our clock may lag.
        let secs = (reset - now_epoch).max(0) as u64 + 1;
        return Some(RateWait {
            wait: Duration::from_secs(secs),
            exact: true,
        });
    }
    let says_rate_limit = message.to_ascii_lowercase().contains("rate limit");
    if status == 429 || says_rate_limit {
        return Some(RateWait {
            wait: UNNAMED_RATE_LIMIT_WAIT,
            exact: false,
        });
    }
    None
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// octocrab sends its token only to relative paths (or api.github.com), so a `next` link from a
/// GitHub Enterprise or test server is followed by its path and query.
fn relative(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

pub struct GithubClient {
    octo: Octocrab,
    api_url: String,
    deadline: Instant,
    /// Every request made, as "METHOD path", for `-v` and the tests.
    pub log: std::sync::Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

impl GithubClient {
    /// `max_wait` bounds all rate-limit waits and retries of this client together.
    pub fn new(api_url: &str, token: &str, max_wait: Duration) -> Result<Self, ApiError> {
        let unreachable = |message: String| ApiError::Unreachable {
            url: api_url.to_string(),
            what: "building the client".to_string(),
            message,
        };
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| unreachable(format!("invalid GITHUB_API_URL: {e}")))?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| unreachable(first_line(&e.to_string())))?;
        Ok(GithubClient {
            octo,
            api_url: api_url.to_string(),
            deadline: Instant::now() + max_wait,
            log: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// One request, with rate limits waited out and idempotent requests retried on 5xx.
    /// A POST is sent once: on an uncertain failure the caller must look before it posts again.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ApiError> {
        let what = format!("{} {path}", method.label());
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Ok(mut log) = self.log.lock() {
                log.push(what.clone());
            }
            tracing::debug!(request = %what, attempt, "github");
            let result = self.send_once(method, path, body, &what).await;
            let (status, headers, message) = match result {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(failure)) => failure,
                Err(error) => {
                    if method != Method::Post && attempt < IDEMPOTENT_ATTEMPTS {
                        self.pause(Duration::from_millis(500 * u64::from(attempt)))
                            .await;
                        continue;
                    }
                    return Err(error);
                }
            };
            let now = jiff::Timestamp::now().as_second();
            if let Some(rate) = rate_limit_wait(status, &headers, &message, now) {
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
            if error.is_uncertain() && method != Method::Post && attempt < IDEMPOTENT_ATTEMPTS {
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
        let response = match method {
            Method::Get => self.octo._get(path).await,
            Method::Post => self.octo._post(path, body).await,
            Method::Patch => self.octo._patch(path, body).await,
        }
        .map_err(|e| unreachable(first_line(&e.to_string())))?;
        let status = response.status().as_u16();
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
        let text = self
            .octo
            .body_to_string(response)
            .await
            .map_err(|e| unreachable(first_line(&e.to_string())))?;
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
                    .and_then(next_link)
                    .map(|u| relative(&u));
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

    fn headers(
        retry_after: Option<u64>,
        remaining: Option<u64>,
        reset: Option<i64>,
    ) -> RateHeaders {
        RateHeaders {
            retry_after,
            remaining,
            reset,
        }
    }

    #[test]
    fn retry_after_is_exact() {
        let wait = rate_limit_wait(429, &headers(Some(7), None, None), "", 0).unwrap();
        assert_eq!(
            wait,
            RateWait {
                wait: Duration::from_secs(7),
                exact: true
            }
        );
        let wait = rate_limit_wait(403, &headers(Some(2), None, None), "secondary", 0).unwrap();
        assert_eq!(wait.wait, Duration::from_secs(2));
    }

    #[test]
    fn exhausted_primary_limit_waits_until_reset() {
        let wait = rate_limit_wait(
            403,
            &headers(None, Some(0), Some(1_000)),
            "API rate limit exceeded",
            990,
        );
        assert_eq!(
            wait,
            Some(RateWait {
                wait: Duration::from_secs(11),
                exact: true
            })
        );
        let past = rate_limit_wait(403, &headers(None, Some(0), Some(900)), "", 990).unwrap();
        assert_eq!(past.wait, Duration::from_secs(1));
    }

    #[test]
    fn unnamed_limits_wait_a_minute_and_permission_errors_are_not_limits() {
        let wait = rate_limit_wait(429, &headers(None, None, None), "", 0).unwrap();
        assert_eq!(
            wait,
            RateWait {
                wait: Duration::from_secs(60),
                exact: false
            }
        );
        let secondary = rate_limit_wait(
            403,
            &headers(None, Some(10), None),
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            0,
        );
        assert!(secondary.is_some());
        assert_eq!(
            rate_limit_wait(403, &headers(None, None, None), READ_ONLY_MESSAGE, 0),
            None
        );
        assert_eq!(
            rate_limit_wait(502, &headers(Some(1), None, None), "", 0),
            None
        );
    }

    #[test]
    fn link_header_next() {
        let link = r#"<https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=5>; rel="last""#;
        let next = next_link(link).unwrap();
        assert!(next.ends_with("page=2"), "{next}");
        assert_eq!(
            relative(&next),
            "/repositories/1/issues/2/comments?per_page=100&page=2"
        );
        let last_page = r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=1>; rel="first""#;
        assert_eq!(next_link(last_page), None);
    }
}
