//! What a PostHog, status page or health endpoint call can fail with, worded to read after
//! "failed to …", and how a failed answer is described without echoing a key.

use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

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
    pub(super) fn retry_delay(&self) -> Option<Option<Duration>> {
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

pub(super) fn transport(url: &Url, error: &reqwest::Error, timeout: Duration) -> RemoteError {
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

pub(super) fn malformed(url: &Url, status: u16, error: &serde_json::Error) -> RemoteError {
    RemoteError::Malformed {
        url: url.to_string(),
        status,
        detail: error.to_string(),
    }
}

/// PostHog's error envelope `{type, code, detail, attr}` when present, else the start of the body.
pub(super) fn error_detail(status: StatusCode, body: &str) -> String {
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
}
