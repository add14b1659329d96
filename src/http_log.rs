//! One way to log an HTTP exchange with an outside system, as kubectl's `-v=6`/`-v=8` do: `-vv`
//! (DEBUG) one line per request — system, method, URL, status, latency; `-vvv` (TRACE) also the
//! headers and the bodies, up to [`BODY_LIMIT`] bytes each. Credentials never appear: the URL
//! loses its user info and the values of credential-like query parameters, credential headers are
//! `<redacted>`, and bodies lose PostHog keys, credential-like JSON fields and Secret data.
//!
//! The Kubernetes client logs through a tower layer (`kube::http_trace`); the reqwest clients
//! (Prometheus, PostHog) send through `http::send`; GitHub (octocrab) and the Prometheus query
//! crate call [`exchange`] around their requests.

use std::time::Duration;

use http::HeaderMap;

use crate::redact::Redactor;

/// Bodies are shown up to this many bytes at `-vvv`.
pub const BODY_LIMIT: usize = 4096;

/// What is shown in place of a credential.
pub const REDACTED: &str = crate::redact::REDACTED;

/// A request's answer as the log shows it: a status, or why there was none.
pub enum Outcome<'a> {
    Status(u16),
    Failed(&'a str),
}

/// The `-vv` line for one request (DEBUG): `kubernetes GET http://…/deployments/web 200 OK in 3 ms`.
pub fn exchange(system: &str, method: &str, url: &str, outcome: Outcome<'_>, latency: Duration) {
    let url = redact_url(url);
    let ms = latency.as_millis();
    match outcome {
        Outcome::Status(status) => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            tracing::debug!("{system} {method} {url} {status} {reason} in {ms} ms");
        }
        Outcome::Failed(error) => {
            tracing::debug!("{system} {method} {url} failed in {ms} ms: {error}");
        }
    }
}

/// Whether `-vvv` is on (headers and bodies are worth collecting).
pub fn details_enabled() -> bool {
    tracing::enabled!(tracing::Level::TRACE)
}

/// The `-vvv` lines for one side of an exchange (TRACE): its headers, redacted, and its body.
pub fn details(system: &str, side: &str, headers: Option<&HeaderMap>, body: Option<&[u8]>) {
    if !details_enabled() {
        return;
    }
    if let Some(headers) = headers {
        for (name, value) in headers {
            let value = if is_credential_header(name.as_str()) || value.is_sensitive() {
                REDACTED.to_string()
            } else {
                redact_text(&String::from_utf8_lossy(value.as_bytes()))
            };
            tracing::trace!("{system} {side} header {name}: {value}");
        }
    }
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        tracing::trace!("{system} {side} body: {}", body_excerpt(body));
    }
}

/// Headers that carry credentials, whatever their value.
pub fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
    ) || name.contains("token")
        || name.contains("secret")
        || name.contains("password")
        || name.contains("api-key")
}

/// Query parameters (and JSON fields) whose value is a credential.
fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    name.contains("token")
        || name.contains("secret")
        || name.contains("password")
        || name.contains("api_key")
        || name.contains("apikey")
        || matches!(
            name.as_str(),
            "key" | "sig" | "signature" | "auth" | "authorization"
        )
}

/// The URL without user info and with credential-like query values replaced.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return redact_text(raw);
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_credential_name(&k) {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    redact_text(&url.as_str().replace("%5BREDACTED%5D", REDACTED))
}

