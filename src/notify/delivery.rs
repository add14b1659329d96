//! One POST to a destination, bounded and honest: retried with backoff on 429 (honouring
//! `Retry-After`) and 5xx and when the connection could not be made, all within the
//! destination's timeout; never retried once the receiver may have accepted it, unless the
//! receiver deduplicates (PagerDuty). Error text never holds the URL (it is a credential) and
//! is scrubbed of every known secret before it leaves this module.

use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Values that must never be shown: webhook URLs, tokens, routing keys.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_string());
            // Longest first, so a URL is replaced before a token inside it.
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

/// How a receiver's answer is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Delivered; the text worth keeping (a Slack `ts`, a dedup key).
    Accepted(String),
    /// Try again after this long (`Retry-After`), or after the backoff.
    Retry(Option<Duration>, String),
    /// Refused for good (a bad payload, an unknown channel).
    Rejected(String),
}

/// What one delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: Result<String, String>,
    pub attempts: u32,
}

/// The retry policy: first pause, growth, and whether a request may be repeated when its answer
/// was lost (the receiver may have accepted it).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub timeout: Duration,
    pub first_pause: Duration,
    /// The receiver drops duplicates (PagerDuty's dedup_key), so a lost answer may be retried.
    pub deduplicated: bool,
}

/// Sends the request `build` makes until it is accepted, rejected, or `policy.timeout` passes.
pub async fn deliver(
    build: impl Fn() -> reqwest::RequestBuilder,
    judge: impl Fn(u16, &HeaderMap, &str) -> Answer,
    policy: Policy,
    secrets: &Secrets,
) -> Outcome {
    let deadline = Instant::now() + policy.timeout;
    let mut attempts = 0;
    let mut pause = policy.first_pause;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let answer = match tokio::time::timeout(remaining, exchange(build())).await {
            Err(_) if policy.deduplicated => Answer::Retry(None, no_answer(policy.timeout)),
            Err(_) => {
                return Outcome {
                    result: Err(format!(
                        "{}; not retried, since it may have been delivered",
                        no_answer(policy.timeout)
                    )),
                    attempts,
                };
            }
            Ok(Err(error)) => {
                let error = error.without_url();
                let text = error.to_string();
                if error.is_connect() || (policy.deduplicated && !error.is_builder()) {
                    Answer::Retry(None, format!("could not connect: {}", chain(&error, &text)))
                } else if error.is_builder() {
                    Answer::Rejected(format!("the request could not be built: {text}"))
                } else {
                    return Outcome {
                        result: Err(secrets.scrub(&format!(
                            "{}; not retried, since it may have been delivered",
                            chain(&error, &text)
                        ))),
                        attempts,
                    };
                }
            }
            Ok(Ok((status, headers, body))) => judge(status, &headers, &body),
        };
        match answer {
            Answer::Accepted(text) => {
                return Outcome {
                    result: Ok(secrets.scrub(&text)),
                    attempts,
                };
            }
            Answer::Rejected(why) => {
                return Outcome {
                    result: Err(secrets.scrub(&why)),
                    attempts,
                };
            }
            Answer::Retry(after, why) => {
                let wait = after.unwrap_or(pause);
                pause = (pause * 2).min(Duration::from_secs(8));
                if Instant::now() + wait >= deadline {
                    let why = match after {
                        Some(after) => format!(
                            "{why}; Retry-After {}s is past the {}s timeout",
                            after.as_secs(),
                            policy.timeout.as_secs()
                        ),
                        None => format!(
                            "{why}; gave up at the {}s timeout",
                            policy.timeout.as_secs()
                        ),
                    };
                    return Outcome {
                        result: Err(secrets.scrub(&format!(
                            "{why} after {attempts} attempt{}",
                            plural(attempts)
                        ))),
                        attempts,
                    };
                }
                tracing::debug!(
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "notification retried: {}",
                    secrets.scrub(&why)
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within the {}s timeout", timeout.as_secs())
}

/// The error and its causes, without the URL.
fn chain(error: &reqwest::Error, text: &str) -> String {
    let mut out = text.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(u16, HeaderMap, String), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // Receivers answer a few bytes; a huge body is cut, not read into memory.
    let body = crate::http::read_capped(response, 1 << 20)
        .await
        .unwrap_or_else(|e| format!("(body not read: {e})"));
    Ok((status, headers, body))
}

/// `Retry-After` in seconds (Slack and most receivers send seconds).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::posthog::client::parse_retry_after)
}

/// The first line of a body, bounded, for an error message.
pub fn short(body: &str) -> String {
    let line = body.lines().next().unwrap_or("").trim();
    crate::event::truncate_chars(line, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_longest_first() {
        let mut secrets = Secrets::default();
        secrets.add("T0KEN");
        secrets.add("https://hooks.example/services/T0KEN");
        assert_eq!(
            secrets.scrub("posting to https://hooks.example/services/T0KEN failed, T0KEN"),
            "posting to [REDACTED] failed, [REDACTED]"
        );
        assert_eq!(format!("{secrets:?}"), "Secrets(2 values)");
    }
}
