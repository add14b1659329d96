//! What every reqwest client of the crate shares (PostHog, its status page, health endpoints,
//! Prometheus): redirects followed only within the same origin, so a credential in a header or a
//! body never reaches a host the user did not name, and response bodies read with a cap, so a
//! hostile or broken server cannot make us hold a gigabyte.

use futures::StreamExt;

/// The most a status page, key check, health endpoint or Prometheus API answer may be. A real
/// answer is a few KiB (a range query over an hour, a few hundred KiB).
pub const BODY_CAP: usize = 16 << 20;

/// Redirects followed at most, all on the origin of the first request.
const MAX_REDIRECTS: usize = 5;

/// Follow a redirect only to the same scheme, host and port: reqwest drops `Authorization` on a
/// cross-host redirect but a 307/308 still re-sends the body (the project key in `/flags`).
/// A refused redirect is returned as the 3xx answer it is.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(url::Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if first.is_some_and(|o| o == attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {} MiB", cap >> 20)]
    TooLarge { cap: usize },
    #[error("{0}")]
    Transport(String),
    #[error("the body timed out")]
    Timeout,
}

/// Reads a response body as text (lossy UTF-8), failing as soon as it passes `cap` bytes.
pub async fn read_capped(response: reqwest::Response, cap: usize) -> Result<String, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match e.is_timeout() {
            true => BodyError::Timeout,
            false => BodyError::Transport(e.to_string()),
        })?;
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}
