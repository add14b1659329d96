//! `--prometheus-url`: the alert table read from a real Prometheus's rules API (Debian's
//! `/usr/bin/prometheus`, which `.ci/run` installs), for teams whose alerts live in Prometheus
//! configuration rather than PrometheusRule objects.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{finding, fixture, json, preflight, run_async};

const RULES: &str = r#"groups:
  - name: posthog
    rules:
      - alert: PostHogApiDown
        expr: sum(increase(http_requests_total{status=~"5.."}[1m])) > 10
        labels: {severity: P1}
      - alert: PostHogHighLatency
        expr: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 5
        labels: {severity: P2}
      - alert: PostHogRateLimited
        expr: sum(increase(http_requests_total{status="429"}[1m])) > 5
        labels: {severity: P2}
"#;

/// A Prometheus with `RULES` loaded, killed when dropped (also when the test panics).
pub(super) struct Prometheus {
    pub(super) url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return path.into();
    }
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("prometheus not found: `apt-get install prometheus` (bash .ci/run does) or set PROMETHEUS")
    })
}

pub(super) async fn start() -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary())
        .current_dir(dir.path())
        .args([
            "--config.file=prometheus.yml",
            &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let url = format!("http://127.0.0.1:{port}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{url}/api/v1/rules")).send().await;
        if let Ok(response) = ready
            && response.status().is_success()
            && response
                .text()
                .await
                .unwrap_or_default()
                .contains("PostHogApiDown")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not load the rules within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Prometheus {
        url,
        child,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_read_from_the_prometheus_rules_api() {
    let prometheus = start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("gaps.yaml"), dir.path().join("gaps.yaml")).unwrap();
    let out = run_async(preflight(
        dir.path(),
        &[
            "checkout",
            "-f",
            "gaps.yaml",
            "-o",
            "json",
            "--prometheus-url",
            &prometheus.url,
            "--status-url",
            "http://127.0.0.1:9/x",
            "--remote-timeout",
            "1s",
        ],
    ))
    .await;
    let report = json(&out);
    let alerting = finding(&report, "infra.alerting");
    let measured = alerting["measured"].as_str().unwrap();
    assert_eq!(alerting["status"], "fail", "{alerting}");
    assert!(measured.starts_with("3/4"), "{measured}");
    assert!(
        measured.contains("API Down (5xx > 10/min, P1) → PostHogApiDown (> 10)"),
        "{measured}"
    );
    assert!(measured.contains("missing: Auth Failures"), "{measured}");
    assert!(
        alerting["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("3 alert rules from rules API {}/", prometheus.url)),
        "{alerting}"
    );

    // Prometheus gone: the cause is in the evidence, the check still reports.
    drop(prometheus);
    let out = run_async(preflight(
        dir.path(),
        &[
            "checkout",
            "-f",
            "gaps.yaml",
            "-o",
            "json",
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--offline",
        ],
    ))
    .await;
    let report = json(&out);
    assert!(
        finding(&report, "infra.alerting")["evidence"]
            .as_str()
            .unwrap()
            .contains("not asked (--offline)"),
        "{}",
        finding(&report, "infra.alerting")
    );
    let out = run_async(preflight(
        dir.path(),
        &[
            "checkout",
            "-f",
            "gaps.yaml",
            "-o",
            "json",
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--status-url",
            "http://127.0.0.1:9/x",
            "--remote-timeout",
            "1s",
        ],
    ))
    .await;
    let report = json(&out);
    let evidence = finding(&report, "infra.alerting")["evidence"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        evidence.starts_with(
            "failed to read alert rules from http://127.0.0.1:9/api/v1/rules?type=alert"
        ),
        "{evidence}"
    );
}
