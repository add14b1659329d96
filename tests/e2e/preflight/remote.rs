//! Failing remotes: PostHog down, the status page unreachable, 429, 5xx, timeouts and malformed
//! JSON each give a finding with a clear cause while the rest of the checklist still runs.
//! Offline manifests keep these tests about the network; keys come from this process's
//! environment, as they do offline.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::standins::dead_url;
use crate::standins::posthog::{
    Behaviour, Fault, PERSONAL_KEY, PROJECT_KEY, PostHogStandIn, incident_summary,
};

use super::{finding, fixture, json, preflight, run_async, status};

/// Offline manifests (2 replicas, the good fixture) in a temp dir, with a config file.
fn workdir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("good.yaml"))
        .unwrap()
        .replace("REPLICAS", "2");
    std::fs::write(dir.path().join("app.yaml"), good).unwrap();
    std::fs::write(dir.path().join("kubectl-posthog.yaml"), config).unwrap();
    dir
}

async fn check(
    dir: &Path,
    host: &str,
    status_url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut args = vec![
        "-f",
        "app.yaml",
        "-o",
        "json",
        "--posthog-host",
        host,
        "--status-url",
        status_url,
    ];
    if !extra.contains(&"--remote-timeout") {
        args.extend_from_slice(&["--remote-timeout", "2s"]);
    }
    args.extend_from_slice(extra);
    let mut cmd = preflight(dir, &args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_async(cmd).await;
    let report = json(&out);
    (out.code, report, out.stderr)
}

fn measured(report: &Value, id: &str) -> String {
    finding(report, id)["measured"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posthog_down_and_status_page_unreachable_still_give_the_whole_checklist() {
    let dir = workdir("");
    let dead = dead_url();
    let (code, report, stderr) = check(
        dir.path(),
        &dead,
        &format!("{dead}/api/v1/summary"),
        &[],
        &[("POSTHOG_API_KEY", PROJECT_KEY)],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.is_empty(), "no crash, no error line: {stderr}");
    let key = finding(&report, "rollout.project-key-valid");
    assert_eq!(
        (key["status"].as_str(), key["severity"].as_str()),
        (Some("fail"), Some("P2"))
    );
    assert!(
        measured(&report, "rollout.project-key-valid")
            .contains(&format!("cannot reach {dead}/flags?v=2")),
        "{key}"
    );
    assert!(
        measured(&report, "rollout.project-key-valid").contains("phc_…0001"),
        "{key}"
    );
    let page = finding(&report, "rollout.posthog-status");
    assert_eq!(
        (page["status"].as_str(), page["severity"].as_str()),
        (Some("warn"), Some("P3"))
    );
    assert!(
        measured(&report, "rollout.posthog-status")
            .starts_with("status page unreachable: cannot reach"),
        "{page}"
    );
    // Everything else was still checked.
    let ids: std::collections::BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 38, "{ids:?}");
    assert_eq!(status(&report, "infra.alerting"), "pass");
    assert_eq!(status(&report, "infra.replicas"), "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_validated_and_scopes_reported() {
    let ph = PostHogStandIn::start(
        Behaviour::default().personal_key("phx_WildcardScopes00000000000000000000000009", &["*"]),
    )
    .await;
    let dir = workdir("");
    let status_url = ph.status_url();
    let (code, report, _) = check(
        dir.path(),
        ph.url(),
        &status_url,
        &[],
        &[
            ("POSTHOG_API_KEY", PROJECT_KEY),
            ("POSTHOG_PERSONAL_API_KEY", PERSONAL_KEY),
        ],
    )
    .await;
    assert_eq!(status(&report, "rollout.project-key-valid"), "pass");
    assert!(
        measured(&report, "rollout.project-key-valid").contains("accepted (HTTP 200, 1 flags)")
    );
    assert_eq!(status(&report, "rollout.personal-key-valid"), "pass");
    assert_eq!(status(&report, "config.key-scopes"), "pass");
    assert!(measured(&report, "config.key-scopes").contains("scopes feature_flag:read"));
    assert_eq!(code, 0, "{:#}", report["verdict"]);

    // A wildcard key fails least privilege; an unknown project key is rejected (P1).
    let (code, report, _) = check(
        dir.path(),
        ph.url(),
        &status_url,
        &["--api-key-env", "OTHER_KEY"],
        &[
            ("OTHER_KEY", "phc_NotKnownToPostHog000000000000000000000000"),
            (
                "POSTHOG_PERSONAL_API_KEY",
                "phx_WildcardScopes00000000000000000000000009",
            ),
        ],
    )
    .await;
    assert_eq!(code, 1);
    let rejected = finding(&report, "rollout.project-key-valid");
    assert_eq!(
        (rejected["status"].as_str(), rejected["severity"].as_str()),
        (Some("fail"), Some("P1"))
    );
    assert!(measured(&report, "rollout.project-key-valid").contains("$OTHER_KEY"));
    assert!(measured(&report, "rollout.project-key-valid").contains("rejected (HTTP 401"));
    assert_eq!(status(&report, "config.key-scopes"), "fail");
    assert!(measured(&report, "config.key-scopes").contains("scopes *"));
    let out = serde_json::to_string(&report).unwrap();
    assert!(
        !out.contains("NotKnownToPostHog") && !out.contains("WildcardScopes"),
        "a key leaked"
    );
    // The key went in the body or the Authorization header, never in a URL.
    assert!(
        ph.requests()
            .iter()
            .all(|r| !r.query.clone().unwrap_or_default().contains("ph"))
    );

    // No key offline: skipped with the reason, not failed.
    let (_, report, _) = check(dir.path(), ph.url(), &status_url, &[], &[]).await;
    assert_eq!(status(&report, "rollout.project-key-valid"), "skipped");
    assert!(measured(&report, "rollout.project-key-valid").contains("$POSTHOG_API_KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_timeouts_and_malformed_answers_each_name_their_cause() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    let dir = workdir("");
    let env = [("POSTHOG_API_KEY", PROJECT_KEY)];
    let status_url = ph.status_url();

    ph.fail("/flags", Fault::RateLimit { retry_after: None }, usize::MAX);
    let (_, report, _) = check(dir.path(), ph.url(), &status_url, &[], &env).await;
    let limited = finding(&report, "rollout.project-key-valid");
    assert_eq!(
        (limited["status"].as_str(), limited["severity"].as_str()),
        (Some("warn"), Some("P3"))
    );
    assert!(
        measured(&report, "rollout.project-key-valid").contains("rate-limited"),
        "{limited}"
    );
    assert!(
        measured(&report, "rollout.project-key-valid").contains("HTTP 429"),
        "{limited}"
    );

    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail("/flags", Fault::Malformed, usize::MAX);
    ph.fail(
        "/api/v1/summary",
        Fault::Status(500, "internal error".into()),
        usize::MAX,
    );
    let (_, report, _) = check(dir.path(), ph.url(), &ph.status_url(), &[], &env).await;
    assert_eq!(status(&report, "rollout.project-key-valid"), "fail");
    assert!(measured(&report, "rollout.project-key-valid").contains("not the expected JSON"));
    assert_eq!(status(&report, "rollout.posthog-status"), "warn");
    assert!(measured(&report, "rollout.posthog-status").contains("HTTP 500"));

    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail("/flags", Fault::Delay(Duration::from_secs(5)), usize::MAX);
    let started = std::time::Instant::now();
    let (_, report, _) = check(
        dir.path(),
        ph.url(),
        &ph.status_url(),
        &["--remote-timeout", "500ms"],
        &env,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status(&report, "rollout.project-key-valid"), "fail");
    assert!(measured(&report, "rollout.project-key-valid").contains("did not answer within 500ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_incidents_are_filtered_to_the_region_in_use() {
    // The fixture sends to https://us.i.posthog.com.
    let ph = PostHogStandIn::start(Behaviour::default().status_summary(incident_summary(
        "Event ingestion delayed",
        "US Cloud",
        "partial_outage",
    )))
    .await;
    let dir = workdir("");
    let env = [("POSTHOG_API_KEY", PROJECT_KEY)];
    let (code, report, _) = check(dir.path(), ph.url(), &ph.status_url(), &[], &env).await;
    let incident = finding(&report, "rollout.posthog-status");
    assert_eq!(
        (incident["status"].as_str(), incident["severity"].as_str()),
        (Some("fail"), Some("P2"))
    );
    let text = measured(&report, "rollout.posthog-status");
    assert!(
        text.contains("Event ingestion delayed [partial_outage, investigating]"),
        "{text}"
    );
    assert!(
        text.contains("https://www.posthogstatus.com/incidents/01JSTANDIN"),
        "{text}"
    );
    assert_eq!(code, 1);

    ph.set_behaviour(Behaviour::default().status_summary(incident_summary(
        "EU only",
        "EU Cloud",
        "full_outage",
    )));
    let (_, report, _) = check(dir.path(), ph.url(), &ph.status_url(), &[], &env).await;
    assert_eq!(status(&report, "rollout.posthog-status"), "pass");
    assert_eq!(
        measured(&report, "rollout.posthog-status"),
        "no ongoing incident for region us (1 in other regions)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atlassian_page_is_the_fallback() {
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    ph.fail(
        "/api/v1/summary",
        Fault::Status(502, "bad gateway".into()),
        usize::MAX,
    );
    let config = format!("posthog:\n  statusFallbackUrl: {}\n", ph.atlassian_url());
    let dir = workdir(&config);
    let (_, report, _) = check(dir.path(), ph.url(), &ph.status_url(), &[], &[]).await;
    let page = finding(&report, "rollout.posthog-status");
    assert_eq!(page["status"], "pass", "{page}");
    assert!(
        page["evidence"].as_str().unwrap().contains("Atlassian"),
        "{page}"
    );
    assert_eq!(ph.requests_to("/api/v2/summary.json").len(), 1);
}
