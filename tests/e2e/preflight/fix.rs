//! `preflight --fix DIR` judged by real tools: `promtool check rules` accepts the rules, the
//! real `kubectl kustomize` builds DIR, and preflight on what it builds passes every finding
//! `--fix` claimed to fix — for a kustomize-style file with a List, a Helm-rendered
//! multi-document file read from stdin, a directory, and the live simulated cluster.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{fixture, json, preflight, run_async};
use crate::support::{kubectl, run};

/// `helm template` output: `# Source:` comments, an empty document, explicit namespaces, the
/// key from a ConfigMap, a named container port.
const HELM: &str = r#"---
# Source: shop/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-env
  namespace: shop
data:
  POSTHOG_HOST: https://eu.i.posthog.com
---
# Source: shop/templates/empty.yaml
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
  namespace: shop
  labels:
    helm.sh/chart: shop-1.2.0
    app.kubernetes.io/name: shop
spec:
  replicas: 3
  revisionHistoryLimit: 0
  progressDeadlineSeconds: 7200
  selector:
    matchLabels:
      app.kubernetes.io/name: shop
  template:
    metadata:
      labels:
        app.kubernetes.io/name: shop
    spec:
      containers:
        - name: shop
          image: "ghcr.io/acme/shop:1.2.0"
          ports:
            - name: http
              containerPort: 3000
          env:
            - name: POSTHOG_HOST
              valueFrom:
                configMapKeyRef: {name: shop-env, key: POSTHOG_HOST}
            - name: POSTHOG_API_KEY
              valueFrom:
                configMapKeyRef: {name: shop-env, key: POSTHOG_API_KEY}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-web
  namespace: shop
spec:
  selector:
    app.kubernetes.io/name: shop
  ports:
    - port: 80
      targetPort: http
"#;

fn promtool() -> std::path::PathBuf {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("promtool not found: `apt-get install prometheus` (bash .ci/run does)")
    })
}

