//! The API server's requests in the log, as kubectl's `-v` shows them: a tower layer on the
//! kube client. Each request that changes the cluster (POST, PUT, PATCH, DELETE) is an INFO line
//! (`-v`); every request is a DEBUG line with its status and latency (`-vv`); headers and bodies
//! are TRACE (`-vvv`), through [`crate::http_log`] so credentials and Secret data never appear.
//!
//! The layer sits outside kube's own stack: the `Authorization` header kube adds is never seen
//! here, and a request kube retried (429/503/504) is one line with the last answer. Pod logs'
//! bodies are never shown.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body_util::BodyExt as _;
use kube::client::{Body, DynBody};
use tower::{BoxError, Layer, Service};

use crate::http_log::{self, Outcome};

const SYSTEM: &str = "kubernetes";

/// kube's client with every request in the log (`-v` changes, `-vv` requests, `-vvv` details)
/// and every answer capped ([`super::body_cap`]).
pub(super) fn logged_client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let server = config.cluster_url.to_string();
    let layer = HttpTraceLayer::new(&server);
    let idle = config.read_timeout;
    let cap = super::body_cap::BodyCapLayer::new(&server, super::body_cap::api_body_cap(), idle);
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&cap)
        .with_layer(&layer)
        .build())
}

/// Logs every request of a kube client; `base` is the API server URL (the requests carry only
/// the path at this point of the stack).
#[derive(Clone, Debug)]
pub struct HttpTraceLayer {
    base: String,
}

impl HttpTraceLayer {
    pub fn new(base: &str) -> Self {
        HttpTraceLayer {
            base: base.trim_end_matches('/').to_string(),
        }
    }
}

impl<S> Layer<S> for HttpTraceLayer {
    type Service = HttpTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTrace {
            inner,
            base: self.base.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HttpTrace<S> {
    inner: S,
    base: String,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for HttpTrace<S>
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
        let method = request.method().to_string();
        let uri = match request.uri().scheme() {
            Some(_) => request.uri().to_string(),
            None => format!("{}{}", self.base, request.uri()),
        };
        let changes = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
        // Watches and followed logs never end: their bodies are not read here. Pod logs are not
        // shown either: what an application prints is redacted by `evidence`, not by this log.
        let streaming = super::body_cap::is_stream(request.uri());
        let details = http_log::details_enabled();
        let sent = details.then(|| (request.headers().clone(), request.body().try_clone()));
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            if let Some((headers, body)) = sent {
                let body = match body {
                    Some(body) => body.collect().await.ok().map(|c| c.to_bytes()),
                    None => None,
                };
                http_log::details(SYSTEM, "request", Some(&headers), body.as_deref());
            }
            let result = answer.await;
            let latency = started.elapsed();
            match &result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if changes {
                        tracing::info!(
                            "cluster change: {method} {} {status}",
                            http_log::redact_url(&uri)
                        );
                    }
                    http_log::exchange(SYSTEM, &method, &uri, Outcome::Status(status), latency);
                }
                Err(error) => {
                    if changes {
                        tracing::info!(
                            "cluster change: {method} {} failed: {error}",
                            http_log::redact_url(&uri)
                        );
                    }
                    http_log::exchange(
                        SYSTEM,
                        &method,
                        &uri,
                        Outcome::Failed(&error.to_string()),
                        latency,
                    );
                }
            }
            let response = result?;
            if !details || streaming {
                if details {
                    http_log::details(SYSTEM, "response", Some(response.headers()), None);
                }
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            http_log::details(SYSTEM, "response", Some(&parts.headers), Some(&bytes));
            let body: Box<DynBody> = Box::new(
                http_body_util::Full::new(bytes).map_err(|never| -> BoxError { match never {} }),
            );
            Ok(Response::from_parts(parts, body))
        })
    }
}
