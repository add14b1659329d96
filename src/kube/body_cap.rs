//! A cap on what one Kubernetes API answer may hold (issue 14 item 10: a 1 GiB body from the API
//! server was read whole by kube, 7.2 GB peak RSS). A tower layer on the kube client wraps every
//! response body that is not a stream meant to be long (watches, pod logs) and fails it as soon
//! as it passes the cap, with an error naming the server and the cap.
//!
//! The streams are bounded by the time without progress instead (issue 14 item 8: a watch or a
//! log stream that stops sending without closing hung the command): a pod log that sends nothing
//! for [`DEFAULT_IDLE`] (or `--request-timeout`) ends with an error, which evidence notes in
//! the bundle; a watch the server does not end within its `timeoutSeconds` plus [`WATCH_GRACE`]
//! ends with an error, and the watch loops open a new one.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;

use http::{Request, Response};
use http_body_util::BodyExt as _;
use kube::client::{Body, DynBody};
use tower::{BoxError, Layer, Service};

/// The largest Kubernetes API answer read: 128 MiB. A single object is at most 1.5 MiB (etcd's
/// limit); the lists the commands read (a Deployment's pods, ReplicaSets, events) are far below.
pub const DEFAULT_API_BODY_CAP: u64 = 128 << 20;
/// The environment variable that overrides [`DEFAULT_API_BODY_CAP`] (bytes).
pub const API_BODY_CAP_ENV: &str = "KUBECTL_POSTHOG_MAX_API_BODY_BYTES";

/// The cap in force: [`API_BODY_CAP_ENV`] when it holds a positive number, else the default.
pub fn api_body_cap() -> u64 {
    std::env::var(API_BODY_CAP_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_API_BODY_CAP)
}

/// How long a request (to its answer, and between the pieces of its body) or a pod log may
/// wait for the API server to send something when `--request-timeout` does not say (kube has no
/// default: a server that accepted the connection and never answered hung the command).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
/// How long past its `timeoutSeconds` a watch may stay open (the server promised to end it).
pub const WATCH_GRACE: Duration = Duration::from_secs(10);

/// A stream sent nothing within its idle bound.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} timed out: the API server at {server} sent nothing for {}", humantime::format_duration(*idle))]
pub struct StreamIdle {
    pub server: String,
    pub idle: Duration,
    pub what: &'static str,
}

/// An answer passed the cap; the message is the one line the user sees.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the API server at {server} answered more than {} (the cap on one Kubernetes API answer; \
     {API_BODY_CAP_ENV} raises it)",
    size(*cap)
)]
pub struct ApiBodyTooLarge {
    pub server: String,
    pub cap: u64,
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// Caps every non-streaming answer of a kube client at `cap` bytes.
#[derive(Clone, Debug)]
pub struct BodyCapLayer {
    server: String,
    cap: u64,
    idle: Duration,
    /// Added to the wait for an answer: kube may first re-run an exec credential plugin.
    refresh: Duration,
}

impl BodyCapLayer {
    /// `idle`: how long a request or a pod log may wait for something (`--request-timeout`,
    /// else [`DEFAULT_IDLE`]).
    pub fn new(server: &str, cap: u64, idle: Option<Duration>) -> Self {
        BodyCapLayer {
            server: server.trim_end_matches('/').to_string(),
            cap,
            idle: idle.unwrap_or(DEFAULT_IDLE),
            refresh: Duration::ZERO,
        }
    }

    /// The longest a token refresh (an exec plugin run) may take before a request is sent.
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }
}

impl<S> Layer<S> for BodyCapLayer {
    type Service = BodyCap<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyCap {
            inner,
            server: self.server.clone(),
            cap: self.cap,
            idle: self.idle,
            refresh: self.refresh,
        }
    }
}

#[derive(Clone)]
pub struct BodyCap<S> {
    inner: S,
    server: String,
    cap: u64,
    idle: Duration,
    refresh: Duration,
}

/// The idle bound of a stream: a watch's `timeoutSeconds` plus [`WATCH_GRACE`] (none without
/// one), a pod log's `log_idle` (none for a followed log: a quiet application sends nothing).
fn idle_bound(uri: &http::Uri, log_idle: Duration) -> Option<(Duration, &'static str)> {
    let query = uri.query().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    if matches!(param("watch"), Some("true" | "1")) {
        let seconds = param("timeoutSeconds")?.parse::<u64>().ok()?;
        return Some((Duration::from_secs(seconds) + WATCH_GRACE, "a watch"));
    }
    (uri.path().ends_with("/log") && param("follow") != Some("true"))
        .then_some((log_idle, "a pod log"))
}

