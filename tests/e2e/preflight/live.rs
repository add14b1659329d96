//! Live mode against the simulated cluster: the checks read real API objects, the health endpoint
//! is asked through the API server's service proxy, the key comes from the Secret (and is never
//! printed), and the number of API requests does not grow with the number of pods.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use simcluster::{HealthScript, PodBehavior, SimCluster, SimOptions};

use crate::standins::posthog::{Behaviour, PROJECT_KEY, PostHogStandIn};

use super::{finding, fixture, json, preflight, run_async, status};

const IMAGE: &str = "ghcr.io/acme/posthog-integration@sha256:5d0c0ffee5d0c0ffee5d0c0ffee5d0c0ffee5d0c0ffee5d0c0ffee5d0c0ffee";

struct Live {
    sim: SimCluster,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Live {
    async fn start(namespace: &str) -> Live {
        let sim = SimCluster::start(SimOptions {
            default_namespace: namespace.to_string(),
            default_behavior: PodBehavior {
                ready_after: Duration::from_millis(50),
                ..PodBehavior::default()
            },
            ..SimOptions::default()
        })
        .await
        .expect("the simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        Live {
            sim,
            dir,
            kubeconfig,
        }
    }

    /// Applies the good fixture with `replicas` and waits for every pod to be available.
    async fn good(namespace: &str, replicas: usize) -> Live {
        let live = Live::start(namespace).await;
        live.apply(&good_yaml(replicas));
        live.sim
            .apply_yaml(&std::fs::read_to_string(fixture("secret.yaml")).unwrap())
            .unwrap();
        live.wait_available(namespace, "posthog-integration", replicas)
            .await;
        live
    }

    fn apply(&self, yaml: &str) {
        self.sim
            .apply_yaml(yaml)
            .expect("the simulator accepts the manifests");
    }

    async fn wait_available(&self, namespace: &str, name: &str, replicas: usize) {
        let (ns, owned) = (namespace.to_string(), name.to_string());
        let ready = self
            .sim
            .wait_until(Duration::from_secs(60), move |sim| {
                sim.get("apps/v1", "Deployment", Some(&ns), &owned)
                    .and_then(|d| {
                        d.pointer("/status/availableReplicas")
                            .and_then(Value::as_u64)
                    })
                    == Some(replicas as u64)
            })
            .await;
        assert!(
            ready,
            "deployment/{namespace}/{name} never had {replicas} available pods"
        );
    }

    fn preflight(&self, args: &[&str]) -> std::process::Command {
        let mut all = vec!["--kubeconfig", self.kubeconfig.to_str().unwrap()];
        all.extend_from_slice(args);
        preflight(self.dir.path(), &all)
    }
}

fn good_yaml(replicas: usize) -> String {
    std::fs::read_to_string(fixture("good.yaml"))
        .unwrap()
        .replace("REPLICAS", &replicas.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_integration_passes_live_with_posthog_answering() {
    let live = Live::good("prod", 3).await;
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    let out = run_async(live.preflight(&[
        "-n",
        "prod",
        "-o",
        "json",
        "--posthog-host",
        ph.url(),
        "--status-url",
        &ph.status_url(),
        "--staging-url",
        &ph.health_url(),
    ]))
    .await;
    let report = json(&out);
    assert_eq!(out.code, 0, "{:#}\n{}", report["findings"], out.stderr);
    for id in [
        "config.api-key-from-secret",
        "config.secret-present",
        "config.key-kind",
        "infra.health-endpoint",
        "infra.replicas",
        "infra.pdb",
        "infra.alerting",
        "rollout.project-key-valid",
        "rollout.posthog-status",
        "rollout.staging-health",
    ] {
        assert_eq!(
            status(&report, id),
            "pass",
            "{id}: {}",
            finding(&report, id)
        );
    }
    let health = finding(&report, "infra.health-endpoint");
    assert_eq!(
        health["evidence"],
        "GET /api/v1/namespaces/prod/services/posthog-integration:http/proxy/health (API server service proxy)"
    );
    assert!(
        health["measured"]
            .as_str()
            .unwrap()
            .contains("posthog.connected=true")
    );
    assert!(
        finding(&report, "infra.replicas")["measured"]
            .as_str()
            .unwrap()
            .contains("3 ready of 3"),
        "{}",
        finding(&report, "infra.replicas")
    );
    // The key was read from the Secret and sent to PostHog, never printed.
    let flags = ph.requests_to("/flags");
    assert_eq!(flags.len(), 1);
    assert!(flags[0].body.contains(PROJECT_KEY));
    for format in ["json", "yaml", "table", "markdown"] {
        let out = run_async(live.preflight(&["-n", "prod", "--offline", "-o", format])).await;
        assert!(
            !out.stdout.contains(PROJECT_KEY) && !out.stderr.contains(PROJECT_KEY),
            "{format} leaked the key"
        );
        assert!(
            out.stdout.contains("phc_…0001") || format != "table",
            "{format}: {}",
            out.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_key_and_unhealthy_endpoint_fail_live() {
    let live = Live::start("prod").await;
    live.sim.script_image(
        IMAGE,
        PodBehavior {
            ready_after: Duration::from_millis(50),
            health: HealthScript {
                status: 503,
                body: serde_json::json!({"status": "degraded", "posthog": {"connected": false, "latencyMs": 5003}}),
            },
            ..PodBehavior::default()
        },
    );
    live.apply(&good_yaml(2));
    live.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: posthog-secrets}\nstringData: {other: x}\n",
    );
    live.wait_available("prod", "posthog-integration", 2).await;
    let out = run_async(live.preflight(&[
        "-n",
        "prod",
        "-o",
        "json",
        "--status-url",
        "http://127.0.0.1:9/none",
        "--posthog-host",
        "http://127.0.0.1:9",
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = json(&out);
    let secret = finding(&report, "config.secret-present");
    assert_eq!(secret["status"], "fail");
    assert!(
        secret["measured"]
            .as_str()
            .unwrap()
            .contains("has no key api-key"),
        "{secret}"
    );
    let health = finding(&report, "infra.health-endpoint");
    assert_eq!(health["status"], "fail");
    assert!(
        health["measured"].as_str().unwrap().starts_with("HTTP 503"),
        "{health}"
    );
    assert!(
        health["measured"]
            .as_str()
            .unwrap()
            .contains("posthog.connected=false"),
        "{health}"
    );
    // With no readable key there is nothing to validate: skipped, with the reason.
    let key = finding(&report, "rollout.project-key-valid");
    assert_eq!(key["status"], "skipped");
    assert!(
        key["measured"].as_str().unwrap().contains("not readable"),
        "{key}"
    );
}

/// Requests the preflight sent, as `METHOD path`, in order.
fn requests(sim: &SimCluster) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_do_not_grow_with_pods() {
    let mut counts = Vec::new();
    for replicas in [3, 300] {
        let live = Live::good("prod", replicas).await;
        live.sim.clear_requests();
        let out = run_async(live.preflight(&["-n", "prod", "--offline", "-o", "json"])).await;
        let report = json(&out);
        assert!(
            finding(&report, "infra.replicas")["measured"]
                .as_str()
                .unwrap()
                .contains(&format!("{replicas} ready of {replicas}")),
            "{}",
            finding(&report, "infra.replicas")
        );
        let mut seen = requests(&live.sim);
        seen.sort();
        counts.push((replicas, seen));
        live.sim.shutdown().await;
    }
    let (few, many) = (&counts[0].1, &counts[1].1);
    assert_eq!(few, many, "the same requests for 3 and 300 pods");
    let lists = few.iter().filter(|r| !r.contains("/posthog-")).count();
    assert!(few.len() <= 12, "{few:#?}");
    assert!(lists >= 5, "{few:#?}");
    println!("requests for 3 and for 300 pods ({}): {few:#?}", few.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_checks_every_deployment_that_uses_posthog() {
    let live = Live::good("prod", 2).await;
    let staging = good_yaml(1).replace(
        "name: posthog-integration\n  labels",
        "name: posthog-integration\n  namespace: staging\n  labels",
    );
    live.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: staging}\n");
    live.apply(&staging);
    live.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: unrelated, namespace: staging}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: unrelated}}\n  template:\n    metadata: {labels: {app: unrelated}}\n    spec: {containers: [{name: c, image: busybox:1.36}]}\n",
    );
    live.wait_available("staging", "posthog-integration", 1)
        .await;
    live.sim.clear_requests();
    let out = run_async(live.preflight(&["--all", "-A", "--offline", "-o", "json"])).await;
    let report = json(&out);
    assert_eq!(
        report["details"]["deployments"],
        serde_json::json!(["prod/posthog-integration", "staging/posthog-integration"])
    );
    let replicas: Vec<(String, String)> = super::findings(&report, "infra.replicas")
        .iter()
        .map(|f| {
            (
                f["subject"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        replicas,
        [
            (
                "deployment/prod/posthog-integration".to_string(),
                "pass".to_string()
            ),
            (
                "deployment/staging/posthog-integration".to_string(),
                "fail".to_string()
            ),
        ]
    );
    // One LIST per kind, cluster-wide.
    let seen = requests(&live.sim);
    let lists: Vec<&String> = seen
        .iter()
        .filter(|r| r.starts_with("GET /api") && !r.contains("/namespaces/"))
        .collect();
    assert_eq!(lists.len(), 8, "{seen:#?}");
    // Without -A only the kubeconfig's namespace.
    let out =
        run_async(live.preflight(&["--all", "-n", "staging", "--offline", "-o", "json"])).await;
    assert_eq!(
        json(&out)["details"]["deployments"],
        serde_json::json!(["staging/posthog-integration"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_reads_degrade_to_findings() {
    let live = Live::good("prod", 2).await;
    let forbid = |path: &str| simcluster::Fault::Errors {
        path_contains: Some(path.to_string()),
        methods: vec![],
        status: 403,
        share: 1.0,
        retry_after: None,
        count: None,
    };
    live.sim.inject(forbid("/prometheusrules"));
    live.sim.inject(forbid("/secrets/posthog-secrets"));
    let out = run_async(live.preflight(&["-n", "prod", "--offline", "-o", "json"])).await;
    assert_eq!(out.stderr, "", "no error line");
    let report = json(&out);
    let alerting = finding(&report, "infra.alerting");
    assert_eq!(alerting["status"], "fail");
    assert!(
        alerting["evidence"]
            .as_str()
            .unwrap()
            .contains("PrometheusRules not readable"),
        "{alerting}"
    );
    let secret = finding(&report, "config.secret-present");
    assert_eq!(secret["status"], "skipped", "{secret}");
    assert!(
        secret["measured"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{secret}"
    );
}

/// Issue 17 item 1: `-v`/`-vv` printed nothing and `-vvv` only tower's TRACE noise. Now `-vv` is
/// one line per HTTP request to the API server, PostHog and Prometheus (method, URL, status,
/// latency), `-vvv` adds headers and bodies, and no credential appears at any level: not the
/// kubeconfig's bearer token, not the key from the Secret (read from the API server and sent to
/// PostHog), not the Prometheus password in its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbosity_logs_each_request_and_never_a_credential() {
    const TOKEN: &str = "kubeconfig-bearer-7f3a9c1d";
    const PROM_PASSWORD: &str = "prom-pass-5e6f";
    let live = Live::good("prod", 1).await;
    let kubeconfig = std::fs::read_to_string(&live.kubeconfig).unwrap();
    assert!(kubeconfig.contains("token: simcluster"), "{kubeconfig}");
    std::fs::write(
        &live.kubeconfig,
        kubeconfig.replace("token: simcluster", &format!("token: {TOKEN}")),
    )
    .unwrap();
    let ph = PostHogStandIn::start(Behaviour::default()).await;
    let prometheus = format!("http://reader:{PROM_PASSWORD}@127.0.0.1:9");
    let run_with = |verbosity: Option<&str>| {
        let mut args = vec![
            "-n",
            "prod",
            "--posthog-host",
            ph.url(),
            "--status-url",
            "http://127.0.0.1:9/status",
            "--staging-url",
            "http://127.0.0.1:9/health",
            "--prometheus-url",
            &prometheus,
        ];
        args.extend(verbosity);
        run_async(live.preflight(&args))
    };
    let quiet = run_with(None).await;
    let one = run_with(Some("-v")).await;
    let two = run_with(Some("-vv")).await;
    let three = run_with(Some("-vvv")).await;
    for (level, out) in [
        ("none", &quiet),
        ("-v", &one),
        ("-vv", &two),
        ("-vvv", &three),
    ] {
        for secret in [
            TOKEN,
            PROM_PASSWORD,
            PROJECT_KEY,
            "cGhjX1N0YW5kSW5Qcm9qZWN0S2V5",
        ] {
            assert!(
                !out.stderr.contains(secret),
                "{level} shows {secret}:\n{}",
                out.stderr
            );
        }
        // Library noise (tower::buffer, hyper) only when KUBECTL_POSTHOG_LOG asks for it.
        assert!(
            out.stderr
                .lines()
                .all(|l| !l.contains("tower::") && !l.contains("hyper")),
            "{level}:\n{}",
            out.stderr
        );
    }
    assert!(!quiet.stderr.contains("http_log"), "{}", quiet.stderr);
    // Asked for, the libraries speak (and still no credential is shown by ours).
    let mut asked = live.preflight(&["-n", "prod", "--offline"]);
    asked.env("KUBECTL_POSTHOG_LOG", "kube_client=debug");
    let asked = run_async(asked).await;
    assert!(asked.stderr.contains("kube_client"), "{}", asked.stderr);
    assert!(
        !one.stderr.contains(" GET "),
        "-v is decisions, not requests:\n{}",
        one.stderr
    );

    let shape = regex::Regex::new(
        r"^\S+Z DEBUG kubectl_posthog::http_log: (kubernetes|posthog|prometheus) (GET|POST) http://127\.0\.0\.1:\d+/\S* (\d{3} [A-Za-z ]+ in \d+ ms|failed in \d+ ms: .+)$",
    )
    .unwrap();
    let requests: Vec<&str> = two
        .stderr
        .lines()
        .filter(|l| l.contains("http_log"))
        .collect();
    for line in &requests {
        assert!(
            shape.is_match(line),
            "not a request line: {line}\n{}",
            two.stderr
        );
    }
    let normalized = normalize(&requests);
    insta::assert_snapshot!("verbosity_vv_requests", normalized);

    let trace: Vec<&str> = three
        .stderr
        .lines()
        .filter(|l| l.contains(" TRACE "))
        .collect();
    assert!(
        trace
            .iter()
            .any(|l| l.contains("kubernetes response header content-type: application/json")),
        "{}",
        three.stderr
    );
    let flags_body = trace
        .iter()
        .find(|l| l.contains("posthog request body:"))
        .unwrap_or_else(|| panic!("no PostHog request body at -vvv:\n{}", three.stderr));
    assert!(
        flags_body.contains("\"api_key\":\"[REDACTED]\""),
        "{flags_body}"
    );
    let secret_body = trace
        .iter()
        .find(|l| l.contains("kubernetes response body:") && l.contains("\"kind\":\"Secret\""))
        .unwrap_or_else(|| panic!("no Secret body at -vvv:\n{}", three.stderr));
    assert!(
        secret_body.contains("\"data\":\"[REDACTED]\""),
        "{secret_body}"
    );
}

/// Request lines without what changes from run to run (time, ports, latency), sorted (requests
/// made at once finish in any order).
fn normalize(lines: &[&str]) -> String {
    let time = regex::Regex::new(r"^\S+Z ").unwrap();
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let latency = regex::Regex::new(r"in \d+ ms").unwrap();
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| {
            let l = time.replace(l, "");
            let l = port.replace_all(&l, "127.0.0.1:PORT");
            latency.replace_all(&l, "in N ms").into_owned()
        })
        .collect();
    out.sort();
    out.join("\n")
}
