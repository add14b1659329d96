//! The rules `preflight --fix` writes, loaded into a real Prometheus that scrapes the simulator:
//! a scripted 5xx breach fires `PostHogApiDown` (the table's API Down) within the rule's `for:`
//! plus one evaluation interval of going pending, while healthy Deployments fire nothing. The
//! same Prometheus then answers the canary's analysis queries that preflight runs once
//! (`rollout.canary-query`): a value for the pods, no series for a wrong metric name, a rejected
//! query.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use simcluster::{PodBehavior, SimCluster, SimOptions, Traffic};

use super::{findings, json, preflight, run_async};

const FOR: Duration = Duration::from_secs(5);
const EVALUATION: Duration = Duration::from_secs(1);

fn manifests(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: app
          image: {image}
          env:
            - {{name: POSTHOG_API_KEY, valueFrom: {{secretKeyRef: {{name: posthog-secrets, key: api-key}}}}}}
"
    )
}

fn traffic(error_share: f64) -> PodBehavior {
    PodBehavior {
        ready_after: Duration::from_millis(50),
        traffic: Traffic {
            rps: 20.0,
            status_shares: vec![(200, 1.0 - error_share), (500, error_share)],
            ..Traffic::default()
        },
        ..PodBehavior::default()
    }
}

/// A Prometheus scraping `target` every second with `rules` loaded, killed when dropped.
struct Server {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(target: &str, rules: &std::path::Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(rules, dir.path().join("rules.yaml")).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: {}s}}\n\
             rule_files: [rules.yaml]\n\
             scrape_configs:\n  - job_name: sim\n    honor_labels: true\n    metrics_path: /sim/metrics\n\
             \x20   static_configs: [{{targets: ['{target}']}}]\n",
            EVALUATION.as_secs()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(crate::prom::binary())
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
    Server {
        url: format!("http://127.0.0.1:{port}"),
        child,
        _dir: dir,
    }
}

