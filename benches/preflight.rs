//! `preflight --all --all-namespaces` over 500 Deployments and 5,000 pods on the simulated
//! cluster: wall time and the API requests it sent (target: under 2 s, a constant number of
//! LIST calls).
//!
//! Run with `cargo bench --bench preflight`. Two variants are measured: `--offline` (the cluster
//! only) and with the health endpoint of every Deployment asked through the API server's service
//! proxy (PostHog and the status page pointed at the simulator, which answers 404 at once, so no
//! outside network is involved). kubectl reading the same kinds is printed for comparison.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simcluster::{PodBehavior, SimCluster, SimOptions};

const NAMESPACES: usize = 20;
const REPLICAS: usize = 10;
const RUNS: usize = 5;

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
        // A slower controller tick keeps the simulator's own work (5,000 pods) from competing
        // with the measured command for the CPU; writes still wake the controllers at once.
        let sim = SimCluster::start(SimOptions {
            default_behavior: PodBehavior {
                ready_after: Duration::from_millis(10),
                ..PodBehavior::default()
            },
            tick: Duration::from_millis(500),
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
            ("--offline", vec!["--offline".to_string()]),
            (
                "with health via the service proxy",
                vec![
                    "--posthog-host".to_string(),
                    sim.url(),
                    "--status-url".to_string(),
                    format!("{}/no-status-page", sim.url()),
                ],
            ),
        ] {
            let mut times = Vec::new();
            let mut last = (0, String::new());
            for _ in 0..RUNS {
                sim.clear_requests();
                let kc = kubeconfig.clone();
                let extra = extra.clone();
                let (elapsed, deployments, summary) = tokio::task::spawn_blocking(move || {
                    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                    run(&kc, &extra)
                })
                .await
                .expect("the run finishes");
                times.push(elapsed);
                last = (deployments, summary);
            }
            times.sort();
            let requests = sim.requests();
            let lists = requests
                .iter()
                .filter(|r| r.method == "GET" && r.path.starts_with("/api") && !r.path.contains("/proxy"))
                .count();
            let proxies = requests.iter().filter(|r| r.path.contains("/proxy")).count();
            println!(
                "preflight --all -A {label}: {} deployments, median {:.0} ms (min {:.0}, max {:.0}, {RUNS} runs); {} requests to the simulator per run ({lists} API LIST/GET, {proxies} service-proxy health); verdict {}",
                last.0,
                times[RUNS / 2].as_secs_f64() * 1e3,
                times[0].as_secs_f64() * 1e3,
                times[RUNS - 1].as_secs_f64() * 1e3,
                requests.len(),
                last.1
            );
        }
        // The floor: kubectl reading the same kinds (if a kubectl is on PATH).
        let kinds = "deployments,replicasets,services,poddisruptionbudgets,horizontalpodautoscalers,secrets,configmaps";
        let start = Instant::now();
        let kubectl = Command::new("kubectl")
            .args(["--kubeconfig", &kubeconfig, "get", kinds, "-A", "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if kubectl.is_ok_and(|s| s.success()) {
            println!(
                "for comparison, kubectl get {kinds} -A -o json: {:.0} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
        }
        sim.shutdown().await;
    });
}
