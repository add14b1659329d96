//! `evidence` on the simulated cluster with planted secrets: every PostHog key shape, bearer and
//! basic credentials, passwords in URLs and assignments, and the Secrets' own values echoed into
//! logs (current and previous containers) and into env. The unpacked bundle must contain none
//! of them, its manifest's checksums must verify, and missing sources must not stop it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use simcluster::{Fault, LogScript, PodBehavior, Readiness};

use crate::standins::dead_url;
use crate::standins::posthog::{Behaviour, PostHogStandIn, incident_summary};
use crate::triage::{DEPLOYMENT, Incident, NAMESPACE, PrometheusStandIn, Rates, healthy};

const CANARY_IMAGE: &str = "ghcr.io/acme/posthog-integration:1.5.0";
const PROJECT_KEY: &str = "phc_EvidenceProjectKey7Lm2Qx9Rt4Vw8Yz3Bn6Cd1";
const PERSONAL_KEY: &str = "phx_EvidencePersonalKey5Kj8Hg2Fd6Sa9Pl3Mn7Q";
const SECRET_KEY: &str = "phs_EvidenceSecretKey3Wq7Er1Ty5Ui9Op2As6Df0";
const OAUTH_ACCESS: &str = "pha_EvidenceAccessToken8Zx4Cv2Bn6Mq1Wp5Lk9J";
const OAUTH_REFRESH: &str = "phr_EvidenceRefreshToken2Gh7Jk3Lz9Xc5Vb1Nm4H";
const DB_PASSWORD: &str = "Tr0ub4dor&3-horse-battery";
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldmlkZW5jZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
const URL_PASSWORD: &str = "UrlPassw0rdInTheDsn";
const ASSIGNED_TOKEN: &str = "assignedTokenValue42xyz";
const LITERAL_ENV_PASSWORD: &str = "literal-env-password-99";

/// Every value that must not appear anywhere in the unpacked bundle.
fn planted() -> Vec<&'static str> {
    vec![
        PROJECT_KEY,
        PERSONAL_KEY,
        SECRET_KEY,
        OAUTH_ACCESS,
        OAUTH_REFRESH,
        DB_PASSWORD,
        BEARER,
        URL_PASSWORD,
        ASSIGNED_TOKEN,
        LITERAL_ENV_PASSWORD,
    ]
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Secrets holding every key shape and a database password, referenced by the Deployment and
/// its canary; a literal env var echoing a Secret's value; logs echoing all of them.
fn plant(incident: &Incident) {
    let yaml = format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: posthog-keys}}
type: Opaque
data:
  api-key: {}
  personal-key: {}
  secret-key: {}
  oauth-access: {}
  oauth-refresh: {}
---
apiVersion: v1
kind: Secret
metadata: {{name: db-credentials}}
type: Opaque
data:
  password: {}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {DEPLOYMENT}-canary}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {DEPLOYMENT}, track: canary}}}}
  template:
    metadata: {{labels: {{app: {DEPLOYMENT}, track: canary}}}}
    spec:
      containers:
      - name: app
        image: {CANARY_IMAGE}
        env:
        - {{name: POSTHOG_API_KEY, valueFrom: {{secretKeyRef: {{name: posthog-keys, key: api-key}}}}}}
        - {{name: DATABASE_PASSWORD, valueFrom: {{secretKeyRef: {{name: db-credentials, key: password}}}}}}
        - {{name: LEGACY_POSTHOG, value: "{PERSONAL_KEY}"}}
        - {{name: DB_PASSWORD, value: "{LITERAL_ENV_PASSWORD}"}}
        - {{name: CACHE_NOTE, value: "copied from the secret: {DB_PASSWORD}"}}
"#,
        b64(PROJECT_KEY),
        b64(PERSONAL_KEY),
        b64(SECRET_KEY),
        b64(OAUTH_ACCESS),
        b64(OAUTH_REFRESH),
        b64(DB_PASSWORD),
    );
    incident
        .sim
        .apply_yaml(&yaml)
        .expect("plant secrets and the canary");
    // The stable Deployment references the planted Secrets too.
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "POSTHOG_PERSONAL_API_KEY", "valueFrom": {"secretKeyRef": {"name": "posthog-keys", "key": "personal-key"}}},
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}
    ]}]}}}});
    let mut deployment = incident.deployment();
    merge(&mut deployment, &patch);
    incident
        .sim
        .apply_yaml(&serde_json::to_string(&deployment).unwrap())
        .expect("reference the secrets");
}

