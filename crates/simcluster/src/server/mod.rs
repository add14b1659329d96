//! The HTTP front: one fallback handler parses the path, applies injected faults, dispatches
//! to the verb handlers and records every request.

mod handlers;
mod protobuf;
mod proxy;
pub(crate) mod query;
mod route;
mod subresources;
mod watch;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;
use crate::faults::{RequestFacts, Verdict};
use crate::requests::RequestRecord;
use crate::resources::{Sub, def};
use crate::state::{Shared, lock};
use crate::store::UpdateMode;
use query::Params;
use route::Route;

/// Largest request body accepted (the apiserver's limit is 3 MiB per object; lists of
/// manifests can be bigger).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Requests kept in the log.
const MAX_RECORDS: usize = 200_000;

/// One parsed request.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) params: Params,
    pub(crate) content_type: String,
    pub(crate) accept: String,
    pub(crate) body: Bytes,
}

pub(crate) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let mut stop = shared.stopping.subscribe();
    let app = axum::Router::new().fallback(handle).with_state(shared);
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "simcluster API server stopped");
    }
}

pub(crate) fn json_response(code: u16, v: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        v.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An `application/json` answer already serialised.
pub(crate) fn bytes_response(code: u16, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub(crate) fn text_response(code: u16, content_type: &'static str, body: String) -> Response {
    let mut r = (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn header_str(req: &Request, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let at = shared.now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let accept = header_str(&req, header::ACCEPT);
    let user_agent = header_str(&req, header::USER_AGENT);
    let params = Params(query::parse(&raw_query));
    let route = route::parse(&path);
    let is_watch =
        params.flag("watch") && matches!(route, Route::Collection { .. }) && method == Method::GET;

    let verdict = if route == Route::Metrics {
        Verdict::default()
    } else {
        let (plural, name) = match &route {
            Route::Collection { res, .. } => (Some(def(*res).plural), None),
            Route::Object { res, name, .. } => (Some(def(*res).plural), Some(name.as_str())),
            _ => (None, None),
        };
        let facts = RequestFacts {
            method: method.as_str(),
            path: &path,
            plural,
            name,
            is_write: method == Method::PUT || method == Method::PATCH,
        };
        lock(&shared.faults).judge(&facts)
    };
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let mut replicas_changed = None;
    let response = if let Some((code, retry_after)) = verdict.error {
        error_response(&ApiError::injected(code, retry_after))
    } else if verdict.conflict
        && let Some(res) = route.res()
    {
        let name = match &route {
            Route::Object { name, .. } => name.as_str(),
            _ => "",
        };
        error_response(&ApiError::conflict(def(res), name))
    } else {
        match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
            Ok(body) => {
                let replicas_before = deployment_replicas(&shared, &route, &method);
                let r = Req {
                    method: method.clone(),
                    params,
                    content_type: content_type.clone(),
                    accept: accept.clone(),
                    body,
                };
                let watched = replicas_before.as_ref().map(|_| route.clone());
                let answer = dispatch(&shared, route, r, &verdict).await;
                let after = watched.and_then(|r| deployment_replicas(&shared, &r, &method));
                replicas_changed = replicas_before.zip(after).filter(|(a, b)| a != b);
                lose_answer(&shared, answer, &verdict)
            }
            Err(_) => error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                "the request body is too large",
            )),
        }
    };
    let mut log = lock(&shared.requests);
    // Bounded, so a long demo does not grow without limit; tests clear it far earlier.
    if log.len() >= MAX_RECORDS {
        log.drain(..MAX_RECORDS / 2);
    }
    log.push(RequestRecord {
        method: method.to_string(),
        path,
        query: raw_query,
        content_type: Some(content_type).filter(|s| !s.is_empty()),
        accept: Some(accept).filter(|s| !s.is_empty()),
        status: response.status().as_u16(),
        is_watch,
        at,
        user_agent: Some(user_agent).filter(|s| !s.is_empty()),
        replicas_changed,
    });
    response
}

/// A Deployment's `spec.replicas` when `route` is a write to it or its `scale`.
fn deployment_replicas(shared: &Shared, route: &Route, method: &Method) -> Option<i64> {
    let Route::Object {
        res, ns, name, sub, ..
    } = route
    else {
        return None;
    };
    let write = *method == Method::PUT || *method == Method::PATCH;
    if !write || def(*res).plural != "deployments" || !matches!(sub, None | Some(Sub::Scale)) {
        return None;
    }
    let obj = shared
        .store()
        .get(*res, ns.as_deref().unwrap_or(""), name)?;
    Some(
        obj.pointer("/spec/replicas")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1),
    )
}