/// The alerts Prometheus holds now: `(alertname, deployment, state, activeAt)`.
fn alerts(url: &str) -> Vec<(String, String, String, String)> {
    let Some((200, body)) = crate::prom::get(&format!("{url}/api/v1/alerts")) else {
        return Vec::new();
    };
    let value: Value = serde_json::from_str(&body).unwrap_or_default();
    value["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&a["labels"]["alertname"]),
                s(&a["labels"]["deployment"]),
                s(&a["state"]),
                s(&a["activeAt"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_api_down_rule_fires_on_a_breach_and_not_on_healthy_pods() {
    let sim = SimCluster::start(SimOptions::default()).await.unwrap();
    sim.script_image("ghcr.io/acme/web:1", traffic(0.0));
    sim.script_image("ghcr.io/acme/calm:1", traffic(0.0));
    sim.apply_yaml(&manifests("web", "ghcr.io/acme/web:1"))
        .unwrap();
    sim.apply_yaml(&manifests("calm", "ghcr.io/acme/calm:1"))
        .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let kubeconfig = cwd.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    std::fs::write(
        cwd.path().join("kubectl-posthog.yaml"),
        format!(
            "preflight:\n  alertRules: {{for: {}s, window: 10s}}\n",
            FOR.as_secs()
        ),
    )
    .unwrap();
    let mut cmd = preflight(
        cwd.path(),
        &["--all", "--offline", "--fix", "fixes", "-o", "json"],
    );
    cmd.arg("--kubeconfig").arg(&kubeconfig);
    let out = run_async(cmd).await;
    json(&out);
    let rules = cwd.path().join("fixes/rules");
    let mut files: Vec<_> = std::fs::read_dir(&rules)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    // One rule file holding both Deployments' groups.
    let mut groups = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        groups.extend(value["groups"].as_array().unwrap().clone());
    }
    let combined = cwd.path().join("combined.rules.yaml");
    std::fs::write(
        &combined,
        serde_saphyr::to_string(&serde_json::json!({"groups": groups})).unwrap(),
    )
    .unwrap();

    let prometheus = start(&format!("127.0.0.1:{}", sim.port()), &combined);
    let url = prometheus.url.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while crate::prom::get(&format!(
        "{url}/api/v1/query?query=sum(rate(http_requests_total%5B5s%5D))"
    ))
    .is_none_or(|(_, body)| !body.contains("\"value\""))
    {
        assert!(
            Instant::now() < deadline,
            "prometheus never saw the pods' traffic"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Healthy: a window and a for: later, nothing pending or firing.
    let calm_until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < calm_until {
        let now = alerts(&url);
        assert!(now.is_empty(), "healthy pods raised alerts: {now:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A breach on web only: half its responses are 500s (600/min).
    sim.script_image("ghcr.io/acme/web:1", traffic(0.5));
    let breach = Instant::now();
    let mut pending_seen = None;
    let firing_at = loop {
        let now = alerts(&url);
        assert!(
            now.iter().all(|(_, deployment, ..)| deployment == "web"),
            "calm raised alerts: {now:?}"
        );
        assert!(
            now.iter().all(|(name, ..)| name == "PostHogApiDown"),
            "other alerts: {now:?}"
        );
        if let Some((.., state, active)) = now.iter().find(|(n, ..)| n == "PostHogApiDown") {
            if pending_seen.is_none() {
                pending_seen = Some((Instant::now(), active.clone()));
            }
            if state == "firing" {
                break Instant::now();
            }
        }
        assert!(
            breach.elapsed() < Duration::from_secs(60),
            "PostHogApiDown never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, active_at) = pending_seen.expect("pending before firing");
    let active: jiff::Timestamp = active_at.parse().expect("activeAt is RFC 3339");
    let from_active = jiff::Timestamp::now().duration_since(active).as_secs_f64()
        - firing_at.elapsed().as_secs_f64();
    let from_breach = (firing_at - breach).as_secs_f64();
    eprintln!(
        "PostHogApiDown fired {from_active:.1}s after going pending, {from_breach:.1}s after the breach (for: {}s, evaluation {}s)",
        FOR.as_secs(),
        EVALUATION.as_secs()
    );
    let bound = (FOR + EVALUATION).as_secs_f64() + 0.5;
    assert!(
        from_active <= bound,
        "fired {from_active:.1}s after pending, bound {bound}s"
    );
    // The rate sees the breach after one or two scrapes.
    assert!(
        from_breach <= bound + 3.0,
        "fired {from_breach:.1}s after the breach"
    );
    assert!(
        from_breach >= FOR.as_secs_f64() - 0.5,
        "fired before for: passed ({from_breach:.1}s)"
    );

    // The canary's analysis queries against the same Prometheus, once, for each Deployment.
    let live = |extra: &[&str], config: &str| {
        std::fs::write(cwd.path().join("kubectl-posthog.yaml"), config).unwrap();
        let mut args = vec![
            "web",
            "-o",
            "json",
            "--prometheus-url",
            url.as_str(),
            "--status-url",
            "http://127.0.0.1:9/x",
            "--remote-timeout",
            "2s",
        ];
        args.extend_from_slice(extra);
        let mut cmd = preflight(cwd.path(), &args);
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("POSTHOG_API_KEY", "");
        run_async(cmd)
    };
    let report = json(&live(&["--posthog-host", &sim.url()], "").await);
    let queries = findings(&report, "rollout.canary-query");
    assert_eq!(queries.len(), 1, "{queries:?}");
    assert_eq!(queries[0]["status"], "pass", "{}", queries[0]);
    assert!(
        queries[0]["measured"]
            .as_str()
            .unwrap()
            .contains("errors-5xx = "),
        "{}",
        queries[0]
    );
    let report = json(
        &live(
            &["--posthog-host", &sim.url()],
            "canary:\n  names: {requests: nope_total}\n  metrics:\n    latency-p99: {query: 'histogram_quantile(0.99, sum(rate(x[2m])) by (le'}\n",
        )
        .await,
    );
    let queries = findings(&report, "rollout.canary-query");
    let line = |metric: &str| {
        queries
            .iter()
            .find(|f| f["measured"].as_str().unwrap().starts_with(metric))
            .unwrap_or_else(|| panic!("no finding for {metric}: {queries:?}"))
    };
    assert_eq!(line("errors-5xx")["status"], "warn", "{queries:?}");
    assert!(
        line("errors-5xx")["measured"]
            .as_str()
            .unwrap()
            .contains("no series for the pods of deployment/web")
    );
    assert_eq!(line("latency-p99")["status"], "fail", "{queries:?}");
    assert!(
        line("latency-p99")["measured"]
            .as_str()
            .unwrap()
            .contains("Prometheus rejected the query")
    );
    drop(prometheus);
    sim.shutdown().await;
}
