//! HTTP to PostHog and its status page: key validation, the status summary, health endpoints.
//!
//! Every request has a timeout. A 429, a 502/503/504 or a refused connection is retried once,
//! after `Retry-After` when the server sends one (and it is short enough), else after a short pause.
//! A timeout is not retried: it already cost the whole timeout, and a second one would double it.

use std::time::{Duration, Instant};

use backon::{ConstantBuilder, Retryable};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::Region;
use super::status::{self, StatusSnapshot};

/// The `distinct_id` sent with `/flags`, so the request is recognisable in PostHog's logs.
pub const PREFLIGHT_DISTINCT_ID: &str = "kubectl-posthog-preflight";

/// A remote call that did not produce an answer we can judge. Messages read after "failed to …".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    #[error("{url} did not answer within {}", humantime::format_duration(*after))]
    Timeout { url: String, after: Duration },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{url} answered HTTP {status}{}: {detail}", retry_note(*retry_after))]
    Http {
        url: String,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
        /// The whole body, for callers that judge it (a health endpoint answering 503).
        body: String,
    },
    #[error("{url} answered HTTP {status} with a body that is not the expected JSON ({detail})")]
    Malformed {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("invalid URL {url:?}: {detail}")]
    BadUrl { url: String, detail: String },
}

fn retry_note(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(after) => format!(" (Retry-After {})", humantime::format_duration(after)),
        None => String::new(),
    }
}

