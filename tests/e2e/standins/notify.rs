//! Stand-ins for the notification receivers, on one port, answering as their documentation
//! says (including their errors):
//! - Slack incoming webhooks, `POST /services/T…/B…/SECRET`: `200 ok`; 400 `invalid_payload`
//!   (not JSON, blocks not a list of typed blocks, a header over 150 characters) or `no_text`;
//!   404 `channel_not_found` for an unknown hook; 410 `channel_is_archived`; 429 with `Retry-After`.
//! - Slack Web API `POST /api/chat.postMessage` with `Authorization: Bearer xoxb-…`: HTTP 200
//!   `{"ok":true,"channel","ts"}` or `{"ok":false,"error":"invalid_auth"|"channel_not_found"|
//!   "no_text"|"thread_not_found"}`; 429 `ratelimited` with `Retry-After`.
//! - PagerDuty Events API v2 `POST /v2/enqueue`: 202 `{"status":"success","message":"Event
//!   processed","dedup_key"}`; 400 `{"status":"invalid event","message":"Event object is
//!   invalid","errors":[…]}`; 429. Alerts are kept by dedup key (triggered / resolved).
//! - A generic webhook `POST /hook/SECRET`: 200.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A PagerDuty integration key is 32 characters.
pub const ROUTING_KEY: &str = "R0UT1NGK3Y5ecretPlanted000000042";
pub const BOT_TOKEN: &str = "xoxb-1111-2222-PlantedBotTokenSecret42";
pub const CHANNEL: &str = "C0INCIDENTS";
/// The secret part of the Slack webhook and the generic webhook's paths.
pub const HOOK_PATH: &str = "/services/T0PLANTED/B0PLANTED/PlantedWebhookSecret42xyz";
pub const WEBHOOK_PATH: &str = "/hook/PlantedGenericSecret42abc";

#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, String),
    /// 429 with `Retry-After` seconds.
    RateLimit(u64),
    Delay(Duration),
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
    /// What was answered.
    pub status: u16,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct State {
    faults: Vec<(String, Fault, usize)>,
    seen: Vec<Seen>,
    /// dedup_key → "triggered" | "acknowledged" | "resolved".
    alerts: BTreeMap<String, String>,
    posts: Vec<String>,
    archived: bool,
}

#[derive(Clone)]
pub struct NotifyStandIn {
    url: String,
    state: Arc<Mutex<State>>,
}

