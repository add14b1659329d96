//! A cap on what one Kubernetes API answer may hold (issue 14 item 10: a 1 GiB body from the API
//! server was read whole by kube, 7.2 GB peak RSS). A tower layer on the kube client wraps every
//! response body that is not a stream meant to be long (watches, pod logs) and fails it as soon
//! as it passes the cap, with an error naming the server and the cap.

use std::pin::Pin;
use std::task::{Context, Poll};

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
}

impl BodyCapLayer {
    pub fn new(server: &str, cap: u64) -> Self {
        BodyCapLayer {
            server: server.trim_end_matches('/').to_string(),
            cap,
        }
    }
}

impl<S> Layer<S> for BodyCapLayer {
    type Service = BodyCap<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyCap {
            inner,
            server: self.server.clone(),
            cap: self.cap,
        }
    }
}

#[derive(Clone)]
pub struct BodyCap<S> {
    inner: S,
    server: String,
    cap: u64,
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
        let stream = is_stream(request.uri());
        let (server, cap) = (self.server.clone(), self.cap);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if stream {
                return Ok(response);
            }
            let too_large = move || -> BoxError {
                Box::new(ApiBodyTooLarge {
                    server: server.clone(),
                    cap,
                })
            };
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > cap) {
                return Err(too_large());
            }
            let limit = usize::try_from(cap).unwrap_or(usize::MAX);
            Ok(response.map(|body| -> Box<DynBody> {
                Box::new(http_body_util::Limited::new(body, limit).map_err(move |e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        too_large()
                    } else {
                        e
                    }
                }))
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
