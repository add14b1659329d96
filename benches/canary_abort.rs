//! Abort latency of `canary`: from the moment a breach is visible in Prometheus to the moment
//! the canary Deployment is scaled to zero, with the analysis interval and scrape settings used.
//!
//! Run with `cargo bench --bench canary_abort` (needs Debian's `prometheus`). Settings:
//! `CANARY_BENCH_INTERVAL` (default `1s`), `CANARY_BENCH_RUNS` (default 5); the scrape interval
//! is 1 s and the query window 5 s. Each run starts a healthy canary, waits for a passing
//! analysis, then switches the canary's pods to 50 % 503s in the simulator. Every setting is
//! measured twice: with the P1 guard (reading the P1 metrics at the scrape interval between
//! rounds, the default) and without it (`--guard-interval` = the interval, which turns it off);
//! at `CANARY_BENCH_INTERVAL=30s` that is the guard's figure in the README.

#[path = "../tests/e2e/prom.rs"]
#[allow(dead_code)]
mod prom;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubectl_posthog::canary::analysis::ReadingStatus;
use kubectl_posthog::canary::state::{CanaryState, Phase};
use simcluster::{PodBehavior, SimCluster, SimOptions, Traffic};

const NS: &str = "bench";

fn traffic(error_share: f64) -> PodBehavior {
    PodBehavior {
        ready_after: Duration::from_millis(300),
        traffic: Traffic {
            rps: 20.0,
            status_shares: vec![(200, 1.0 - error_share), (503, error_share)],
            latency_p50_ms: 20.0,
            latency_p99_ms: 120.0,
        },
        ..PodBehavior::default()
    }
}

/// The canary's state as every process reads it: from its Lease.
fn state(sim: &SimCluster) -> Option<CanaryState> {
    let lease = sim.get(
        "coordination.k8s.io/v1",
        "Lease",
        Some(NS),
        &kubectl_posthog::canary::store::lease_name("web"),
    )?;
    kubectl_posthog::canary::store::Stored::from_lease(Some(serde_json::from_value(lease).ok()?))
        .ok()?
        .state
}

fn canary_replicas(sim: &SimCluster) -> Option<u64> {
    sim.get("apps/v1", "Deployment", Some(NS), "web-canary")
        .and_then(|d| d["spec"]["replicas"].as_u64())
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Instant::now()
}

fn main() {
    let interval = std::env::var("CANARY_BENCH_INTERVAL").unwrap_or_else(|_| "1s".into());
    let runs: usize = std::env::var("CANARY_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let interval_d =
        humantime::parse_duration(&interval).expect("CANARY_BENCH_INTERVAL is a duration");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sim = runtime
        .block_on(SimCluster::start(SimOptions {
            default_namespace: NS.into(),
            ..SimOptions::default()
        }))
        .expect("simulator");
    sim.script_image("ghcr.io/acme/app:1*", traffic(0.0));
    sim.apply_yaml(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {NS}, labels: {{app: web}}}}\n\
         spec:\n  replicas: 4\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n\
         \x20   spec: {{containers: [{{name: app, image: 'ghcr.io/acme/app:1.0'}}]}}\n"
    ))
    .expect("apply");
    wait("the stable ready", Duration::from_secs(30), || {
        sim.get("apps/v1", "Deployment", Some(NS), "web")
            .is_some_and(|d| d["status"]["readyReplicas"] == 4)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let target = sim.url().trim_start_matches("http://").to_string();
    let prometheus = prom::Prometheus::start(&[target], "/sim/metrics");
    prometheus.wait_for("up", Duration::from_secs(30), |v| v == 1.0);

    let mut image_number = 0;
    for (mode, guard) in [
        ("with the P1 guard", None),
        ("without the guard", Some(&interval)),
    ] {
        let mut latencies = Vec::new();
        let mut from_injection = Vec::new();
        for run in 0..runs {
            image_number += 1;
            let image = format!("ghcr.io/acme/app:2.{image_number}");
            sim.script_image(&image, traffic(0.0));
            let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-posthog"))
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args([
                    "-n",
                    NS,
                    "-o",
                    "json",
                    "canary",
                    "deploy/web",
                    "--image",
                    &image,
                ])
                .args(["--pause", "10m", "--interval", &interval, "--window", "5s"])
                .args([
                    "--inconclusive-limit",
                    "10",
                    "--prometheus-url",
                    &prometheus.url,
                ])
                .args(
                    guard
                        .map(|g| ["--guard-interval", g.as_str()])
                        .into_iter()
                        .flatten(),
                )
                .env("CI", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("binary starts");
            // Drain stderr on a thread: the run's event lines must not fill the pipe.
            let mut pipe = child.stderr.take().expect("stderr is piped");
            let stderr = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
                text
            });
            wait(
                "a passing analysis",
                Duration::from_secs(60) + interval_d,
                || {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("run {run}: the canary ended early ({status})");
                    }
                    state(&sim).is_some_and(|s| {
                        s.phase == Phase::Paused
                            && !s.last_analysis.is_empty()
                            && s.last_analysis
                                .iter()
                                .all(|r| r.status == ReadingStatus::Pass)
                    })
                },
            );
            // The breach as the tool sees it: this run's canary pods only (earlier runs' pods keep
            // their 503s in Prometheus for a window).
            let pods: Vec<String> = sim
                .list("v1", "Pod", Some(NS))
                .iter()
                .filter(|p| p["metadata"]["labels"]["track"] == "canary")
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            let query = format!(
                r#"sum(rate(http_requests_total{{namespace="{NS}",pod=~"{}",status=~"5.."}}[5s])) * 60"#,
                kubectl_posthog::canary::metrics::canary_pods_pattern("web-canary", &pods)
            );
            let injected = Instant::now();
            sim.script_image(&image, traffic(0.5));
            let visible = wait("the breach in Prometheus", Duration::from_secs(30), || {
                prometheus.query(&query).is_some_and(|v| v > 10.0)
            });
            let zeroed = wait(
                "the canary at zero",
                Duration::from_secs(30) + interval_d,
                || canary_replicas(&sim).is_none_or(|r| r == 0),
            );
            let status = child.wait().expect("the canary ends");
            let stderr = stderr.join().unwrap_or_default();
            assert_eq!(
                status.code(),
                Some(1),
                "run {run}: the canary must abort:\n{stderr}"
            );
            let latency = zeroed.saturating_duration_since(visible);
            println!(
                "run {run}: breach visible in Prometheus {:>5} ms after injection; canary at 0 replicas {:>5} ms after that",
                visible.duration_since(injected).as_millis(),
                latency.as_millis()
            );
            from_injection.push(zeroed.duration_since(injected));
            latencies.push(latency);
            wait("the stable restored", Duration::from_secs(30), || {
                state(&sim).is_some_and(|s| s.phase == Phase::Aborted)
            });
        }
        latencies.sort();
        from_injection.sort();
        let ms = |d: Duration| d.as_millis();
        println!(
            "abort latency {mode} (visible in Prometheus → canary scaled to 0), interval {interval}, scrape 1s, window 5s, {runs} runs: \
         min {} ms, median {} ms, max {} ms; from the first 503 to 0 replicas: median {} ms, max {} ms \
         (target: one scrape interval + 1 s with the guard, one interval + one scrape interval without)",
            ms(latencies[0]),
            ms(latencies[latencies.len() / 2]),
            ms(latencies[latencies.len() - 1]),
            ms(from_injection[from_injection.len() / 2]),
            ms(from_injection[from_injection.len() - 1])
        );
    }
    runtime.block_on(sim.shutdown());
}
