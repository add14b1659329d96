//! A stand-in for PostHog (ingestion `/flags?v=2`, the private API's
//! `/api/personal_api_keys/@current/`), its status pages (incident.io `/api/v1/summary`, Atlassian
//! `/api/v2/summary.json`) and an integration health endpoint (`/health`), all on one port.
//!
//! ```ignore
//! let ph = PostHogStandIn::start(Behaviour::default().project_key(KEY)).await;
//! ph.fail("/flags", Fault::RateLimit { retry_after: Some(1) }, 1);
//! … ph.url() …
//! assert_eq!(ph.requests_to("/flags").len(), 2);
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A project key the stand-in accepts by default.
pub const PROJECT_KEY: &str = "phc_StandInProjectKey0000000000000000000000001";
/// A personal key the stand-in accepts by default, scoped to `feature_flag:read`.
pub const PERSONAL_KEY: &str = "phx_StandInPersonalKey000000000000000000000000001";

/// What the stand-in answers when nothing fails.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub project_keys: Vec<String>,
    /// Personal (or secret) keys and their scopes; an empty scope list is PostHog's "all".
    pub personal_keys: Vec<(String, Vec<String>)>,
    /// Body of `/api/v1/summary`.
    pub status_summary: String,
    /// Body of `/api/v2/summary.json`.
    pub atlassian_summary: String,
    /// Status and body of `/health`.
    pub health: (u16, String),
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            project_keys: vec![PROJECT_KEY.to_string()],
            personal_keys: vec![(
                PERSONAL_KEY.to_string(),
                vec!["feature_flag:read".to_string()],
            )],
            status_summary: healthy_summary(),
            atlassian_summary: r#"{"page":{"url":"https://status.posthog.com"},"status":{"indicator":"none","description":"All Systems Operational"},"incidents":[]}"#.to_string(),
            health: (
                200,
                r#"{"status":"healthy","posthog":{"connected":true,"latencyMs":12}}"#.to_string(),
            ),
        }
    }
}

impl Behaviour {
    pub fn project_key(mut self, key: &str) -> Self {
        self.project_keys.push(key.to_string());
        self
    }