fn merge(target: &mut Value, patch: &Value) {
    let env = patch
        .pointer("/spec/template/spec/containers/0/env")
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let current = target
        .pointer_mut("/spec/template/spec/containers/0/env")
        .unwrap()
        .as_array_mut()
        .unwrap();
    current.extend(env);
    if let Some(meta) = target.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
}

/// Log lines echoing every planted value, the way real integrations leak them.
fn leaky_lines() -> Vec<String> {
    vec![
        format!(
            "level=info msg=\"posthog init\" api_key={PROJECT_KEY} personal={PERSONAL_KEY} n={{n}}"
        ),
        format!(
            "level=debug flags local evaluation with {SECRET_KEY} oauth {OAUTH_ACCESS}/{OAUTH_REFRESH}"
        ),
        format!("level=error msg=\"db connect failed\" password {DB_PASSWORD} status=503"),
        format!("GET /api/decide Authorization: Bearer {BEARER} status=200"),
        format!("connecting to postgres://app:{URL_PASSWORD}@db.internal:5432/app"),
        format!("retrying with token={ASSIGNED_TOKEN}&attempt=2 status=429"),
        format!("secret as base64 {}", b64(DB_PASSWORD)),
    ]
}

fn leaky(bulk_bytes: u64) -> PodBehavior {
    PodBehavior {
        logs: LogScript {
            lines: leaky_lines(),
            every: Duration::from_millis(500),
            bulk_bytes,
            previous_lines: leaky_lines(),
        },
        ..healthy()
    }
}

/// Every file under `dir`, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn unpack(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar -xzf failed on {}", archive.display());
}