/// The fixes a report claims, as `(finding, subject)`.
fn claimed(report: &Value) -> Vec<(String, String)> {
    report["details"]["fix"]["fixes"]
        .as_array()
        .expect("details.fix.fixes")
        .iter()
        .map(|f| {
            (
                f["finding"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks DIR with promtool and kustomize, runs preflight on the result with `args`, and
/// asserts every claimed fix now passes. Returns the fixed report.
async fn verify(dir: &Path, cwd: &Path, claims: &[(String, String)], args: &[&str]) -> Value {
    assert!(!claims.is_empty(), "--fix claimed nothing");
    let rules: Vec<_> = std::fs::read_dir(dir.join("rules"))
        .expect("DIR/rules")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!rules.is_empty());
    for rule in &rules {
        let out = run(Command::new(promtool()).args(["check", "rules"]).arg(rule));
        assert_eq!(
            out.code,
            0,
            "promtool check rules {}:\n{}{}",
            rule.display(),
            out.stdout,
            out.stderr
        );
    }
    let built = run(Command::new(kubectl()).arg("kustomize").arg(dir));
    assert_eq!(
        built.code,
        0,
        "kubectl kustomize {}: {}",
        dir.display(),
        built.stderr
    );
    let built_path = cwd.join("built.yaml");
    std::fs::write(&built_path, &built.stdout).unwrap();
    let mut all = vec!["-f", "built.yaml", "--offline", "-o", "json"];
    all.extend_from_slice(args);
    let out = run_async(preflight(cwd, &all)).await;
    let report = json(&out);
    let several = report["details"]["deployments"].as_array().unwrap().len() > 1;
    for (id, subject) in claims {
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["id"] == id.as_str()
                    && (!several || f["subject"] == subject.as_str() || f.get("subject").is_none())
            })
            .unwrap_or_else(|| panic!("no {id} for {subject} after the fix"));
        assert_eq!(
            finding["status"], "pass",
            "{id} of {subject} after the fix: {finding}"
        );
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_of_a_list_file_build_and_pass() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("gaps.yaml"), cwd.path().join("gaps.yaml")).unwrap();
    let out = run_async(preflight(
        cwd.path(),
        &[
            "checkout",
            "-f",
            "gaps.yaml",
            "--offline",
            "--fix",
            "fixes",
            "-o",
            "json",
        ],
    ))
    .await;
    let report = json(&out);
    let claims = claimed(&report);
    let ids: Vec<&str> = claims.iter().map(|(i, _)| i.as_str()).collect();
    for id in [
        "config.api-key-from-secret",
        "infra.pdb",
        "infra.alerting",
        "infra.rolling-update",
        "infra.termination-grace",
    ] {
        assert!(ids.contains(&id), "{id} not fixed: {ids:?}");
    }
    let dir = cwd.path().join("fixes");
    // The literal key stays in the copy of the input only, never in a fix.
    for file in [
        "secret-posthog-secrets.yaml",
        "patches/deployment-default-checkout.yaml",
        "FIXES.md",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains("phx_"), "{file} holds a key:\n{text}");
    }
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    assert!(
        !kustomization.contains("secret-"),
        "the empty Secret is applied:\n{kustomization}"
    );
    verify(&dir, cwd.path(), &claims, &["checkout"]).await;

    // Markdown lists the fixes before the findings (the PR comment).
    let out = run_async(preflight(
        cwd.path(),
        &[
            "checkout",
            "-f",
            "gaps.yaml",
            "--offline",
            "--fix",
            "fixes",
            "-o",
            "markdown",
        ],
    ))
    .await;
    assert!(
        out.stdout.starts_with("### Fixes written to `fixes`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("| `infra.pdb` | deployment/default/checkout |"),
        "{}",
        out.stdout
    );
    // A directory holding something else is refused.
    std::fs::create_dir(cwd.path().join("other")).unwrap();
    std::fs::write(cwd.path().join("other/notes.txt"), "mine").unwrap();
    let out = run_async(preflight(
        cwd.path(),
        &["checkout", "-f", "gaps.yaml", "--offline", "--fix", "other"],
    ))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_of_helm_output_on_stdin_and_of_a_directory_build_and_pass() {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = preflight(
        cwd.path(),
        &[
            "-f",
            "-",
            "--all",
            "--offline",
            "--fix",
            "helm-fixes",
            "-o",
            "json",
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(HELM.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report: Value = crate::support::report_json(&stdout);
    let claims = claimed(&report);
    let ids: Vec<&str> = claims.iter().map(|(i, _)| i.as_str()).collect();
    for id in [
        "config.api-key-from-secret",
        "infra.readiness-probe",
        "infra.rollback-history",
        "infra.progress-deadline",
        "infra.pdb",
    ] {
        assert!(ids.contains(&id), "{id} not fixed: {ids:?}");
    }
    let dir = cwd.path().join("helm-fixes");
    let patch = std::fs::read_to_string(dir.join("patches/deployment-shop-shop-web.yaml")).unwrap();
    assert!(patch.contains("port: http"), "{patch}");
    verify(&dir, cwd.path(), &claims, &["--all"]).await;

    // A directory of manifests (-f DIR): every file is copied and kept apart.
    let manifests = cwd.path().join("k8s");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(manifests.join("shop.yaml"), HELM).unwrap();
    std::fs::copy(fixture("gaps.yaml"), manifests.join("checkout.yaml")).unwrap();
    let out = run_async(preflight(
        cwd.path(),
        &[
            "-f",
            "k8s",
            "--all",
            "--offline",
            "--fix",
            "dir-fixes",
            "-o",
            "json",
        ],
    ))
    .await;
    let report = json(&out);
    let claims = claimed(&report);
    assert!(
        claims.iter().any(|(_, s)| s == "deployment/shop/shop-web"),
        "{claims:?}"
    );
    assert!(
        claims
            .iter()
            .any(|(_, s)| s == "deployment/default/checkout"),
        "{claims:?}"
    );
    verify(
        &cwd.path().join("dir-fixes"),
        cwd.path(),
        &claims,
        &["--all"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_fixes_export_the_deployment_and_change_nothing_in_the_cluster() {
    let sim = simcluster::SimCluster::start(simcluster::SimOptions::default())
        .await
        .expect("the simulator starts");
    let gaps = std::fs::read_to_string(fixture("gaps.yaml")).unwrap();
    sim.apply_yaml(&gaps).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let kubeconfig = cwd.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    sim.clear_requests();
    let mut cmd = preflight(
        cwd.path(),
        &["checkout", "--offline", "--fix", "live-fixes", "-o", "json"],
    );
    cmd.arg("--kubeconfig").arg(&kubeconfig);
    let out = run_async(cmd).await;
    let report = json(&out);
    assert_eq!(report["details"]["mode"], "live", "{}", out.stderr);
    let writes: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "--fix wrote to the cluster: {writes:?}");
    let claims = claimed(&report);
    let dir = cwd.path().join("live-fixes");
    let exported =
        std::fs::read_to_string(dir.join("input/deployment-default-checkout.yaml")).unwrap();
    assert!(
        !exported.contains("resourceVersion") && !exported.contains("status:"),
        "{exported}"
    );
    verify(&dir, cwd.path(), &claims, &["checkout"]).await;
    sim.shutdown().await;
}
