//! `preflight --all --all-namespaces` over 500 Deployments and 5,000 pods on the simulated
//! cluster: wall time and the API requests it sent (target: under 2 s, a constant number of
//! LIST calls).
//!
//! Run with `cargo bench --bench preflight`. Two runs are measured: `--offline` (the cluster
//! only) and with the health endpoint of every Deployment asked through the API server's service
//! proxy (PostHog and the status page pointed at a closed port, so they fail fast).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simcluster::{PodBehavior, SimCluster, SimOptions};

const NAMESPACES: usize = 20;
const REPLICAS: usize = 10;

/// 500 unless `PREFLIGHT_BENCH_DEPLOYMENTS` says otherwise (a quick debug run).
fn deployments() -> usize {
    std::env::var("PREFLIGHT_BENCH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn manifests(namespace: &str, index: usize) -> String {
    let name = format!("svc-{index:03}");
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: app
          image: ghcr.io/acme/{name}:1.0.{index}
          env:
            - name: POSTHOG_API_KEY
              valueFrom: {{secretKeyRef: {{name: posthog-secrets, key: api-key}}}}
            - name: POSTHOG_HOST
              value: https://us.i.posthog.com
          readinessProbe: {{httpGet: {{path: /health, port: 8080}}}}
          resources: {{requests: {{cpu: 10m, memory: 32Mi}}, limits: {{memory: 64Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"
    )
}

fn run(kubeconfig: &str, extra: &[&str]) -> (Duration, usize, String) {
    let bin = env!("CARGO_BIN_EXE_kubectl-posthog");
    let start = Instant::now();
    let out = Command::new(bin)
        .args([
            "--kubeconfig",
            kubeconfig,
            "preflight",
            "--all",
            "--all-namespaces",
            "-o",
            "json",
        ])
        .args(extra)
        .env("CI", "true")
        .stderr(Stdio::inherit())
        .output()
        .expect("the binary runs");
    let elapsed = start.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let deployments = report["details"]["deployments"]
        .as_array()
        .map_or(0, Vec::len);
    (
        elapsed,
        deployments,
        report["verdict"]["summary"].to_string(),
    )
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let sim = SimCluster::start(SimOptions {
            default_behavior: PodBehavior {
                ready_after: Duration::from_millis(10),
                ..PodBehavior::default()
            },
            ..SimOptions::default()
        })
        .await
        .expect("the simulator starts");
        let seeding = Instant::now();
        let total = deployments();
        for n in 0..NAMESPACES {
            let namespace = format!("team-{n:02}");
            sim.apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: posthog-secrets, namespace: {namespace}}}\nstringData: {{api-key: phc_BenchProjectKey000000000000000000000000000}}\n"
            ))
            .expect("namespace");
        }
        for i in 0..total {
            let namespace = format!("team-{:02}", i % NAMESPACES);
            sim.apply_yaml(&manifests(&namespace, i)).expect("deployment");
        }
        let want = (total * REPLICAS) as u64;
        let ready = sim
            .wait_until(Duration::from_secs(600), move |sim| {
                sim.list("v1", "Pod", None)
                    .iter()
                    .filter(|p| p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running"))
                    .count() as u64
                    >= want
            })
            .await;
        assert!(ready, "the simulator did not start {want} pods");
        println!(
            "seeded {total} deployments, {} pods in {NAMESPACES} namespaces in {:.1}s",
            total * REPLICAS,
            seeding.elapsed().as_secs_f64()
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        let kubeconfig = kubeconfig.to_str().expect("utf-8 path").to_string();

        for (label, extra) in [
            ("--offline", vec!["--offline"]),
            (
                "with health via the service proxy",
                vec!["--posthog-host", "http://127.0.0.1:9", "--status-url", "http://127.0.0.1:9/summary", "--remote-timeout", "2s"],
            ),
        ] {
            sim.clear_requests();
            let kc = kubeconfig.clone();
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            let (elapsed, deployments, summary) = tokio::task::spawn_blocking(move || {
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                run(&kc, &extra)
            })
            .await
            .expect("the run finishes");
            let requests = sim.requests();
            let lists = requests
                .iter()
                .filter(|r| r.method == "GET" && !r.path.contains("/proxy"))
                .count();
            let proxies = requests.iter().filter(|r| r.path.contains("/proxy")).count();
            println!(
                "preflight --all -A {label}: {deployments} deployments in {:.0} ms; {} API requests ({lists} LIST/GET, {proxies} service-proxy health); verdict {summary}",
                elapsed.as_secs_f64() * 1e3,
                requests.len()
            );
        }
        sim.shutdown().await;
    });
}
