//! Preflight reads alert rules from the same Prometheus, with the same credentials, as the
//! canary: a real Prometheus behind an authenticating proxy that answers 401 without the right
//! bearer token. The URL comes from `--prometheus-url`, `$PROMETHEUS_URL`, `prometheus.url` or
//! the older `preflight.prometheusUrl`; the token from `prometheus.bearerToken: {env: …}` or
//! `$PROMETHEUS_BEARER_TOKEN`. A refused token is a finding that says so, never a crash.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode, Uri};

use super::rules_api::start;
use super::{finding, fixture, json, preflight, run_async};
use crate::support::Run;

const TOKEN: &str = "pr0m-t0ken-e2e";

/// A proxy in front of `upstream` that forwards GETs carrying `Bearer TOKEN` and answers 401
/// to everything else, as an authenticating proxy in front of Prometheus does.
async fn auth_proxy(upstream: String) -> String {
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let client = client.clone();
        let upstream = upstream.clone();
        async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if sent != format!("Bearer {TOKEN}") {
                return (StatusCode::UNAUTHORIZED, "unauthorized".to_string());
            }
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            match client.get(format!("{upstream}{path}")).send().await {
                Ok(answer) => (
                    StatusCode::from_u16(answer.status().as_u16()).unwrap(),
                    answer.text().await.unwrap_or_default(),
                ),
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// `preflight checkout -f gaps.yaml -o json` in `dir`, no PostHog asked, Prometheus settings
/// only from `extra` and `env`.
async fn check(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec![
        "checkout",
        "-f",
        "gaps.yaml",
        "-o",
        "json",
        "--status-url",
        "http://127.0.0.1:9/x",
        "--remote-timeout",
        "2s",
    ];
    args.extend_from_slice(extra);
    let mut cmd = preflight(dir, &args);
    cmd.env_remove("PROMETHEUS_URL")
        .env_remove("PROMETHEUS_BEARER_TOKEN")
        .env_remove("PROMETHEUS_USERNAME")
        .env_remove("PROMETHEUS_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_async(cmd).await
}

fn assert_rules_read(out: &Run, proxy: &str, how: &str) {
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "{how}: the token leaked"
    );
    let report = json(out);
    let alerting = finding(&report, "infra.alerting");
    let measured = alerting["measured"].as_str().unwrap();
    assert!(measured.starts_with("3/4"), "{how}: {alerting}");
    assert!(
        alerting["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("3 alert rules from rules API {proxy}/")),
        "{how}: {alerting}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_come_through_the_configured_url_and_token() {
    let prometheus = start().await;
    let proxy = auth_proxy(prometheus.url.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("gaps.yaml"), dir.path().join("gaps.yaml")).unwrap();
    let config = |body: &str| {
        let path = dir.path().join("kubectl-posthog.yaml");
        std::fs::write(&path, body).unwrap();
    };

    // The flag, with the token from the variable the config names.
    config("prometheus:\n  bearerToken: {env: PROM_TOKEN}\n");
    let out = check(
        dir.path(),
        &["--prometheus-url", &proxy],
        &[("PROM_TOKEN", TOKEN)],
    )
    .await;
    assert_rules_read(&out, &proxy, "--prometheus-url and bearerToken.env");

    // $PROMETHEUS_URL and $PROMETHEUS_BEARER_TOKEN, no config at all.
    config("");
    let out = check(
        dir.path(),
        &[],
        &[
            ("PROMETHEUS_URL", &proxy),
            ("PROMETHEUS_BEARER_TOKEN", TOKEN),
        ],
    )
    .await;
    assert_rules_read(&out, &proxy, "PROMETHEUS_URL");

    // prometheus.url, as the canary reads it.
    config(&format!(
        "prometheus:\n  url: {proxy}\n  bearerToken: {{env: PROM_TOKEN}}\n"
    ));
    let out = check(dir.path(), &[], &[("PROM_TOKEN", TOKEN)]).await;
    assert_rules_read(&out, &proxy, "prometheus.url");

    // The older preflight.prometheusUrl still works, with the shared credentials.
    config(&format!("preflight:\n  prometheusUrl: {proxy}\n"));
    let out = check(dir.path(), &[], &[("PROMETHEUS_BEARER_TOKEN", TOKEN)]).await;
    assert_rules_read(&out, &proxy, "preflight.prometheusUrl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_a_finding_that_names_the_credentials() {
    let prometheus = start().await;
    let proxy = auth_proxy(prometheus.url.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("gaps.yaml"), dir.path().join("gaps.yaml")).unwrap();
    for env in [
        vec![("PROMETHEUS_BEARER_TOKEN", "wrong-token")],
        // No token at all: the proxy refuses as well.
        vec![],
    ] {
        let out = check(dir.path(), &["--prometheus-url", &proxy], &env).await;
        // The checklist still ran (exit 1: gaps.yaml fails), it did not stop with exit 3.
        assert_eq!(out.code, 1, "stderr:\n{}", out.stderr);
        assert!(!out.stdout.contains("wrong-token"), "{}", out.stdout);
        let report = json(&out);
        let alerting = finding(&report, "infra.alerting");
        let evidence = alerting["evidence"].as_str().unwrap();
        assert!(
            evidence.contains(&format!(
                "failed to read alert rules from {proxy}/api/v1/rules?type=alert: refused the credentials (401 Unauthorized)"
            )),
            "{evidence}"
        );
        assert!(evidence.contains("prometheus.bearerToken"), "{evidence}");
        assert_eq!(alerting["status"], "fail", "{alerting}");
    }
}