/// `body`, failing with [`StreamIdle`] when no frame comes for `idle`.
fn idle_bounded(
    body: Box<DynBody>,
    idle: Duration,
    what: &'static str,
    server: String,
) -> Box<DynBody> {
    let frames = http_body_util::BodyStream::new(body);
    let bounded = futures::stream::unfold(Some(frames), move |frames| {
        let server = server.clone();
        async move {
            let mut frames = frames?;
            match tokio::time::timeout(idle, frames.next()).await {
                Ok(Some(frame)) => Some((frame, Some(frames))),
                Ok(None) => None,
                Err(_) => {
                    let error: BoxError = Box::new(StreamIdle { server, idle, what });
                    Some((Err(error), None))
                }
            }
        }
    });
    Box::new(http_body_util::StreamBody::new(Box::pin(bounded)))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Watches and pod logs are streams meant to be long: they are read as they come, never whole.
pub(super) fn is_stream(uri: &http::Uri) -> bool {
    let query = uri.query().unwrap_or_default();
    query
        .split('&')
        .any(|p| matches!(p, "watch=true" | "watch=1" | "follow=true"))
        || uri.path().ends_with("/log")
}

impl<S> Service<Request<Body>> for BodyCap<S>
where
    S: Service<Request<Body>, Response = Response<Box<DynBody>>, Error = BoxError> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // Every request waits at most `idle` for its answer (a watch's comes at once); then a
        // stream's body has its own idle bound, any other body the same `idle` and the cap.
        let body_idle = match is_stream(request.uri()) {
            true => idle_bound(request.uri(), self.idle),
            false => Some((self.idle, "a request")),
        };
        let capped = !is_stream(request.uri());
        let (server, cap, idle) = (self.server.clone(), self.cap, self.idle);
        let answer_within = idle + self.refresh;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let silent = || -> BoxError {
                Box::new(StreamIdle {
                    server: server.clone(),
                    idle,
                    what: "a request",
                })
            };
            let response = tokio::time::timeout(answer_within, answer)
                .await
                .map_err(|_| silent())??;
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let too_large = ApiBodyTooLarge {
                server: server.clone(),
                cap,
            };
            if capped && declared.is_some_and(|n| n > cap) {
                return Err(Box::new(too_large) as BoxError);
            }
            Ok(response.map(|body| -> Box<DynBody> {
                let body: Box<DynBody> = match capped {
                    true => {
                        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
                        Box::new(http_body_util::Limited::new(body, limit).map_err(move |e| {
                            match e.is::<http_body_util::LengthLimitError>() {
                                true => Box::new(too_large.clone()) as BoxError,
                                false => e,
                            }
                        }))
                    }
                    false => body,
                };
                match body_idle {
                    Some((bound, what)) => idle_bounded(body, bound, what, server),
                    None => body,
                }
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_and_logs_are_streams_other_requests_are_capped() {
        for (uri, stream) in [
            (
                "/api/v1/namespaces/a/pods?watch=true&resourceVersion=1",
                true,
            ),
            ("/api/v1/namespaces/a/pods/p/log?follow=true", true),
            ("/api/v1/namespaces/a/pods/p/log?tailLines=10", true),
            ("/apis/apps/v1/namespaces/a/deployments/web", false),
            ("/api/v1/namespaces/a/pods?labelSelector=app%3Dweb", false),
            ("/api/v1/namespaces/a/pods?watch=false", false),
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            assert_eq!(is_stream(&uri), stream, "{uri}");
        }
    }

    #[test]
    fn watches_are_bounded_past_their_timeout_and_logs_unless_followed() {
        let log = Duration::from_secs(7);
        for (uri, bound) in [
            (
                "/api/v1/namespaces/a/pods?watch=true&timeoutSeconds=290",
                Some(Duration::from_secs(300)),
            ),
            ("/api/v1/namespaces/a/pods?watch=true", None),
            ("/api/v1/namespaces/a/pods/p/log?sinceSeconds=60", Some(log)),
            ("/api/v1/namespaces/a/pods/p/log?follow=true", None),
            ("/apis/apps/v1/namespaces/a/deployments/web", None),
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            assert_eq!(idle_bound(&uri, log).map(|(d, _)| d), bound, "{uri}");
        }
    }

    #[test]
    fn the_message_names_the_server_and_the_cap() {
        let e = ApiBodyTooLarge {
            server: "https://10.0.0.1:6443".into(),
            cap: DEFAULT_API_BODY_CAP,
        };
        assert_eq!(
            e.to_string(),
            "the API server at https://10.0.0.1:6443 answered more than 128 MiB (the cap on one \
             Kubernetes API answer; KUBECTL_POSTHOG_MAX_API_BODY_BYTES raises it)"
        );
    }
}
