//! Synthetic traffic and metrics: counters per pod by status, a histogram whose p99 matches
//! the script, the Prometheus endpoint, runtime script changes, and the service proxy.

use std::time::Duration;

use simcluster::{HealthScript, MetricsSnapshot, PodBehavior, Readiness, Traffic};

use crate::common::*;

fn script(rps: f64, errors: f64, p99: f64) -> PodBehavior {
    PodBehavior {
        traffic: Traffic {
            rps,
            status_shares: vec![(200, 1.0 - errors), (500, errors)],
            latency_p50_ms: 30.0,
            latency_p99_ms: p99,
        },
        ..Default::default()
    }
}

/// PromQL's histogram_quantile over summed buckets.
fn quantile(q: f64, s: &MetricsSnapshot) -> f64 {
    let mut sums: Vec<(f64, f64)> = Vec::new();
    for p in &s.pods {
        for (i, (le, c)) in p.latency_buckets.iter().enumerate() {
            if sums.len() <= i {
                sums.push((*le, 0.0));
            }
            sums[i].1 += c;
        }
    }
    let total = sums.last().map_or(0.0, |b| b.1);
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (le, c) in sums {
        if c >= rank {
            return prev.0 + (le - prev.0) * (rank - prev.1) / (c - prev.1);
        }
        prev = (le, c);
    }
    f64::NAN
}

#[tokio::test]
async fn counters_histogram_and_prometheus_text() {
    let sim = start(5.0).await;
    sim.script_image("nginx:1", script(100.0, 0.1, 400.0));
    sim.apply_yaml(WEB).expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let before = sim.pod_metrics();
    sim.clock().advance(Duration::from_secs(60));
    let after = sim.pod_metrics();
    assert_eq!(after.pods.len(), 3);
    let served: u64 = after.pods.iter().map(|p| p.total()).sum::<u64>()
        - before.pods.iter().map(|p| p.total()).sum::<u64>();
    assert!(
        (17_000..=20_000).contains(&served),
        "≈ 3 pods × 100 rps × 60 s: {served}"
    );
    let errors: u64 = after
        .pods
        .iter()
        .map(|p| p.requests_by_status.get(&500).copied().unwrap_or(0))
        .sum();
    let total: u64 = after.pods.iter().map(|p| p.total()).sum();
    let share = errors as f64 / total as f64;
    assert!((share - 0.1).abs() < 0.01, "{share}");
    let p99 = quantile(0.99, &after);
    assert!((p99 - 0.4).abs() < 1e-6, "p99 {p99}");
    let p50 = quantile(0.5, &after);
    assert!((p50 - 0.03).abs() < 1e-6, "p50 {p50}");
    assert_eq!(
        after.pods[0].labels.get("track").map(String::as_str),
        Some("stable")
    );

    let text = reqwest::get(format!("{}/sim/metrics", sim.url()))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let pod = &after.pods[0].name;
    assert!(text.contains("# TYPE http_requests_total counter"));
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    assert!(text.contains(&format!("http_requests_total{{namespace=\"default\",pod=\"{pod}\",app=\"web\",track=\"stable\",status=\"500\"}}")), "{text}");
    assert!(text.contains(&format!("http_request_duration_seconds_bucket{{namespace=\"default\",pod=\"{pod}\",app=\"web\",track=\"stable\",le=\"0.4\"}}")), "{text}");
    assert!(text.contains("le=\"+Inf\""));
    assert!(text.contains("http_request_duration_seconds_count{"));
    sim.shutdown().await;
}

