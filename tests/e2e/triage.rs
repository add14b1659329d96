//! `triage` on the simulated cluster, with the PostHog stand-in (status page, health endpoint) and
//! a Prometheus HTTP API stand-in: the decision tree lands on each of its four leaves, the
//! commands are exact, `--apply` changes only what it says and only once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use simcluster::{HealthScript, LogScript, PodBehavior, Readiness, SimCluster, SimOptions};

use crate::standins::posthog::{Behaviour, PostHogStandIn, healthy_summary, incident_summary};
use crate::support::{Run, bin};

pub const NAMESPACE: &str = "prod";
pub const DEPLOYMENT: &str = "posthog-integration";
pub const IMAGE: &str = "ghcr.io/acme/posthog-integration:1.4.0";
pub const PROJECT_KEY: &str = "phc_TriageProjectKey8sGx2LqYt5VbN3mWzR7cK1pJ";
pub const PERSONAL_KEY: &str = "phx_TriagePersonalKey4hQ9vM2nB7xK5wL3pR8tY6u";

/// A namespace with the integration as the checklist describes it: a Deployment reading its key
/// from a Secret that holds a second key, a Service in front, two replicas.
pub fn manifests(image: &str, replicas: u32) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: posthog-secrets}}
type: Opaque
data:
  api-key: {}
  personal-key: {}
---
apiVersion: v1
kind: Service
metadata: {{name: {DEPLOYMENT}}}
spec:
  selector: {{app: {DEPLOYMENT}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {DEPLOYMENT}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {DEPLOYMENT}}}}}
  template:
    metadata: {{labels: {{app: {DEPLOYMENT}}}}}
    spec:
      containers:
      - name: app
        image: {image}
        env:
        - {{name: POSTHOG_API_KEY, valueFrom: {{secretKeyRef: {{name: posthog-secrets, key: api-key}}}}}}
        - {{name: POSTHOG_HOST, value: "https://us.i.posthog.com"}}
        resources: {{limits: {{memory: 256Mi}}}}
"#,
        b64(PROJECT_KEY),
        b64(PERSONAL_KEY)
    )
}

pub fn healthy() -> PodBehavior {
    PodBehavior {
        ready_after: Duration::from_millis(200),
        ..PodBehavior::default()
    }
}

/// A simulated cluster seeded with [`manifests`] and a temporary working directory.
pub struct Incident {
    pub sim: SimCluster,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// The namespace everything lives in ([`NAMESPACE`] unless started with [`Incident::start_in`]).
    pub ns: String,
}

impl Incident {
    pub async fn start(behavior: PodBehavior, replicas: u32, wait_ready: bool) -> Incident {
        Incident::start_in(NAMESPACE, behavior, replicas, wait_ready).await
    }

    /// In its own namespace: the shared Prometheus scrapes several simulators at once, and
    /// their pods' names repeat run to run, so series are told apart by namespace.
    pub async fn start_in(
        ns: &str,
        behavior: PodBehavior,
        replicas: u32,
        wait_ready: bool,
    ) -> Incident {
        let sim = SimCluster::start(SimOptions {
            default_namespace: ns.into(),
            default_behavior: healthy(),
            ..SimOptions::default()
        })
        .await
        .expect("the simulator starts");
        sim.script_image(IMAGE, behavior);
        sim.apply_yaml(&manifests(IMAGE, replicas)).expect("seed");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        if wait_ready {
            let owned = ns.to_string();
            let ready = sim
                .wait_until(Duration::from_secs(20), move |sim| {
                    sim.get("apps/v1", "Deployment", Some(&owned), DEPLOYMENT)
                        .and_then(|d| d.pointer("/status/availableReplicas")?.as_u64())
                        == Some(replicas as u64)
                })
                .await;
            assert!(ready, "the deployment did not become available");
        }
        Incident {
            sim,
            dir,
            kubeconfig,
            ns: ns.to_string(),
        }
    }