fn assert_checksums(unpacked: &BTreeMap<String, Vec<u8>>) -> Value {
    let manifest: Value =
        serde_json::from_slice(&unpacked["manifest.json"]).expect("manifest.json is JSON");
    let listed: Vec<&Value> = manifest["files"].as_array().unwrap().iter().collect();
    assert_eq!(
        listed.len() + 1,
        unpacked.len(),
        "the manifest lists every file but itself"
    );
    for file in listed {
        let path = file["path"].as_str().unwrap();
        let data = unpacked
            .get(path)
            .unwrap_or_else(|| panic!("{path} listed but absent"));
        assert_eq!(
            file["size"].as_u64().unwrap(),
            data.len() as u64,
            "{path} size"
        );
        assert_eq!(
            file["sha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(data)),
            "{path} checksum"
        );
    }
    manifest
}

fn assert_no_planted_secret(unpacked: &BTreeMap<String, Vec<u8>>) {
    for (path, data) in unpacked {
        for secret in planted() {
            let found = data.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret:?} found in {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unpacked_bundle_holds_no_planted_secret_and_its_checksums_verify() {
    let incident = Incident::start(leaky(200_000), 2, true).await;
    incident.sim.script_image(
        CANARY_IMAGE,
        PodBehavior {
            readiness: Readiness::CrashLoop {
                after: Duration::from_secs(1),
                exit_code: 1,
                reason: "Error".into(),
            },
            ..leaky(0)
        },
    );
    plant(&incident);
    let settled = incident
        .sim
        .wait_until(Duration::from_secs(30), |sim| {
            let pods = sim.list("v1", "Pod", Some(NAMESPACE));
            let restarted = pods.iter().any(|p| {
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.contains("-canary-"))
                    && p.pointer("/status/containerStatuses/0/restartCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                        > 0
            });
            let available = sim
                .get("apps/v1", "Deployment", Some(NAMESPACE), DEPLOYMENT)
                .and_then(|d| {
                    Some(
                        d.pointer("/status/updatedReplicas")?.as_u64()? == 2
                            && d.pointer("/status/availableReplicas")?.as_u64()? == 2,
                    )
                })
                .unwrap_or(false);
            // The old ReplicaSet's pods terminate after the rollout is available: listed while
            // terminating and gone a moment later, their logs would be missing (a race seen
            // under load: 4 app.log files for 5 pods). This test wants a settled cluster.
            let settled = pods.len() == 3
                && pods
                    .iter()
                    .all(|p| p.pointer("/metadata/deletionTimestamp").is_none());
            restarted && available && settled
        })
        .await;
    assert!(
        settled,
        "the canary did not restart, the rollout did not finish or old pods did not go"
    );

    let posthog = PostHogStandIn::start(Behaviour::default().status_summary(incident_summary(
        "Ingestion delays",
        "US Cloud",
        "degraded_performance",
    )))
    .await;
    let prometheus = PrometheusStandIn::start(Rates {
        auth: Some(0.0),
        rate_limited: Some(8.0),
        server: Some(3.0),
        p99_ms: Some(900.0),
    })
    .await;
    incident.sim.clear_requests();
    let out_dir = incident.dir.path().join("archives");
    std::fs::create_dir_all(&out_dir).unwrap();
    let run = incident
        .run(&[
            "evidence",
            DEPLOYMENT,
            "--since",
            "1h",
            "--archive-dir",
            out_dir.to_str().unwrap(),
            "--status-url",
            &posthog.status_url(),
            "--prometheus-url",
            &prometheus.url,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = crate::support::report_json(&run.stdout);
    let log_reads = incident
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/log"))
        .count();
    let archive = PathBuf::from(report["details"]["bundle"].as_str().unwrap());
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("incident-posthog-integration-") && name.ends_with("Z.tar.gz"),
        "{name}"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        1,
        "only the archive is left behind"
    );

    let unpack_dir = incident.dir.path().join("unpacked");
    unpack(&archive, &unpack_dir);
    // Issue 18 item 5: everything under one directory named as the archive, where
    // `sha256sum -c` checks the manifest's sums.
    let top = name.trim_end_matches(".tar.gz");
    let listing: Vec<String> = std::fs::read_dir(&unpack_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listing, [top], "one top-level directory");
    let unpack_dir = unpack_dir.join(top);
    let sums = std::process::Command::new("sh")
        .arg("-c")
        .arg("jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum -c --quiet -")
        .current_dir(&unpack_dir)
        .output()
        .expect("sha256sum runs");
    assert!(
        sums.status.success(),
        "sha256sum -c: {}{}",
        String::from_utf8_lossy(&sums.stdout),
        String::from_utf8_lossy(&sums.stderr)
    );
    let unpacked = files(&unpack_dir);
    let manifest = assert_checksums(&unpacked);
    assert_no_planted_secret(&unpacked);

    for expected in [
        "triage.md",
        "postmortem.md",
        "communication.md",
        "k8s/deployment.yaml",
        "k8s/canary-deployment.yaml",
        "k8s/replicasets.yaml",
        "k8s/pods.yaml",
        "k8s/events.yaml",
        "k8s/hpa.yaml",
        "k8s/pdb.yaml",
        "k8s/rollout-history.txt",
        "k8s/secrets.yaml",
        "metrics/errors-5xx.json",
        "metrics/rate-limited.json",
        "metrics/auth-failures.json",
        "metrics/latency-p99.json",
        "metrics/chart.svg",
        "posthog/status.json",
        "posthog/health.json",
    ] {
        assert!(
            unpacked.contains_key(expected),
            "{expected} missing from {:?}",
            unpacked.keys().collect::<Vec<_>>()
        );
    }
    let logs: Vec<&String> = unpacked.keys().filter(|k| k.starts_with("logs/")).collect();
    let pods = manifest["target"]["pods"].as_array().unwrap().len();
    assert!(
        pods >= 3,
        "2 stable + 1 canary at least: {}",
        manifest["target"]["pods"]
    );
    assert_eq!(
        logs.iter().filter(|k| k.ends_with("/app.log")).count(),
        pods,
        "every pod's container: {logs:?}; pods {}; missing {}",
        manifest["target"]["pods"],
        manifest["missing"]
    );
    assert_eq!(
        logs.iter()
            .filter(|k| k.ends_with("/app.previous.log"))
            .count(),
        1,
        "the canary restarted: {logs:?}"
    );
    // Regression guard: one read per log serves both the bundle and the triage's error lines.
    assert_eq!(log_reads, logs.len(), "each log is read exactly once");
    let stable_log = logs
        .iter()
        .find(|k| !k.contains("-canary-") && k.ends_with("/app.log"))
        .unwrap();
    assert!(
        unpacked[*stable_log].len() > 200_000,
        "the bulk was streamed in full"
    );

    // Redactions are counted per file, and the Secrets are listed by name and key name only.
    let per_file: BTreeMap<&str, u64> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["redactions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(per_file[stable_log.as_str()] > 0);
    assert!(
        per_file["k8s/canary-deployment.yaml"] >= 3,
        "env literals: {}",
        per_file["k8s/canary-deployment.yaml"]
    );
    let secrets = String::from_utf8_lossy(&unpacked["k8s/secrets.yaml"]);
    assert!(
        secrets.contains("posthog-keys")
            && secrets.contains("personal-key")
            && secrets.contains("db-credentials"),
        "{secrets}"
    );
    // Issue 18 item 6: the type and key names stay; only Secret values count as redactions.
    assert!(secrets.contains("secretType: Opaque"), "{secrets}");
    assert!(!secrets.contains("REDACTED"), "{secrets}");
    assert_eq!(per_file["k8s/secrets.yaml"], 0);
    let redactions = &manifest["redactions"];
    let by_source = redactions["bySource"].as_array().unwrap();
    assert!(
        by_source
            .iter()
            .all(|s| s["source"].as_str().unwrap().contains('/'))
            && !by_source.is_empty(),
        "{redactions}"
    );
    assert_eq!(
        redactions["total"].as_u64().unwrap(),
        by_source
            .iter()
            .map(|v| v["count"].as_u64().unwrap())
            .sum::<u64>(),
        "{redactions}"
    );
    assert!(redactions["total"].as_u64().unwrap() > 0, "{redactions}");
    let deployment = String::from_utf8_lossy(&unpacked["k8s/canary-deployment.yaml"]);
    assert!(!deployment.contains("managedFields"));
    assert!(deployment.contains("[REDACTED"), "{deployment}");
    assert_eq!(manifest["cluster"]["context"], "simcluster");
    assert_eq!(manifest["window"]["since"], "1h");
    assert_eq!(manifest["target"]["canary"], "posthog-integration-canary");
    assert!(
        manifest["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["kind"] == "range" && q["file"] == "metrics/errors-5xx.json")
    );
    assert_eq!(
        manifest["missing"].as_array().unwrap().len(),
        0,
        "{}",
        manifest["missing"]
    );
    assert_eq!(manifest["tool"]["version"], env!("CARGO_PKG_VERSION"));

    // The documents are filled in from the triage and the timeline.
    let postmortem = String::from_utf8_lossy(&unpacked["postmortem.md"]);
    assert!(
        postmortem.starts_with(
            "## Incident: PostHog 429 rate limiting, 5xx errors (PostHog-side incident)\n"
        ),
        "{postmortem}"
    );
    assert!(postmortem.contains("**Severity:** P2"), "{postmortem}");
    assert!(
        postmortem.contains("[rollout] deployment/posthog-integration revision"),
        "{postmortem}"
    );
    assert!(postmortem.contains("terminated: Error"), "{postmortem}");
    let communication = String::from_utf8_lossy(&unpacked["communication.md"]);
    assert!(
        communication.contains("P2 INCIDENT: PostHog Integration"),
        "{communication}"
    );
    let chart = String::from_utf8_lossy(&unpacked["metrics/chart.svg"]);
    assert!(
        chart.contains("rev 2") && chart.contains("<polyline"),
        "revisions are marked on the chart"
    );
    let triage = String::from_utf8_lossy(&unpacked["triage.md"]);
    assert!(triage.contains("POSTHOG_FALLBACK=true"), "{triage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sources_are_recorded_and_the_bundle_is_still_produced() {
    let incident = Incident::start(leaky(0), 2, true).await;
    let pods = incident.sim.list("v1", "Pod", Some(NAMESPACE));
    let gone = pods[0]
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    // The pod's log answers 404, as for a pod deleted between the listing and the read.
    incident.sim.inject(Fault::Errors {
        path_contains: Some(format!("pods/{gone}/log")),
        methods: vec!["GET".into()],
        status: 404,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    let out_dir = incident.dir.path().join("bundle");
    let run = incident
        .run(&[
            "evidence",
            "--since",
            "30m",
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--status-url",
            &format!("{}/api/v1/summary", dead_url()),
            "-o",
            "json",
        ])
        .await;
    assert_eq!(
        run.code, 0,
        "a missing source does not fail the command: {}",
        run.stderr
    );
    let report: Value = crate::support::report_json(&run.stdout);
    assert_eq!(report["verdict"]["result"], "warn");
    let unpacked = files(&out_dir);
    let manifest = assert_checksums(&unpacked);
    assert_no_planted_secret(&unpacked);
    let missing: Vec<String> = manifest["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["source"].as_str().unwrap().to_string())
        .collect();
    assert!(missing.contains(&"prometheus".to_string()), "{missing:?}");
    assert!(missing.contains(&"status-page".to_string()), "{missing:?}");
    assert!(missing.contains(&format!("logs/{gone}/app")), "{missing:?}");
    assert!(
        unpacked
            .keys()
            .any(|k| k.starts_with("logs/") && !k.contains(&gone)),
        "the other pod's log is there"
    );
    assert!(unpacked.contains_key("postmortem.md") && unpacked.contains_key("triage.md"));
    assert!(
        !unpacked.contains_key("metrics/chart.svg"),
        "no chart without Prometheus"
    );
    // The table says where the bundle is and what is missing.
    let table = incident
        .run(&[
            "evidence",
            "--since",
            "30m",
            "--out-dir",
            incident.dir.path().join("again").to_str().unwrap(),
            "--status-url",
            &format!("{}/api/v1/summary", dead_url()),
            "--color",
            "never",
        ])
        .await;
    assert!(
        table.stdout.contains("evidence.bundle")
            && table.stdout.contains("evidence.missing.prometheus"),
        "{}",
        table.stdout
    );
    // A non-empty --out-dir is refused rather than mixed into.
    let refused = incident
        .run(&["evidence", "--out-dir", out_dir.to_str().unwrap()])
        .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}

/// Issue 12: `PROMETHEUS_URL=… evidence` said "Prometheus not configured". With the URL from the
/// environment and the token from `prometheus.bearerToken: {env: …}` in the config file, the
/// bundle holds the range queries of a real Prometheus behind a proxy that wants the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_url_from_the_environment_and_the_token_from_the_config_file() {
    use crate::triage::{AuthProxy, serving_5xx, wait_for_5xx};
    use std::sync::atomic::Ordering;
    let ns = "evidence-prom-env";
    let incident = Incident::start_in(ns, serving_5xx(), 2, true).await;
    let _scraped = crate::prom::shared().register(&incident.sim.url());
    let proxy = AuthProxy::start(&crate::prom::shared().prometheus.url, "config-file-token").await;
    let posthog = PostHogStandIn::start(Behaviour::default()).await;
    std::fs::write(
        incident.dir.path().join("kubectl-posthog.yaml"),
        "prometheus:\n  bearerToken: {env: EVIDENCE_PROM_TOKEN}\n",
    )
    .unwrap();
    wait_for_5xx(ns);
    let out_dir = incident.dir.path().join("bundle");
    let run = incident
        .run_with_env(
            &[
                "evidence",
                "--since",
                "10m",
                "--out-dir",
                out_dir.to_str().unwrap(),
                "--status-url",
                &posthog.status_url(),
                "-o",
                "json",
            ],
            &[
                ("PROMETHEUS_URL", &proxy.url),
                ("EVIDENCE_PROM_TOKEN", "config-file-token"),
            ],
        )
        .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = crate::support::report_json(&run.stdout);
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 0);
    assert_eq!(
        proxy.authorized.load(Ordering::SeqCst),
        8,
        "four range queries for the bundle, four instant ones for its triage"
    );
    let missing = report["details"]["manifest"]["missing"].to_string();
    assert!(!missing.contains("prometheus"), "{missing}");
    let unpacked = files(&out_dir);
    let errors: Value = serde_json::from_slice(&unpacked["metrics/errors-5xx.json"]).unwrap();
    let highest = errors["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[1].as_f64())
        .fold(0.0, f64::max);
    assert!(highest > 0.0, "the real 5xx rate per minute: {errors}");
    assert!(unpacked.contains_key("metrics/chart.svg"));
    let triage = String::from_utf8_lossy(&unpacked["triage.md"]);
    assert!(triage.contains("(prometheus)"), "{triage}");
}