impl NotifyStandIn {
    pub async fn start() -> NotifyStandIn {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = Router::new().fallback(move |request: Request<Body>| {
            let state = shared.clone();
            async move { answer(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the notify stand-in");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        NotifyStandIn { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn slack_webhook_url(&self) -> String {
        format!("{}{HOOK_PATH}", self.url)
    }

    pub fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.url)
    }

    pub fn slack_api(&self) -> String {
        format!("{}/api", self.url)
    }

    /// The next `count` requests to a path starting with `prefix` get `fault`.
    pub fn fail(&self, prefix: &str, fault: Fault, count: usize) {
        self.lock().faults.push((prefix.to_string(), fault, count));
    }

    pub fn archive_channel(&self) {
        self.lock().archived = true;
    }

    pub fn requests_to(&self, prefix: &str) -> Vec<Seen> {
        self.lock()
            .seen
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn alert(&self, dedup_key: &str) -> Option<String> {
        self.lock().alerts.get(dedup_key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let path = parts.uri.path().to_string();
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = String::from_utf8_lossy(&body).into_owned();
    let fault = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .faults
            .iter_mut()
            .find(|(prefix, _, left)| *left > 0 && path.starts_with(prefix.as_str()))
            .map(|(_, fault, left)| {
                *left -= 1;
                fault.clone()
            })
    };
    let response = match fault {
        Some(Fault::Status(code, text)) => plain(code, &text),
        Some(Fault::RateLimit(secs)) => {
            let body = if path.starts_with("/api/") {
                r#"{"ok":false,"error":"ratelimited"}"#
            } else if path.starts_with("/v2/") {
                r#"{"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}"#
            } else {
                "rate_limited"
            };
            let mut response = plain(429, body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
            response
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            route(&state, &path, authorization.as_deref(), &body)
        }
        None => route(&state, &path, authorization.as_deref(), &body),
    };
    let status = response.status().as_u16();
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .seen
        .push(Seen {
            path,
            authorization,
            body,
            status,
        });
    response
}

fn route(
    state: &Arc<Mutex<State>>,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Response {
    if path.starts_with("/services/") {
        return slack_webhook(state, path, body);
    }
    match path {
        "/api/chat.postMessage" => slack_post_message(state, authorization, body),
        "/v2/enqueue" => pagerduty(state, body),
        WEBHOOK_PATH => plain(200, "{}"),
        _ => plain(404, "not found"),
    }
}

/// Checks Block Kit the way Slack does for the parts we use; `Some(error)` when invalid.
fn invalid_blocks(message: &Value) -> Option<&'static str> {
    let blocks = message.get("blocks")?;
    let Some(blocks) = blocks.as_array() else {
        return Some("invalid_payload");
    };
    for block in blocks {
        let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
        match block["type"].as_str() {
            Some("header") if chars(&block["text"]["text"]).is_some_and(|n| n <= 150) => {}
            Some("section")
                if chars(&block["text"]["text"]).is_some_and(|n| n <= 3000)
                    || block["fields"].as_array().is_some_and(|f| {
                        f.len() <= 10
                            && f.iter()
                                .all(|x| chars(&x["text"]).is_some_and(|n| n <= 2000))
                    }) => {}
            Some("context") if block["elements"].is_array() => {}
            _ => return Some("invalid_payload"),
        }
    }
    None
}

fn slack_webhook(state: &Arc<Mutex<State>>, path: &str, body: &str) -> Response {
    if path != HOOK_PATH {
        return plain(404, "channel_not_found");
    }
    if state.lock().unwrap_or_else(|e| e.into_inner()).archived {
        return plain(410, "channel_is_archived");
    }
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return plain(400, "invalid_payload");
    };
    if let Some(error) = invalid_blocks(&message) {
        return plain(400, error);
    }
    if message["text"].as_str().is_none_or(|t| t.trim().is_empty()) {
        return plain(400, "no_text");
    }
    plain(200, "ok")
}

fn slack_post_message(
    state: &Arc<Mutex<State>>,
    authorization: Option<&str>,
    body: &str,
) -> Response {
    let ok_false = |error: &str| json_response(200, json!({"ok": false, "error": error}));
    if authorization != Some(&format!("Bearer {BOT_TOKEN}")) {
        return ok_false("invalid_auth");
    }
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return ok_false("invalid_json");
    };
    if message["channel"] != json!(CHANNEL) {
        return ok_false("channel_not_found");
    }
    if invalid_blocks(&message).is_some() {
        return ok_false("invalid_blocks");
    }
    if message["text"].as_str().is_none_or(|t| t.trim().is_empty()) {
        return ok_false("no_text");
    }
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(thread) = message["thread_ts"].as_str()
        && !state.posts.iter().any(|p| p == thread)
    {
        return ok_false("thread_not_found");
    }
    let ts = format!("1764633600.{:06}", state.posts.len() + 1);
    state.posts.push(ts.clone());
    json_response(
        200,
        json!({"ok": true, "channel": CHANNEL, "ts": ts, "message": {"text": message["text"]}}),
    )
}

fn pagerduty(state: &Arc<Mutex<State>>, body: &str) -> Response {
    let invalid = |errors: Vec<String>| {
        json_response(
            400,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
        )
    };
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return invalid(vec!["Event object is not valid JSON".into()]);
    };
    let mut errors = Vec::new();
    let key = event["routing_key"].as_str().unwrap_or("");
    if key.len() != 32 {
        errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".to_string());
    } else if key != ROUTING_KEY {
        errors.push("'routing_key' is not a known integration key".to_string());
    }
    let action = event["event_action"].as_str().unwrap_or("");
    if !matches!(action, "trigger" | "acknowledge" | "resolve") {
        errors.push(
            "'event_action' is invalid (must be one of trigger, acknowledge, resolve)".to_string(),
        );
    }
    let dedup = event["dedup_key"].as_str().map(str::to_string);
    if dedup.as_ref().is_some_and(|d| d.chars().count() > 255) {
        errors.push("'dedup_key' is too long (max 255)".to_string());
    }
    if action == "trigger" {
        let payload = &event["payload"];
        if payload["summary"]
            .as_str()
            .is_none_or(|s| s.is_empty() || s.chars().count() > 1024)
        {
            errors
                .push("'payload.summary' is missing or blank, or over 1024 characters".to_string());
        }
        if payload["source"].as_str().is_none_or(str::is_empty) {
            errors.push("'payload.source' is missing or blank".to_string());
        }
        if !matches!(
            payload["severity"].as_str(),
            Some("critical" | "error" | "warning" | "info")
        ) {
            errors.push(
                "'payload.severity' is invalid (must be one of critical, error, warning, info)"
                    .to_string(),
            );
        }
    } else if dedup.is_none() {
        errors.push("'dedup_key' is required for acknowledge and resolve".to_string());
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let dedup = dedup.unwrap_or_else(|| "generated-0001".to_string());
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let status = match action {
        "trigger" => "triggered",
        "acknowledge" => "acknowledged",
        _ => "resolved",
    };
    // A resolve or acknowledge of an unknown key is accepted and does nothing, as PagerDuty does.
    if action == "trigger" || state.alerts.contains_key(&dedup) {
        state.alerts.insert(dedup.clone(), status.to_string());
    }
    json_response(
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup}),
    )
}

fn json_response(code: u16, body: Value) -> Response {
    let mut response = (status(code), body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(code: u16, body: &str) -> Response {
    (status(code), body.to_string()).into_response()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