    pub fn personal_key(mut self, key: &str, scopes: &[&str]) -> Self {
        self.personal_keys.push((
            key.to_string(),
            scopes.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }

    pub fn status_summary(mut self, body: impl Into<String>) -> Self {
        self.status_summary = body.into();
        self
    }

    pub fn health(mut self, status: u16, body: impl Into<String>) -> Self {
        self.health = (status, body.into());
        self
    }
}

/// `/api/v1/summary` with nothing going on.
pub fn healthy_summary() -> String {
    r#"{"page_title":"PostHog","page_url":"https://www.posthogstatus.com/","ongoing_incidents":[],"in_progress_maintenances":[],"scheduled_maintenances":[]}"#.to_string()
}

/// `/api/v1/summary` with one ongoing incident on a component of `group` ("US Cloud", "EU Cloud").
pub fn incident_summary(name: &str, group: &str, impact: &str) -> String {
    serde_json::json!({
        "page_title": "PostHog",
        "page_url": "https://www.posthogstatus.com/",
        "ongoing_incidents": [{
            "id": "01JSTANDIN",
            "name": name,
            "status": "investigating",
            "url": "https://www.posthogstatus.com/incidents/01JSTANDIN",
            "current_worst_impact": impact,
            "affected_components": [{"id": "c1", "name": "Event ingestion", "group_name": group, "current_status": impact}]
        }],
        "in_progress_maintenances": [],
        "scheduled_maintenances": []
    })
    .to_string()
}

/// A failure injected on every path starting with a prefix, for a number of requests.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status and body.
    Status(u16, String),
    /// 429 with the PostHog throttled envelope, with or without `Retry-After` seconds.
    RateLimit { retry_after: Option<u64> },
    /// Wait this long before answering normally (a client with a shorter timeout gives up).
    Delay(Duration),
    /// 200 with a body that is not JSON.
    Malformed,
}

#[derive(Debug, Clone)]
struct ActiveFault {
    path_prefix: String,
    fault: Fault,
    remaining: usize,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct State {
    behaviour: Option<Behaviour>,
    faults: Vec<ActiveFault>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct PostHogStandIn {
    url: String,
    state: Arc<Mutex<State>>,
}

impl PostHogStandIn {
    pub async fn start(behaviour: Behaviour) -> PostHogStandIn {
        let state = Arc::new(Mutex::new(State {
            behaviour: Some(behaviour),
            ..State::default()
        }));
        let shared = state.clone();
        let app = Router::new().fallback(move |request: Request<Body>| {
            let state = shared.clone();
            async move { answer(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the PostHog stand-in");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PostHogStandIn { url, state }
    }

    /// Base URL: use it as the PostHog host (ingestion and app API) and for the status pages.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status_url(&self) -> String {
        format!("{}/api/v1/summary", self.url)
    }

    pub fn atlassian_url(&self) -> String {
        format!("{}/api/v2/summary.json", self.url)
    }

    pub fn health_url(&self) -> String {
        format!("{}/health", self.url)
    }

    /// Fails the next `count` requests whose path starts with `path_prefix` (`usize::MAX`: all).
    pub fn fail(&self, path_prefix: &str, fault: Fault, count: usize) {
        self.lock().faults.push(ActiveFault {
            path_prefix: path_prefix.to_string(),
            fault,
            remaining: count,
        });
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.lock().behaviour = Some(behaviour);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub fn requests_to(&self, path_prefix: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (behaviour, fault) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.seen.push(seen.clone());
        let fault = state
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && seen.path.starts_with(&f.path_prefix))
            .map(|f| {
                f.remaining = f.remaining.saturating_sub(1);
                f.fault.clone()
            });
        (state.behaviour.clone().unwrap_or_default(), fault)
    };
    match fault {
        Some(Fault::Status(code, body)) => return text(code, &body),
        Some(Fault::RateLimit { retry_after }) => {
            let mut response = json(
                429,
                r#"{"type":"throttled_error","code":"throttled","detail":"Request was throttled.","attr":null}"#,
            );
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
            }
            return response;
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Malformed) => return json(200, "{\"flags\": {oops"),
        None => {}
    }
    route(&behaviour, &seen)
}

fn route(behaviour: &Behaviour, seen: &Seen) -> Response {
    match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/flags" | "/flags/") => {
            let key = serde_json::from_str::<serde_json::Value>(&seen.body)
                .ok()
                .and_then(|v| {
                    v.get("api_key")
                        .and_then(|k| k.as_str())
                        .map(str::to_string)
                });
            match key {
                Some(key) if behaviour.project_keys.contains(&key) => json(
                    200,
                    r#"{"flags":{"new-onboarding":{"key":"new-onboarding","enabled":true,"variant":null}},"errorsWhileComputingFlags":false,"requestId":"standin"}"#,
                ),
                // PostHog answers a plain-text 401 here, not the JSON envelope.
                _ => text(
                    401,
                    "Project API key invalid. You can find your project API key in your PostHog project settings.",
                ),
            }
        }
        ("GET", "/api/personal_api_keys/@current/") => {
            let bearer = seen
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "));
            match behaviour
                .personal_keys
                .iter()
                .find(|(key, _)| Some(key.as_str()) == bearer)
            {
                Some((key, scopes)) => json(
                    200,
                    &serde_json::json!({
                        "id": "01STANDIN",
                        "label": "kubectl-posthog stand-in",
                        "mask_value": format!("{}...{}", &key[..4], &key[key.len() - 4..]),
                        "scopes": scopes,
                        "scoped_teams": [],
                        "scoped_organizations": [],
                        "created_at": "2026-01-01T00:00:00Z",
                        "last_used_at": null
                    })
                    .to_string(),
                ),
                None => json(
                    401,
                    r#"{"type":"authentication_error","code":"authentication_failed","detail":"Invalid personal API key.","attr":null}"#,
                ),
            }
        }
        ("GET", "/api/v1/summary") => json(200, &behaviour.status_summary),
        ("GET", "/api/v2/summary.json") => json(200, &behaviour.atlassian_summary),
        ("GET", "/health") => json(behaviour.health.0, &behaviour.health.1),
        _ => text(404, "not found"),
    }
}

fn json(code: u16, body: &str) -> Response {
    let mut response = (status(code), body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn text(code: u16, body: &str) -> Response {
    (status(code), body.to_string()).into_response()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
