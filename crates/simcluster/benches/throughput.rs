//! Throughput of the simulated API server over HTTP: GET of one pod and LIST of 1,000 pods,
//! each for a fixed time with a few concurrent clients. Prints requests per second.
//!
//! `cargo bench -p simcluster --bench throughput`

use std::time::{Duration, Instant};

use serde_json::json;
use simcluster::{SimCluster, SimOptions};

const PODS: usize = 1000;
const CLIENTS: usize = 4;

async fn hammer(url: String, run_for: Duration) -> (u64, u64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut n, mut bytes) = (0u64, 0u64);
            while Instant::now() < deadline {
                let Ok(r) = client
                    .get(&url)
                    .header("accept", "application/json")
                    .send()
                    .await
                else {
                    continue;
                };
                if !r.status().is_success() {
                    panic!("GET {url}: {}", r.status());
                }
                bytes += r.bytes().await.map(|b| b.len() as u64).unwrap_or(0);
                n += 1;
            }
            (n, bytes)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (n, b) = t.await.unwrap_or((0, 0));
        total.0 += n;
        total.1 += b;
    }
    total
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Frozen clock: the pods settle once and the controllers then have nothing to do.
        let sim = SimCluster::start(SimOptions { speed: 1.0, ..SimOptions::default() }).await.expect("start");
        for i in 0..PODS {
            sim.create(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("pod-{i:04}"), "namespace": "default", "labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "app", "image": "bench:1"}]}
            }))
            .expect("create pod");
        }
        let settled = sim
            .wait_until(Duration::from_secs(60), |s| {
                s.list("v1", "Pod", Some("default")).iter().all(|p| p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running"))
            })
            .await;
        assert!(settled, "pods settle");
        sim.clock().set_speed(0.0);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let secs = 5.0;
        let get_url = format!("{}/api/v1/namespaces/default/pods/pod-0500", sim.url());
        let (n, bytes) = hammer(get_url, Duration::from_secs_f64(secs)).await;
        println!("GET one pod:       {:>9.0} requests/s  ({} requests, {:.1} KiB each, {CLIENTS} clients)", n as f64 / secs, n, bytes as f64 / n.max(1) as f64 / 1024.0);
        let list_url = format!("{}/api/v1/namespaces/default/pods", sim.url());
        let (n, bytes) = hammer(list_url, Duration::from_secs_f64(secs)).await;
        println!("LIST 1,000 pods:   {:>9.1} requests/s  ({} requests, {:.2} MiB each, {CLIENTS} clients)", n as f64 / secs, n, bytes as f64 / n.max(1) as f64 / 1024.0 / 1024.0);
        sim.shutdown().await;
    });
}