/// A body as the log shows it: credentials out, at most [`BODY_LIMIT`] bytes.
pub fn body_excerpt(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value) => {
            redact_json(&mut value, false);
            // Credential-named env vars, flags and data keys of Kubernetes objects.
            crate::redact::redact_document(&mut value, redactor());
            value.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = redact_text(&text);
    if text.len() <= BODY_LIMIT {
        return text;
    }
    let mut end = BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Credential-like fields, and the data of Secrets (`kind: Secret`, or the items of a list of them).
fn redact_json(value: &mut serde_json::Value, in_secret: bool) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let secret = in_secret || map.get("kind").and_then(Value::as_str) == Some("Secret");
            for (key, field) in map.iter_mut() {
                let credential = is_credential_name(key)
                    || (secret && matches!(key.as_str(), "data" | "stringData"));
                if credential && !field.is_null() {
                    *field = Value::String(REDACTED.to_string());
                } else {
                    redact_json(field, false);
                }
            }
            if map.get("kind").and_then(Value::as_str) == Some("SecretList")
                && let Some(Value::Array(items)) = map.get_mut("items")
            {
                for item in items {
                    redact_json(item, true);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_json(item, in_secret);
            }
        }
        _ => {}
    }
}

/// The project's redaction ([`crate::redact`], as for evidence bundles), built once.
fn redactor() -> &'static Redactor {
    static REDACTOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    REDACTOR.get_or_init(Redactor::patterns_only)
}

/// The project's patterns (PostHog keys, bearer and basic credentials, `password=`-style values,
/// passwords in URLs), then PostHog keys and bearer tokens again by this module's own patterns.
fn redact_text(text: &str) -> String {
    let (text, _) = redactor().redact_str(text);
    own_patterns(&text)
}

fn own_patterns(text: &str) -> String {
    static PATTERNS: std::sync::OnceLock<[regex::Regex; 2]> = std::sync::OnceLock::new();
    let [keys, bearer] = PATTERNS.get_or_init(|| {
        [
            regex::Regex::new(r"\bph[cxsar]_[A-Za-z0-9_-]{6,}").expect("a valid pattern"),
            regex::Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
                .expect("a valid pattern"),
        ]
    });
    let text = keys.replace_all(text, REDACTED);
    bearer.replace_all(&text, "$1 [REDACTED]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_and_credential_parameters() {
        assert_eq!(
            redact_url(
                "https://user:pw@prom.example:9090/api/v1/query?query=up&access_token=abc&key=k"
            ),
            "https://prom.example:9090/api/v1/query?query=up&access_token=[REDACTED]&key=[REDACTED]"
        );
        assert_eq!(
            redact_url("https://us.i.posthog.com/flags?v=2"),
            "https://us.i.posthog.com/flags?v=2"
        );
    }

    #[test]
    fn credential_headers_are_named_so() {
        for name in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "x-auth-token",
            "Proxy-Authorization",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in ["content-type", "accept", "user-agent"] {
            assert!(!is_credential_header(name), "{name}");
        }
    }

    #[test]
    fn bodies_lose_keys_secret_data_and_credential_fields() {
        let body = br#"{"api_key":"phc_abcdefghijkl","distinct_id":"x","note":"key phx_0123456789abcdef here"}"#;
        let shown = body_excerpt(body);
        assert!(!shown.contains("phc_abcdefghijkl"), "{shown}");
        assert!(!shown.contains("phx_0123456789abcdef"), "{shown}");
        assert!(shown.contains("distinct_id"), "{shown}");

        let secret = br#"{"kind":"Secret","metadata":{"name":"ph"},"data":{"POSTHOG_API_KEY":"cGhjX3NlY3JldA=="}}"#;
        let shown = body_excerpt(secret);
        assert!(!shown.contains("cGhjX3NlY3JldA=="), "{shown}");
        let list =
            br#"{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}}]}"#;
        let shown = body_excerpt(list);
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("\"a\""), "{shown}");
        // A ConfigMap's data is not a secret.
        let config = br#"{"kind":"ConfigMap","data":{"REGION":"us"}}"#;
        assert!(body_excerpt(config).contains("REGION"));
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "é".repeat(BODY_LIMIT);
        let shown = body_excerpt(body.as_bytes());
        assert!(shown.len() < BODY_LIMIT + 40, "{}", shown.len());
        assert!(shown.ends_with("more bytes)"), "{shown}");
    }

    #[test]
    fn bearer_tokens_in_text_are_redacted() {
        assert_eq!(
            redact_text("Authorization: Bearer abc.def-123"),
            "Authorization: Bearer [REDACTED]"
        );
    }
}
