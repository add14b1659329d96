//! The PostHog HTTP client against the stand-in: the documented answers, and every failure mode
//! (401, 429 with and without Retry-After, 5xx, timeouts, malformed JSON, nothing listening).

use std::time::{Duration, Instant};

use kubectl_posthog::posthog::client::HealthProbe;
use kubectl_posthog::posthog::{
    PersonalKeyCheck, PostHogClient, ProjectKeyCheck, Region, RemoteError, StatusSource,
};
use url::Url;

use crate::standins::dead_url;
use crate::standins::posthog::{
    Behaviour, Fault, PERSONAL_KEY, PROJECT_KEY, PostHogStandIn, incident_summary,
};

fn client(timeout: Duration) -> PostHogClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    PostHogClient::new(timeout)
        .unwrap()
        .with_retry_timing(Duration::from_millis(20), Duration::from_secs(2))
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[tokio::test]
async fn project_key_valid_and_invalid() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    let c = client(Duration::from_secs(5));
    let ok = c
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap();
    assert_eq!(ok, ProjectKeyCheck::Valid { flags: 1 });
    let seen = ph.requests_to("/flags");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].query.as_deref(), Some("v=2"));
    assert!(
        seen[0].body.contains("kubectl-posthog-preflight"),
        "{}",
        seen[0].body
    );

    let bad = c
        .check_project_key(&url(ph.url()), "phc_NotAKnownKey00000000000000000000000")
        .await
        .unwrap();
    match bad {
        ProjectKeyCheck::Rejected { status, detail } => {
            assert_eq!(status, 401);
            assert!(detail.contains("Project API key invalid"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn personal_key_scopes_and_rejection() {
    let ph = PostHogStandIn::start(
        Behaviour::default().personal_key("phx_AllScopes000000000000000000000000000000", &[]),
    )
    .await;
    let c = client(Duration::from_secs(5));
    match c
        .check_personal_key(&url(ph.url()), PERSONAL_KEY)
        .await
        .unwrap()
    {
        PersonalKeyCheck::Valid(info) => {
            assert_eq!(info.scopes, ["feature_flag:read"]);
            assert!(!info.is_unrestricted());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ph.requests_to("/api/personal_api_keys")[0]
            .authorization
            .as_deref(),
        Some(format!("Bearer {PERSONAL_KEY}").as_str())
    );
    match c
        .check_personal_key(
            &url(ph.url()),
            "phx_AllScopes000000000000000000000000000000",
        )
        .await
        .unwrap()
    {
        PersonalKeyCheck::Valid(info) => assert!(info.is_unrestricted(), "{info:?}"),
        other => panic!("{other:?}"),
    }
    match c
        .check_personal_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap()
    {
        PersonalKeyCheck::Rejected { status, detail } => {
            assert_eq!(status, 401);
            assert!(detail.contains("authentication_failed"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rate_limit_is_retried_once_after_retry_after() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail(
        "/flags",
        Fault::RateLimit {
            retry_after: Some(1),
        },
        1,
    );
    let c = client(Duration::from_secs(5));
    let started = Instant::now();
    let ok = c
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap();
    assert_eq!(ok, ProjectKeyCheck::Valid { flags: 1 });
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(ph.requests_to("/flags").len(), 2);
}

#[tokio::test]
async fn persistent_rate_limit_gives_up_after_one_retry() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail("/flags", Fault::RateLimit { retry_after: None }, usize::MAX);
    let c = client(Duration::from_secs(5));
    let err = c
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.to_string().contains("throttled"), "{err}");
    assert_eq!(ph.requests_to("/flags").len(), 2, "exactly one retry");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_is_reported_not_waited() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail(
        "/flags",
        Fault::RateLimit {
            retry_after: Some(3600),
        },
        usize::MAX,
    );
    let c = client(Duration::from_secs(5));
    let started = Instant::now();
    let err = c
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("Retry-After 1h"), "{err}");
    assert_eq!(ph.requests_to("/flags").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_once() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail(
        "/api/personal",
        Fault::Status(503, "upstream down".into()),
        1,
    );
    let c = client(Duration::from_secs(5));
    let ok = c
        .check_personal_key(&url(ph.url()), PERSONAL_KEY)
        .await
        .unwrap();
    assert!(matches!(ok, PersonalKeyCheck::Valid(_)));
    assert_eq!(ph.requests_to("/api/personal").len(), 2);

    ph.fail(
        "/api/personal",
        Fault::Status(500, "boom".into()),
        usize::MAX,
    );
    let err = c
        .check_personal_key(&url(ph.url()), PERSONAL_KEY)
        .await
        .unwrap_err();
    // 500 is not retried: it is a bug on the server, not an overload.
    assert_eq!(err.status(), Some(500));
    assert_eq!(ph.requests_to("/api/personal").len(), 3);
}

#[tokio::test]
async fn timeout_names_the_url_and_the_limit() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail("/flags", Fault::Delay(Duration::from_secs(3)), usize::MAX);
    let c = client(Duration::from_millis(300));
    let started = Instant::now();
    let err = c
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("300ms") && err.to_string().contains("/flags"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_json_is_its_own_error() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail("/flags", Fault::Malformed, 1);
    let err = client(Duration::from_secs(5))
        .check_project_key(&url(ph.url()), PROJECT_KEY)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RemoteError::Malformed { status: 200, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let dead = dead_url();
    let err = client(Duration::from_secs(2))
        .check_project_key(&url(&dead), PROJECT_KEY)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&dead), "{err}");
}

#[tokio::test]
async fn status_page_region_filter_and_fallback() {
    let ph = PostHogStandIn::start(Behaviour::default().status_summary(incident_summary(
        "Delayed ingestion",
        "EU Cloud",
        "partial_outage",
    )))
    .await;
    let c = client(Duration::from_secs(5));
    let status = url(&ph.status_url());
    let fallback = url(&ph.atlassian_url());
    let eu = c
        .status(&status, Some(&fallback), Some(&Region::Eu))
        .await
        .unwrap();
    assert_eq!(eu.source, StatusSource::IncidentIo);
    assert_eq!(eu.incidents[0].name, "Delayed ingestion");
    let us = c
        .status(&status, Some(&fallback), Some(&Region::Us))
        .await
        .unwrap();
    assert!(us.is_clear());

    ph.fail("/api/v1/summary", Fault::Malformed, 1);
    let via_fallback = c
        .status(&status, Some(&fallback), Some(&Region::Us))
        .await
        .unwrap();
    assert_eq!(via_fallback.source, StatusSource::Atlassian);

    ph.fail(
        "/api/",
        Fault::Status(502, "bad gateway".into()),
        usize::MAX,
    );
    let err = c
        .status(&status, Some(&fallback), Some(&Region::Us))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.to_string().contains("/api/v1/summary"), "{err}");
}

#[tokio::test]
async fn probe_keeps_any_http_answer() {
    let ph =
        PostHogStandIn::start(Behaviour::default().health(503, r#"{"status":"degraded"}"#)).await;
    let HealthProbe { status, body, .. } = client(Duration::from_secs(5))
        .probe(&url(&ph.health_url()))
        .await
        .unwrap();
    // A 503 is retried once, then kept as the answer.
    assert_eq!(status, 503);
    assert!(body.contains("degraded"), "{body}");
    assert_eq!(ph.requests_to("/health").len(), 2);
}