    /// Runs the binary against the simulator from the temporary directory, off the runtime
    /// (the stand-ins serve on it).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[]).await
    }

    /// As [`Incident::run`], with environment variables set; the Prometheus variables of the
    /// environment the tests run in are never inherited.
    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = bin();
        cmd.current_dir(self.dir.path())
            .env_remove("PROMETHEUS_URL")
            .env_remove("PROMETHEUS_BEARER_TOKEN")
            .env_remove("PROMETHEUS_USERNAME")
            .env_remove("PROMETHEUS_PASSWORD")
            .envs(env.iter().copied())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns])
            .args(args)
            .stdin(std::process::Stdio::null());
        tokio::task::spawn_blocking(move || run_with_deadline(&mut cmd, Duration::from_secs(40)))
            .await
            .unwrap()
    }

    pub fn deployment(&self) -> Value {
        self.sim
            .get("apps/v1", "Deployment", Some(&self.ns), DEPLOYMENT)
            .expect("the deployment exists")
    }
}

/// Runs a command, killing it (and failing the test with its stderr) if it outlives `deadline`:
/// a hung command must fail the test, not hang the suite.
pub fn run_with_deadline(cmd: &mut std::process::Command, deadline: Duration) -> Run {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    let Some(status) = status else {
        panic!(
            "the command did not finish within {deadline:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Error rates and p99 a stand-in Prometheus answers, per query class.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub auth: Option<f64>,
    pub rate_limited: Option<f64>,
    pub server: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The Prometheus HTTP API's `/api/v1/query` and `/api/v1/query_range`, answering each alert
/// query by what it asks for (401|403, 429, 5.., histogram_quantile).
pub struct PrometheusStandIn {
    pub url: String,
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl PrometheusStandIn {
    pub async fn start(rates: Rates) -> PrometheusStandIn {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let state = (rates, queries.clone());
        let app = Router::new()
            .route("/api/v1/query", get(instant).post(instant))
            .route("/api/v1/query_range", get(range).post(range))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PrometheusStandIn { url, queries }
    }
}

type PromState = (Rates, Arc<Mutex<Vec<String>>>);

fn value_for(rates: &Rates, query: &str) -> Option<f64> {
    if query.contains("histogram_quantile") {
        rates.p99_ms
    } else if query.contains("401|403") {
        rates.auth
    } else if query.contains("\"429\"") {
        rates.rate_limited
    } else if query.contains("5..") {
        rates.server
    } else {
        None
    }
}

async fn instant(
    State((rates, seen)): State<PromState>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let query = q.get("query").cloned().unwrap_or_default();
    seen.lock().unwrap().push(query.clone());
    let result = match value_for(&rates, &query) {
        Some(v) => json!([{"metric": {}, "value": [1_795_000_000.0, v.to_string()]}]),
        None => json!([]),
    };
    axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
}

async fn range(
    State((rates, seen)): State<PromState>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let query = q.get("query").cloned().unwrap_or_default();
    seen.lock().unwrap().push(query.clone());
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let (start, end, step) = (num("start"), num("end"), num("step").max(1.0));
    let result = match value_for(&rates, &query) {
        Some(v) => {
            let mut values = Vec::new();
            let mut t = start;
            let mut i = 0.0;
            while t <= end {
                // A ramp, so the chart has a shape: the value is reached at the end.
                values.push(json!([
                    t,
                    (v * i / ((end - start) / step).max(1.0)).to_string()
                ]));
                t += step;
                i += 1.0;
            }
            json!([{"metric": {"namespace": "prod"}, "values": values}])
        }
        None => json!([]),
    };
    axum::Json(json!({"status": "success", "data": {"resultType": "matrix", "result": result}}))
}

fn json_of(run: &Run) -> Value {
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr));
    crate::support::assert_valid_report(&value);
    value
}

fn action_command(report: &Value, id: &str) -> String {
    report["details"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .and_then(|a| a["command"].as_str())
        .unwrap_or_else(|| panic!("no action {id}: {}", report["details"]["actions"]))
        .to_string()
}

async fn stand_ins(summary: String, rates: Rates) -> (PostHogStandIn, PrometheusStandIn) {
    let posthog = PostHogStandIn::start(Behaviour::default().status_summary(summary)).await;
    let prometheus = PrometheusStandIn::start(rates).await;
    (posthog, prometheus)
}

fn zero() -> Rates {
    Rates {
        auth: Some(0.0),
        rate_limited: Some(0.0),
        server: Some(0.0),
        p99_ms: Some(80.0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_clear_deployment_is_resolved_or_intermittent_and_exits_0() {
    let incident = Incident::start(healthy(), 2, true).await;
    let (posthog, prometheus) = stand_ins(healthy_summary(), zero()).await;
    incident.sim.clear_requests();
    let out = incident
        .run(&[
            "triage",
            DEPLOYMENT,
            "--status-url",
            &posthog.status_url(),
            "--prometheus-url",
            &prometheus.url,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = json_of(&out);
    assert_eq!(report["details"]["branch"], "resolved-or-intermittent");
    assert_eq!(report["details"]["severity"], "P4");
    // Health asked through the API server's service proxy, answered by the pods' script.
    let health = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "triage.health")
        .unwrap();
    assert_eq!(health["status"], "pass", "{health}");
    assert!(
        health["evidence"]
            .as_str()
            .unwrap()
            .contains("/api/v1/namespaces/prod/services/posthog-integration:http/proxy/health")
    );
    // The four alert queries ran, scoped to the Deployment and its canary.
    let queries = prometheus.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 4, "{queries:?}");
    assert!(queries.iter().all(|q| {
        q.contains(r#"pod=~"posthog-integration-[a-z0-9]+-[a-z0-9]+|posthog-integration-canary-"#)
    }));
    // Nothing was written to the cluster; every request was a read.
    let requests = incident.sim.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    eprintln!("triage API requests (2 pods): {}", requests.len());
    assert!(
        requests.len() <= 14,
        "{} requests: {requests:#?}",
        requests.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_during_a_posthog_incident_land_on_posthog_side_and_enable_fallback() {
    let incident = Incident::start(healthy(), 2, true).await;
    let rates = Rates {
        server: Some(25.0),
        ..zero()
    };
    let (posthog, prometheus) = stand_ins(
        incident_summary("Ingestion is down", "US Cloud", "full_outage"),
        rates,
    )
    .await;
    let out = incident
        .run(&[
            "triage",
            DEPLOYMENT,
            "--status-url",
            &posthog.status_url(),
            "--prometheus-url",
            &prometheus.url,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(
        out.code, 1,
        "P1 is at or above the default --fail-on p2: {}",
        out.stderr
    );
    let report = json_of(&out);
    assert_eq!(report["details"]["branch"], "posthog-incident");
    assert_eq!(report["details"]["severity"], "P1");
    assert_eq!(
        action_command(&report, "enable-fallback"),
        "kubectl set env deployment/posthog-integration -n prod POSTHOG_FALLBACK=true"
    );
    assert_eq!(report["verdict"]["result"], "fail");

    // The same incident in the other region is not ours: the tree says our integration.
    posthog.set_behaviour(Behaviour::default().status_summary(incident_summary(
        "EU ingestion",
        "EU Cloud",
        "full_outage",
    )));
    let out = incident
        .run(&[
            "triage",
            DEPLOYMENT,
            "--status-url",
            &posthog.status_url(),
            "--prometheus-url",
            &prometheus.url,
            "-o",
            "json",
        ])
        .await;
    let report = json_of(&out);
    assert_eq!(
        report["details"]["branch"], "integration",
        "{}",
        report["details"]["path"]
    );
    assert_eq!(
        report["details"]["facts"]["statusPage"]["Ok"]["region"],
        "us"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_our_integration_with_the_exact_key_rotation_commands() {
    let incident = Incident::start(healthy(), 2, true).await;
    let rates = Rates {
        auth: Some(0.4),
        ..zero()
    };
    let (posthog, prometheus) = stand_ins(healthy_summary(), rates).await;
    let args = [
        "triage",
        "deploy/posthog-integration",
        "--status-url",
        &posthog.status_url(),
        "--prometheus-url",
        &prometheus.url,
    ];
    let out = incident.run(&[&args[..], &["-o", "json"]].concat()).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = json_of(&out);
    assert_eq!(report["details"]["branch"], "integration");
    assert_eq!(report["details"]["severity"], "P1");
    assert_eq!(
        action_command(&report, "verify-key"),
        "kubectl get secret posthog-secrets -n prod -o jsonpath='{.data.api-key}' | base64 -d | cut -c1-4; echo"
    );
    // The Secret holds a second key: rotation patches the one key instead of recreating the Secret.
    let update = action_command(&report, "update-secret");
    assert!(
        update.contains("kubectl patch secret posthog-secrets -n prod --type merge"),
        "{update}"
    );
    assert_eq!(
        action_command(&report, "restart"),
        "kubectl rollout restart deployment/posthog-integration -n prod && kubectl rollout status deployment/posthog-integration -n prod"
    );
    // The key is shown masked, never in full.
    assert!(out.stdout.contains("phc_…K1pJ"), "masked key missing");
    assert!(!out.stdout.contains(&PROJECT_KEY[4..]) && !out.stdout.contains(&PERSONAL_KEY[4..]));

    // The table shows the commands as fixes, for a person at a terminal.
    let table = incident
        .run(&[&args[..], &["--color", "never"]].concat())
        .await;
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains("fix: kubectl rollout restart deployment/posthog-integration -n prod"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("VERDICT  FAIL  P1 · our integration issue"),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prometheus_rate_limits_are_read_from_the_logs_and_lines_are_redacted() {
    let behavior = PodBehavior {
        logs: LogScript {
            lines: vec![
                format!(
                    "level=error msg=\"posthog capture failed\" status=429 retry_after=3 key={PERSONAL_KEY} n={{n}}"
                ),
                format!(
                    "level=info msg=\"request handled\" status=200 api_key={PROJECT_KEY} n={{n}}"
                ),
            ],
            every: Duration::from_secs(1),
            ..LogScript::default()
        },
        ..healthy()
    };
    let incident = Incident::start(behavior, 2, true).await;
    incident.sim.clock().advance(Duration::from_secs(240));
    let posthog = PostHogStandIn::start(Behaviour::default()).await;
    let out = incident
        .run(&[
            "triage",
            "--status-url",
            &posthog.status_url(),
            "--health-url",
            &posthog.health_url(),
            "-o",
            "json",
        ])
        .await;
    let report = json_of(&out);
    assert_eq!(
        report["details"]["branch"], "integration",
        "{}",
        report["details"]["path"]
    );
    assert_eq!(report["details"]["errors"][0]["source"], "logs");
    assert_eq!(report["details"]["errors"][0]["class"], "rate-limited");
    assert_eq!(
        report["details"]["severity"], "P2",
        "≈24 429s a minute from two pods"
    );
    assert_eq!(out.code, 1);
    assert!(
        report["details"]["caveats"][0]
            .as_str()
            .unwrap()
            .contains("estimated from pod log lines")
    );
    let recent = report["details"]["recentErrorLines"].as_array().unwrap();
    assert_eq!(recent.len(), 20);
    // The personal key is also a value of the Secret: it is redacted as the Secret's, by name.
    assert!(
        recent.iter().all(|l| l
            .as_str()
            .unwrap()
            .contains("key=[REDACTED:secret/posthog-secrets/personal-key]")),
        "{recent:?}"
    );
    assert!(!out.stdout.contains(&PERSONAL_KEY[4..]) && !out.stdout.contains(&PROJECT_KEY[4..]));
    assert!(action_command(&report, "queue-requests").ends_with("RATE_LIMIT_MODE=queue"));
    // Health came from --health-url, not the proxy.
    assert!(out.stdout.contains(&posthog.health_url()));

    // At -vvv the pod log requests are listed but their lines (keys and all) are not shown, nor
    // the Secret's data the redaction reads.
    let out = incident
        .run(&[
            "triage",
            "--status-url",
            &posthog.status_url(),
            "--health-url",
            &posthog.health_url(),
            "-o",
            "json",
            "-vvv",
        ])
        .await;
    assert!(out.stderr.contains("/log?"), "{}", out.stderr);
    for key in [&PERSONAL_KEY[4..], &PROJECT_KEY[4..]] {
        assert!(!out.stderr.contains(key), "{key}:\n{}", out.stderr);
    }
    assert!(
        !out.stderr.contains("posthog capture failed"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_oom_killed_deployment_is_our_infrastructure() {
    let behavior = PodBehavior {
        readiness: Readiness::CrashLoop {
            after: Duration::from_secs(2),
            exit_code: 137,
            reason: "OOMKilled".into(),
        },
        health: HealthScript {
            status: 503,
            body: json!({"status": "unhealthy"}),
        },
        ..healthy()
    };
    let incident = Incident::start(behavior, 2, false).await;
    let restarted = incident
        .sim
        .wait_until(Duration::from_secs(20), |sim| {
            sim.list("v1", "Pod", Some(NAMESPACE)).iter().any(|p| {
                p.pointer("/status/containerStatuses/0/restartCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    > 0
            })
        })
        .await;
    assert!(restarted, "the pods did not crash");
    let (posthog, prometheus) = stand_ins(healthy_summary(), zero()).await;
    let out = incident
        .run(&[
            "triage",
            "--status-url",
            &posthog.status_url(),
            "--prometheus-url",
            &prometheus.url,
            "-o",
            "json",
            "-vv",
        ])
        .await;
    let report = json_of(&out);
    assert_eq!(
        report["details"]["branch"], "infrastructure",
        "{}",
        report["details"]["path"]
    );
    assert_eq!(out.code, 1);
    let problems = report["details"]["serviceProblems"].to_string();
    assert!(problems.contains("OOMKilled"), "{problems}");
    assert!(action_command(&report, "raise-memory").ends_with("-c app --limits=memory=512Mi"));
    assert!(action_command(&report, "previous-logs").contains("--previous"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_sets_the_env_var_once_after_confirmation_and_dry_run_sends_nothing() {
    let incident = Incident::start(healthy(), 1, true).await;
    let rates = Rates {
        rate_limited: Some(12.0),
        ..zero()
    };
    let (posthog, prometheus) = stand_ins(healthy_summary(), rates).await;
    let base = [
        "triage",
        "--status-url",
        &posthog.status_url(),
        "--prometheus-url",
        &prometheus.url,
        "-o",
        "json",
    ];
    let patches = |sim: &SimCluster| {
        sim.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };

    let dry = incident
        .run(&[&base[..], &["--apply", "--yes", "--dry-run"]].concat())
        .await;
    assert_eq!(
        json_of(&dry)["details"]["applied"][0]["result"],
        "dry-run",
        "{}",
        dry.stderr
    );
    assert_eq!(patches(&incident.sim), 0, "--dry-run sent a PATCH");

    let unconfirmed = incident.run(&[&base[..], &["--apply"]].concat()).await;
    assert_eq!(unconfirmed.code, 2, "{}", unconfirmed.stderr);
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(patches(&incident.sim), 0);

    let applied = incident
        .run(&[&base[..], &["--apply", "--yes"]].concat())
        .await;
    assert_eq!(
        json_of(&applied)["details"]["applied"][0]["result"],
        "applied",
        "{}",
        applied.stderr
    );
    assert_eq!(patches(&incident.sim), 1);
    let env = incident.deployment()["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e == &json!({"name": "RATE_LIMIT_MODE", "value": "queue"})),
        "{env}"
    );
    assert!(
        env.to_string().contains("POSTHOG_API_KEY"),
        "other env vars are kept: {env}"
    );

    let again = incident
        .run(&[&base[..], &["--apply", "--yes"]].concat())
        .await;
    assert_eq!(
        json_of(&again)["details"]["applied"][0]["result"],
        "already-set"
    );
    assert_eq!(patches(&incident.sim), 1, "a re-run must not patch again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_output_format_and_the_fail_on_threshold() {
    let incident = Incident::start(healthy(), 1, true).await;
    let rates = Rates {
        rate_limited: Some(12.0),
        ..zero()
    };
    let (posthog, prometheus) = stand_ins(healthy_summary(), rates).await;
    let base = [
        "triage",
        "--status-url",
        &posthog.status_url(),
        "--prometheus-url",
        &prometheus.url,
    ];
    let yaml = incident.run(&[&base[..], &["-o", "yaml"]].concat()).await;
    assert_eq!(yaml.code, 1);
    assert!(
        yaml.stdout.contains("command: triage") && yaml.stdout.contains("branch: integration"),
        "{}",
        yaml.stdout
    );
    let md = incident
        .run(&[&base[..], &["-o", "markdown"]].concat())
        .await;
    assert!(
        md.stdout.starts_with("### ❌ kubectl-posthog triage: FAIL"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("RATE_LIMIT_MODE=queue"));
    let lenient = incident
        .run(&[&base[..], &["--fail-on", "p1", "-o", "json"]].concat())
        .await;
    assert_eq!(lenient.code, 0, "P2 is below --fail-on p1");
    assert_eq!(json_of(&lenient)["verdict"]["result"], "warn");
}

/// A reverse proxy in front of a real Prometheus that wants `Authorization: Bearer TOKEN`, and
/// answers 401 otherwise, as an authenticating proxy in front of a managed Prometheus does.
pub struct AuthProxy {
    pub url: String,
    /// Requests forwarded (they carried the token).
    pub authorized: Arc<AtomicUsize>,
    /// Requests answered 401.
    pub refused: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    token: String,
    authorized: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl AuthProxy {
    pub async fn start(upstream: &str, token: &str) -> AuthProxy {
        let state = ProxyState {
            upstream: upstream.to_string(),
            token: token.to_string(),
            authorized: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicUsize::new(0)),
        };
        let proxy = AuthProxy {
            url: String::new(),
            authorized: state.authorized.clone(),
            refused: state.refused.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AuthProxy { url, ..proxy }
    }
}

async fn forward(
    State(state): State<ProxyState>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wanted = format!("Bearer {}", state.token);
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(wanted.as_str()) {
        state.refused.fetch_add(1, Ordering::SeqCst);
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            "Unauthorized\n",
        )
            .into_response();
    }
    state.authorized.fetch_add(1, Ordering::SeqCst);
    let target = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    match tokio::task::spawn_blocking(move || crate::prom::get(&target)).await {
        Ok(Some((code, body))) => (
            axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            body,
        )
            .into_response(),
        _ => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Pods serving 10 requests a second each, one in ten a 503: about 60 5xx a minute per pod.
pub fn serving_5xx() -> PodBehavior {
    PodBehavior {
        traffic: simcluster::Traffic {
            rps: 10.0,
            status_shares: vec![(200, 0.9), (503, 0.1)],
            latency_p50_ms: 20.0,
            latency_p99_ms: 120.0,
        },
        ..healthy()
    }
}

/// Waits until the shared Prometheus has scraped the namespace's 5xx counters for 16 s, so a
/// range query at a 15 s step has at least one point with a rate.
pub fn wait_for_5xx(ns: &str) {
    crate::prom::shared().prometheus.wait_for(
        &format!(
            r#"min(count_over_time(http_requests_total{{namespace="{ns}",status="503"}}[1m]))"#
        ),
        Duration::from_secs(60),
        |v| v >= 16.0,
    );
}

/// Issue 12: with `PROMETHEUS_URL` (and no flag, no config) triage said "Prometheus not
/// configured". It must ask that Prometheus, with the bearer token of
/// `PROMETHEUS_BEARER_TOKEN`, and a Prometheus refusing it must read as refused, not absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_url_from_the_environment_is_used_with_the_bearer_token() {
    let ns = "triage-prom-env";
    let incident = Incident::start_in(ns, serving_5xx(), 2, true).await;
    let _scraped = crate::prom::shared().register(&incident.sim.url());
    let proxy = AuthProxy::start(&crate::prom::shared().prometheus.url, "s3cr3t-prom-token").await;
    let posthog =
        PostHogStandIn::start(Behaviour::default().status_summary(healthy_summary())).await;
    wait_for_5xx(ns);
    let args = [
        "triage",
        "--status-url",
        &posthog.status_url(),
        "-o",
        "json",
    ];
    let out = incident
        .run_with_env(
            &args,
            &[
                ("PROMETHEUS_URL", &proxy.url),
                ("PROMETHEUS_BEARER_TOKEN", "s3cr3t-prom-token"),
            ],
        )
        .await;
    let report = json_of(&out);
    assert_eq!(
        proxy.refused.load(Ordering::SeqCst),
        0,
        "every request carried the token"
    );
    assert_eq!(
        proxy.authorized.load(Ordering::SeqCst),
        4,
        "the four alert queries"
    );
    let rates = &report["details"]["facts"]["errorRates"]["Ok"];
    assert!(
        rates["serverPerMin"].as_f64().is_some_and(|v| v > 0.0),
        "the real 5xx rate: {}",
        report["details"]["facts"]["errorRates"]
    );
    assert_eq!(
        report["details"]["errors"][0]["source"], "prometheus",
        "{}",
        out.stdout
    );
    assert_eq!(report["details"]["errors"][0]["class"], "server");
    let caveats = report["details"]["caveats"].to_string();
    assert!(!caveats.contains("not configured"), "{caveats}");
    assert_eq!(out.code, 1, "5xx is at least P2: {}", out.stderr);

    // Without the token the same Prometheus is asked and refuses: the report says so.
    let refused = incident
        .run_with_env(&args, &[("PROMETHEUS_URL", &proxy.url)])
        .await;
    let report = json_of(&refused);
    let error = report["details"]["facts"]["errorRates"]["Err"].to_string();
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("not configured"), "{error}");
    assert!(proxy.refused.load(Ordering::SeqCst) >= 1);
}