/// `Fault::ErrorsAfterApply`: the write succeeded (it is stored, watchers saw it), but the
/// client is told it failed.
fn lose_answer(shared: &Shared, answer: Response, verdict: &Verdict) -> Response {
    match verdict.lost_answer {
        Some((id, code))
            if answer.status().is_success() && lock(&shared.faults).spend_lost_answer(id) =>
        {
            error_response(&ApiError::injected(code, None))
        }
        _ => answer,
    }
}

async fn dispatch(shared: &Arc<Shared>, route: Route, req: Req, verdict: &Verdict) -> Response {
    use crate::discovery;
    let not_found = || error_response(&ApiError::path_not_found());
    match route {
        Route::Version => json_response(200, &discovery::version()),
        Route::ApiVersions => {
            let addr = format!("127.0.0.1:{}", shared.port.get().copied().unwrap_or(0));
            json_response(200, &discovery::api_versions(&addr))
        }
        Route::GroupList => json_response(200, &discovery::group_list()),
        Route::Group(g) => discovery::group(&g).map_or_else(not_found, |d| json_response(200, &d)),
        Route::ResourceList { group, version } => discovery::resource_list(&group, &version)
            .map_or_else(not_found, |d| json_response(200, &d)),
        Route::OpenApi | Route::NotFound => not_found(),
        Route::Health => text_response(200, "text/plain; charset=utf-8", "ok".into()),
        Route::Metrics => {
            let text = crate::traffic::exposition(&crate::traffic::snapshot(shared));
            text_response(200, "text/plain; version=0.0.4; charset=utf-8", text)
        }
        Route::Collection { res, ns } => {
            let result = match req.method {
                Method::GET if req.params.flag("watch") => {
                    return watch::serve(shared.clone(), res, ns, &req, verdict.drop_watch_after);
                }
                Method::GET => handlers::list(shared, res, ns.as_deref(), &req),
                Method::POST if ns.is_some() || !def(res).namespaced => {
                    handlers::create(shared, res, ns.as_deref(), &req)
                }
                Method::DELETE => handlers::delete_collection(shared, res, ns.as_deref(), &req),
                _ => Err(ApiError::method_not_allowed()),
            };
            result.unwrap_or_else(|e| error_response(&e))
        }
        Route::Object {
            res,
            ns,
            name,
            sub,
            rest,
        } => {
            let ns_str = ns.clone().unwrap_or_default();
            let result = match (sub, &req.method) {
                (None, &Method::GET) => handlers::get(shared, res, &ns_str, &name, &req),
                (None, &Method::PUT) => {
                    handlers::update(shared, res, ns.as_deref(), &name, &req, UpdateMode::Main)
                }
                (None, &Method::PATCH) => {
                    handlers::patch(shared, res, &ns_str, &name, &req, UpdateMode::Main)
                }
                (None, &Method::DELETE) => handlers::delete(shared, res, &ns_str, &name, &req),
                (Some(Sub::Status), &Method::GET) => {
                    handlers::get(shared, res, &ns_str, &name, &req)
                }
                (Some(Sub::Status), &Method::PUT) => {
                    handlers::update(shared, res, ns.as_deref(), &name, &req, UpdateMode::Status)
                }
                (Some(Sub::Status), &Method::PATCH) => {
                    handlers::patch(shared, res, &ns_str, &name, &req, UpdateMode::Status)
                }
                (Some(Sub::Scale), _) => subresources::scale(shared, res, &ns_str, &name, &req),
                (Some(Sub::Log), &Method::GET) => subresources::log(shared, &ns_str, &name, &req),
                (Some(Sub::Proxy), _) => {
                    Ok(proxy::handle(shared, res, &ns_str, &name, &rest, &req))
                }
                _ => Err(ApiError::method_not_allowed()),
            };
            result.unwrap_or_else(|e| error_response(&e))
        }
    }
}

/// A body streamed from an iterator of chunks.
pub(crate) fn stream_body<I>(it: I) -> Body
where
    I: Iterator<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    Body::from_stream(futures::stream::iter(it))
}