#[tokio::test]
async fn changing_a_script_changes_live_pods() {
    let sim = start(5.0).await;
    sim.script_image("nginx:*", script(50.0, 0.0, 100.0));
    sim.apply_yaml(WEB).expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    sim.clock().set_speed(0.0);
    sim.clock().advance(Duration::from_secs(10));
    let base = sim.pod_metrics();
    let errs = |s: &MetricsSnapshot| {
        s.pods
            .iter()
            .map(|p| p.requests_by_status.get(&500).copied().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(errs(&base), 0);
    sim.script_image("nginx:*", script(50.0, 0.5, 2000.0));
    sim.clock().advance(Duration::from_secs(10));
    let breached = sim.pod_metrics();
    let new_errors = errs(&breached);
    assert!(
        (700..=800).contains(&new_errors),
        "≈ 3 × 50 × 10 × 0.5: {new_errors}"
    );
    assert!(quantile(0.99, &breached) > 1.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn service_proxy_answers_from_the_health_script() {
    let sim = start(5.0).await;
    sim.script_image(
        "nginx:*",
        PodBehavior {
            health: HealthScript {
                status: 200,
                body: serde_json::json!({"status": "healthy", "posthog": {"connected": true}}),
            },
            ..Default::default()
        },
    );
    sim.script_image(
        "broken:1",
        PodBehavior {
            readiness: Readiness::NeverReady,
            ..Default::default()
        },
    );
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let body = k.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/web:80/proxy/healthz",
    ]);
    let v: serde_json::Value = serde_json::from_str(&body).expect("health json");
    assert_eq!(v["posthog"]["connected"], true);
    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let body = k.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/default/pods/{pod}/proxy/health"),
    ]);
    assert!(body.contains("healthy"));

    k.apply(
        &WEB.replace("name: web\n  labels", "name: broken\n  labels")
            .replace("image: nginx:1", "image: broken:1")
            .replace("app: web", "app: broken")
            .replace(
                "name: web\nspec:\n  selector",
                "name: broken\nspec:\n  selector",
            ),
    );
    assert!(
        sim.wait_until(WAIT, |s| s.get("v1", "Service", None, "broken").is_some())
            .await
    );
    let r = reqwest::get(format!(
        "{}/api/v1/namespaces/default/services/broken/proxy/healthz",
        sim.url()
    ))
    .await
    .expect("proxy");
    assert_eq!(r.status().as_u16(), 503);
    let s: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("status");
    assert_eq!(
        s["message"],
        "no endpoints available for service \"broken\""
    );
    sim.shutdown().await;
}

/// A load is spread over the ready pods it matches: they serve their share instead of the
/// script's rate, and their CPU follows it.
#[tokio::test]
async fn a_load_is_shared_by_the_ready_pods() {
    let sim = start(0.0).await;
    sim.apply_yaml(WEB).expect("apply");
    assert!(
        sim.wait_until(WAIT, |s| {
            let p = pods(s);
            p.len() == 3 && p.iter().all(|p| p.pointer("/spec/nodeName").is_some())
        })
        .await
    );
    sim.clock().advance(Duration::from_secs(2));
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    assert!(
        sim.set_load("default", "app in (web", 1.0).is_err(),
        "a bad selector is refused"
    );
    sim.set_load("default", "app=web", 300.0).expect("load");
    let before = sim.pod_metrics();
    sim.clock().advance(Duration::from_secs(10));
    let after = sim.pod_metrics();
    for (b, a) in before.pods.iter().zip(&after.pods) {
        assert_eq!(
            a.total() - b.total(),
            1000,
            "100 requests/s for 10 s: {}",
            a.name
        );
    }
    let usage = sim.pod_usage();
    assert_eq!(usage.len(), 3);
    assert!(
        usage
            .iter()
            .all(|u| u.rps == 100.0 && u.cpu_millicores == 110.0),
        "{usage:?}"
    );
    sim.set_load("default", "app=web", 600.0)
        .expect("the load doubles");
    assert!(sim.pod_usage().iter().all(|u| u.cpu_millicores == 210.0));
    sim.clear_load("default", "app=web");
    assert!(
        sim.pod_usage()
            .iter()
            .all(|u| u.rps == 0.0 && u.cpu_millicores == 10.0)
    );
    sim.shutdown().await;
}
