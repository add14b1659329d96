//! What every reqwest client of the crate shares (PostHog, its status page, health endpoints,
//! Prometheus): redirects followed only within the same origin, so a credential in a header or a
//! body never reaches a host the user did not name, and response bodies read with a cap, so a
//! hostile or broken server cannot make us hold a gigabyte.

use futures::StreamExt;

/// The most a status page, key check, health endpoint or Prometheus rules answer may be. A real
/// answer is a few KiB. (Prometheus' query answers have their own cap,
/// `prometheus::client::QUERY_BODY_CAP`.)
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

/// A reqwest answer read whole (within [`BODY_CAP`]): what the callers use of it.
#[derive(Debug)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// Why [`send`] has no answer: the request failed, or its body could not be read.
#[derive(Debug)]
pub enum SendError {
    Request(reqwest::Error),
    Body(BodyError),
}

/// Sends a request and reads its answer whole (capped at [`BODY_CAP`]), with the exchange in the
/// log (`-vv` the request line, `-vvv` headers and bodies; `system` names the service:
/// `prometheus`, `posthog`).
pub async fn send(system: &str, builder: reqwest::RequestBuilder) -> Result<Answer, SendError> {
    send_capped(system, builder, BODY_CAP).await
}

/// [`send`] with another cap on the body (Prometheus' query answers: 64 MiB).
pub async fn send_capped(
    system: &str,
    builder: reqwest::RequestBuilder,
    cap: usize,
) -> Result<Answer, SendError> {
    use crate::http_log::{Outcome, details, exchange};
    let (client, request) = builder.build_split();
    let request = request.map_err(SendError::Request)?;
    let method = request.method().to_string();
    let url = request.url().to_string();
    details(
        system,
        "request",
        Some(request.headers()),
        request.body().and_then(reqwest::Body::as_bytes),
    );
    let started = std::time::Instant::now();
    let response = match client.execute(request).await {
        Ok(response) => response,
        Err(error) => {
            let mut cause = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(e) = source {
                cause = e.to_string();
                source = e.source();
            }
            exchange(
                system,
                &method,
                &url,
                Outcome::Failed(&cause),
                started.elapsed(),
            );
            return Err(SendError::Request(error));
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    exchange(
        system,
        &method,
        &url,
        Outcome::Status(status.as_u16()),
        started.elapsed(),
    );
    let body = read_capped(response, cap).await.map_err(SendError::Body)?;
    details(system, "response", Some(&headers), Some(body.as_bytes()));
    Ok(Answer {
        status,
        headers,
        body,
    })
}
