//! HTTP to PostHog and its status page: key validation, the status summary, health endpoints.
//!
//! Every request has a timeout. A 429, a 502/503/504 or a refused connection is retried once,
//! after `Retry-After` when the server sends one (and it is short enough), else after a short pause.
//! A timeout is not retried: it already cost the whole timeout, and a second one would double it.

use std::time::{Duration, Instant};

use backon::{ConstantBuilder, Retryable};
use serde::{Deserialize, Serialize};
use url::Url;

use super::Region;
pub use super::remote_error::{RemoteError, parse_retry_after};
use super::remote_error::{error_detail, malformed, transport};
use super::status::{self, StatusSnapshot};

/// The `distinct_id` sent with `/flags`, so the request is recognisable in PostHog's logs.
pub const PREFLIGHT_DISTINCT_ID: &str = "kubectl-posthog-preflight";

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
            let answer = crate::http::send("posthog", build())
                .await
                .map_err(|e| match e {
                    crate::http::SendError::Request(e) => transport(url, &e, self.timeout),
                    crate::http::SendError::Body(crate::http::BodyError::Timeout) => {
                        RemoteError::Timeout {
                            url: url.to_string(),
                            after: self.timeout,
                        }
                    }
                    crate::http::SendError::Body(other) => RemoteError::Unreachable {
                        url: url.to_string(),
                        detail: other.to_string(),
                    },
                })?;
            let status = answer.status;
            let retry_after = answer
                .headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = answer.body;
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

#[cfg(test)]
mod tests {
    use super::*;

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