impl RemoteError {
    fn retry_delay(&self) -> Option<Option<Duration>> {
        match self {
            RemoteError::Http {
                status: 429 | 502 | 503 | 504,
                retry_after,
                ..
            } => Some(*retry_after),
            RemoteError::Unreachable { .. } => Some(None),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Http { status, .. } | RemoteError::Malformed { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// What `/flags?v=2` said about a project key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum ProjectKeyCheck {
    /// 200 with a `flags` object: the key belongs to a project.
    Valid { flags: usize },
    /// 401: PostHog does not know the key.
    Rejected { status: u16, detail: String },
}

/// What `/api/personal_api_keys/@current/` said about a personal or secret key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum PersonalKeyCheck {
    Valid(PersonalKeyInfo),
    Rejected { status: u16, detail: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalKeyInfo {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default, alias = "mask_value")]
    pub mask_value: Option<String>,
    /// An empty list means all scopes; it is normalised to `["*"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, alias = "scoped_teams")]
    pub scoped_teams: Option<Vec<serde_json::Value>>,
    #[serde(default, alias = "scoped_organizations")]
    pub scoped_organizations: Option<Vec<serde_json::Value>>,
    #[serde(default, alias = "last_used_at")]
    pub last_used_at: Option<String>,
}

impl PersonalKeyInfo {
    /// `*` (or no scope list at all) grants everything the user can do.
    pub fn is_unrestricted(&self) -> bool {
        self.scopes.iter().any(|s| s == "*")
    }
}

/// An HTTP answer from a health endpoint, judged elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthProbe {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

#[derive(Clone)]
pub struct PostHogClient {
    http: reqwest::Client,
    timeout: Duration,
    /// Longest `Retry-After` we wait for; a longer one is reported instead of waited out.
    max_retry_wait: Duration,
    /// Pause before the retry when the server gave no `Retry-After`.
    retry_pause: Duration,
}

impl std::fmt::Debug for PostHogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostHogClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PostHogClient {
    pub fn new(timeout: Duration) -> Result<Self, RemoteError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("kubectl-posthog/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::http::same_origin_redirects())
            .build()
            .map_err(|e| RemoteError::Unreachable {
                url: "(client)".to_string(),
                detail: e.to_string(),
            })?;
        Ok(PostHogClient {
            http,
            timeout,
            max_retry_wait: Duration::from_secs(10),
            retry_pause: Duration::from_millis(500),
        })
    }

    /// Shorter pauses, for tests that exercise the retry.
    pub fn with_retry_timing(mut self, pause: Duration, max_wait: Duration) -> Self {
        self.retry_pause = pause;
        self.max_retry_wait = max_wait;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `POST {ingest}/flags?v=2` with the key: 200 proves it, 401 refutes it.
    /// (`/capture` and `/batch` answer 200 to any key and prove nothing.)
    pub async fn check_project_key(
        &self,
        ingest: &Url,
        key: &str,
    ) -> Result<ProjectKeyCheck, RemoteError> {
        let url = join(ingest, "flags")?;
        let mut url = url;
        url.set_query(Some("v=2"));
        let body = serde_json::json!({"api_key": key.trim(), "distinct_id": PREFLIGHT_DISTINCT_ID});
        let answer = self
            .send(&url, || self.http.post(url.clone()).json(&body))
            .await;
        match answer {
            Ok((status, text)) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| malformed(&url, status, &e))?;
                let flags = value
                    .get("flags")
                    .and_then(serde_json::Value::as_object)
                    .ok_or_else(|| RemoteError::Malformed {
                        url: url.to_string(),
                        status,
                        detail: "no `flags` object".to_string(),
                    })?;
                Ok(ProjectKeyCheck::Valid { flags: flags.len() })
            }
            Err(RemoteError::Http { status, detail, .. }) if status == 401 || status == 403 => {
                Ok(ProjectKeyCheck::Rejected { status, detail })
            }
            Err(e) => Err(e),
        }
    }

    /// `GET {app}/api/personal_api_keys/@current/` with the key as a bearer token (needs no scope).
    pub async fn check_personal_key(
        &self,
        app: &Url,
        key: &str,
    ) -> Result<PersonalKeyCheck, RemoteError> {
        let url = join(app, "api/personal_api_keys/@current/")?;
        let answer = self
            .send(&url, || self.http.get(url.clone()).bearer_auth(key.trim()))
            .await;
        match answer {
            Ok((status, text)) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| malformed(&url, status, &e))?;
                // Any JSON 200 used to pass (`{"status":"ok"}` → "accepted, scopes *"): only
                // the documented shape proves PostHog knows the key.
                let shaped = value.get("id").is_some_and(|v| !v.is_null())
                    && value
                        .get("mask_value")
                        .is_some_and(serde_json::Value::is_string)
                    && value.get("scopes").is_some_and(serde_json::Value::is_array);
                if !shaped {
                    return Err(RemoteError::Malformed {
                        url: url.to_string(),
                        status,
                        detail: "not a personal API key (no id, mask_value and scopes)".to_string(),
                    });
                }
                let mut info: PersonalKeyInfo =
                    serde_json::from_value(value).map_err(|e| malformed(&url, status, &e))?;
                if info.scopes.is_empty() {
                    info.scopes = vec!["*".to_string()];
                }
                Ok(PersonalKeyCheck::Valid(info))
            }
            Err(RemoteError::Http { status, detail, .. }) if status == 401 || status == 403 => {
                Ok(PersonalKeyCheck::Rejected { status, detail })
            }
            Err(e) => Err(e),
        }
    }

    /// The status summary; on any failure of the first URL, the fallback (when given).
    /// The error returned is the first URL's, with the fallback's appended.
    pub async fn status(
        &self,
        primary: &Url,
        fallback: Option<&Url>,
        region: Option<&Region>,
    ) -> Result<StatusSnapshot, RemoteError> {
        let first = match self.send(primary, || self.http.get(primary.clone())).await {
            Ok((code, body)) => {
                status::parse_incident_io(&body, region).map_err(|e| malformed(primary, code, &e))
            }
            Err(e) => Err(e),
        };
        let error = match first {
            Ok(snapshot) => return Ok(snapshot),
            Err(error) => error,
        };
        let Some(fallback) = fallback else {
            return Err(error);
        };
        tracing::info!("status page {primary} failed ({error}); trying {fallback}");
        match self
            .send(fallback, || self.http.get(fallback.clone()))
            .await
        {
            Ok((code, body)) => {
                status::parse_atlassian(&body).map_err(|e| malformed(fallback, code, &e))
            }
            Err(_) => Err(error),
        }
    }

    /// `curl -f URL` as the checklist's pre-flight does, keeping the body for the health shape.
    /// Any HTTP status is an answer; only a transport failure is an error.
    pub async fn probe(&self, url: &Url) -> Result<HealthProbe, RemoteError> {
        let started = Instant::now();
        match self.send(url, || self.http.get(url.clone())).await {
            Ok((status, body)) => Ok(HealthProbe {
                status,
                body,
                elapsed: started.elapsed(),
            }),
            Err(RemoteError::Http { status, body, .. }) => Ok(HealthProbe {
                status,
                body,
                elapsed: started.elapsed(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Sends the request built by `build`, retrying once as described in the module header.
    /// Returns the status and body of a 2xx answer; any other status is `RemoteError::Http`.
    async fn send(
        &self,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, String), RemoteError> {
        let attempt = || async {
            let response = build()
                .send()
                .await
                .map_err(|e| transport(url, &e, self.timeout))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = crate::http::read_capped(response, crate::http::BODY_CAP)
                .await
                .map_err(|e| match e {
                    crate::http::BodyError::Timeout => RemoteError::Timeout {
                        url: url.to_string(),
                        after: self.timeout,
                    },
                    other => RemoteError::Unreachable {
                        url: url.to_string(),
                        detail: other.to_string(),
                    },
                })?;
            if status.is_success() {
                Ok((status.as_u16(), text))
            } else {
                Err(RemoteError::Http {
                    url: url.to_string(),
                    status: status.as_u16(),
                    detail: error_detail(status, &text),
                    retry_after,
                    body: text,
                })
            }
        };
        let max_wait = self.max_retry_wait;
        attempt
            .retry(
                ConstantBuilder::default()
                    .with_delay(self.retry_pause)
                    .with_max_times(1),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &RemoteError| match e.retry_delay() {
                Some(Some(after)) => after <= max_wait,
                Some(None) => true,
                None => false,
            })
            .adjust(|e: &RemoteError, planned| {
                // `planned` is None once the single retry is spent: never extend past it.
                let planned = planned?;
                Some(e.retry_delay().flatten().unwrap_or(planned))
            })
            .notify(|e: &RemoteError, after| {
                tracing::info!("retrying in {after:?}: {e}");
            })
            .await
    }
}

fn join(base: &Url, path: &str) -> Result<Url, RemoteError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(path).map_err(|e| RemoteError::BadUrl {
        url: format!("{base}{path}"),
        detail: e.to_string(),
    })
}

fn transport(url: &Url, error: &reqwest::Error, timeout: Duration) -> RemoteError {
    if error.is_timeout() {
        return RemoteError::Timeout {
            url: url.to_string(),
            after: timeout,
        };
    }
    // The innermost cause says "connection refused" where reqwest says "error sending request".
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    RemoteError::Unreachable {
        url: url.to_string(),
        detail,
    }
}

fn malformed(url: &Url, status: u16, error: &serde_json::Error) -> RemoteError {
    RemoteError::Malformed {
        url: url.to_string(),
        status,
        detail: error.to_string(),
    }
}

/// PostHog's error envelope `{type, code, detail, attr}` when present, else the start of the body.
fn error_detail(status: StatusCode, body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let field = |k: &str| value.get(k).and_then(serde_json::Value::as_str);
        if let Some(detail) = field("detail") {
            return match field("code").or(field("type")) {
                Some(code) => format!("{code}: {detail}"),
                None => detail.to_string(),
            };
        }
    }
    let text: String = super::redact(body.trim()).chars().take(160).collect();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no body")
            .to_ascii_lowercase()
    } else {
        text
    }
}

/// `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn error_detail_reads_the_posthog_envelope() {
        let body = r#"{"type":"authentication_error","code":"authentication_failed","detail":"Invalid personal API key.","attr":null}"#;
        assert_eq!(
            error_detail(StatusCode::UNAUTHORIZED, body),
            "authentication_failed: Invalid personal API key."
        );
        assert_eq!(
            error_detail(StatusCode::UNAUTHORIZED, "Project API key invalid."),
            "Project API key invalid."
        );
        assert_eq!(error_detail(StatusCode::BAD_GATEWAY, ""), "bad gateway");
    }

    #[test]
    fn error_detail_never_echoes_a_key() {
        let body = "bad key phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543";
        let detail = error_detail(StatusCode::BAD_REQUEST, body);
        assert!(detail.contains("phx_…6543"), "{detail}");
        assert!(!detail.contains("Zy9Xw8"), "{detail}");
    }

    #[test]
    fn join_keeps_a_base_path() {
        let base = Url::parse("http://127.0.0.1:1/posthog").unwrap();
        assert_eq!(
            join(&base, "flags").unwrap().as_str(),
            "http://127.0.0.1:1/posthog/flags"
        );
        let root = Url::parse("https://us.i.posthog.com").unwrap();
        assert_eq!(
            join(&root, "api/personal_api_keys/@current/")
                .unwrap()
                .as_str(),
            "https://us.i.posthog.com/api/personal_api_keys/@current/"
        );
    }

    #[test]
    fn personal_key_scopes() {
        let info: PersonalKeyInfo = serde_json::from_str(
            r#"{"id":"x","label":"ci","mask_value":"phx_...abcd","scopes":["feature_flag:read"],"scoped_teams":[1],"scoped_organizations":[],"last_used_at":null}"#,
        )
        .unwrap();
        assert!(!info.is_unrestricted());
        assert_eq!(info.mask_value.as_deref(), Some("phx_...abcd"));
    }
}
