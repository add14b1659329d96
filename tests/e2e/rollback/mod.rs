//! `kubectl posthog rollback` end to end: the real binary against the simulated cluster, and the
//! real kubectl as the judge of the undo (the differential tests).

mod canary;
mod differential;
mod in_process;
mod safety;
mod wait;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kubectl_posthog::rollout::status::rollout_status;
use serde_json::{Value, json};
use simcluster::{SimCluster, SimOptions};

use crate::support::{Run, bin, kubectl, run};

/// A simulated cluster with a kubeconfig on disk and a private HOME for kubectl's cache.
pub struct Env {
    pub sim: SimCluster,
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Env {
    /// `speed` sim seconds per real second: pods become ready after 1 sim second.
    pub async fn start(speed: f64) -> Env {
        let sim = SimCluster::start(SimOptions {
            speed,
            ..SimOptions::default()
        })
        .await
        .expect("the simulator starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Env {
            sim,
            kubeconfig,
            dir,
        }
    }

    /// `kubectl-posthog --kubeconfig … rollback ARGS`.
    pub fn rollback(&self, args: &[&str]) -> Run {
        run(&mut self.rollback_command(args))
    }

    pub fn rollback_command(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("rollback")
            .args(args);
        cmd
    }

    /// The real kubectl against this cluster, with its own HOME (discovery cache).
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(kubectl());
        cmd.env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args);
        run(&mut cmd)
    }

    pub fn deployment(&self, name: &str) -> Value {
        self.sim
            .get("apps/v1", "Deployment", Some("default"), name)
            .unwrap_or_else(|| panic!("deployment {name} exists"))
    }

    /// Creates or replaces the Deployment with one revision's template.
    pub fn apply(&self, revision: &Revision) {
        self.sim
            .apply_yaml(&revision.deployment().to_string())
            .expect("the deployment applies");
    }

    /// Applies a revision and waits until its rollout completed.
    pub async fn deploy(&self, revision: &Revision) {
        self.apply(revision);
        self.settle(revision.name).await;
    }

    /// Waits (real time, bounded) until kubectl's completion rule holds.
    pub async fn settle(&self, name: &str) {
        let done = self
            .sim
            .wait_until(Duration::from_secs(30), |sim| {
                sim.get("apps/v1", "Deployment", Some("default"), name)
                    .and_then(|d| serde_json::from_value::<Deployment>(d).ok())
                    .is_some_and(|d| rollout_status(&d).is_complete())
            })
            .await;
        assert!(
            done,
            "deployment {name} did not complete: {}",
            self.deployment(name)
        );
    }

    /// The ReplicaSets' names with their revision and revision-history annotations, sorted.
    pub fn replica_sets(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> = self
            .sim
            .list("apps/v1", "ReplicaSet", Some("default"))
            .iter()
            .map(|rs| {
                let annotation = |k: &str| {
                    rs.pointer(&format!("/metadata/annotations/{}", k.replace('/', "~1")))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                (
                    rs["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    annotation("deployment.kubernetes.io/revision"),
                    annotation("deployment.kubernetes.io/revision-history"),
                )
            })
            .collect();
        rows.sort();
        rows
    }
}

/// One revision of the Deployment under test.
#[derive(Debug, Clone)]
pub struct Revision {
    pub name: &'static str,
    pub replicas: u32,
    pub image: &'static str,
    pub mode: &'static str,
    pub change_cause: &'static str,
    /// Extra Deployment annotations.
    pub annotations: Vec<(&'static str, &'static str)>,
    /// Pod-template annotations.
    pub pod_annotations: Vec<(&'static str, &'static str)>,
    pub progress_deadline: u32,
}

impl Revision {
    pub fn new(image: &'static str) -> Revision {
        Revision {
            name: "web",
            replicas: 3,
            image,
            mode: "normal",
            change_cause: "",
            annotations: Vec::new(),
            pod_annotations: Vec::new(),
            progress_deadline: 600,
        }
    }

    pub fn deployment(&self) -> Value {
        let mut annotations = serde_json::Map::new();
        if !self.change_cause.is_empty() {
            annotations.insert(
                "kubernetes.io/change-cause".into(),
                json!(self.change_cause),
            );
        }
        for (k, v) in &self.annotations {
            annotations.insert((*k).into(), json!(v));
        }
        let pod_annotations: serde_json::Map<String, Value> = self
            .pod_annotations
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        let mut template_meta = json!({"labels": {"app": self.name}});
        if !pod_annotations.is_empty() {
            template_meta["annotations"] = Value::Object(pod_annotations);
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": self.name, "namespace": "default", "labels": {"app": self.name},
                "annotations": annotations},
            "spec": {
                "replicas": self.replicas,
                "progressDeadlineSeconds": self.progress_deadline,
                "selector": {"matchLabels": {"app": self.name}},
                "template": {
                    "metadata": template_meta,
                    "spec": {"containers": [{
                        "name": "app",
                        "image": self.image,
                        "env": [{"name": "MODE", "value": self.mode}],
                        "ports": [{"containerPort": 8080, "name": "http"}]
                    }]}
                }
            }
        })
    }
}

/// The history most tests start from: four revisions changing the image, an env variable, a
/// pod annotation and the Deployment's annotations, each with a change-cause.
pub fn four_revisions() -> Vec<Revision> {
    let mut r1 = Revision::new("ghcr.io/acme/app:1.0");
    r1.change_cause = "deploy 1.0";
    r1.pod_annotations = vec![("prometheus.io/scrape", "true")];
    let mut r2 = r1.clone();
    r2.image = "ghcr.io/acme/app:2.0";
    r2.change_cause = "deploy 2.0";
    let mut r3 = r2.clone();
    r3.mode = "fast";
    r3.change_cause = "MODE=fast";
    r3.pod_annotations = vec![
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", "8080"),
    ];
    let mut r4 = r3.clone();
    r4.image = "ghcr.io/acme/app:3.0";
    r4.change_cause = "deploy 3.0";
    r4.annotations = vec![("team", "payments")];
    vec![r1, r2, r3, r4]
}

/// An [`Env`] with [`four_revisions`] deployed in order.
pub async fn with_history(speed: f64) -> Env {
    let env = Env::start(speed).await;
    for revision in four_revisions() {
        env.deploy(&revision).await;
    }
    env
}

/// The report `-o json` printed.
pub fn report(run: &Run) -> Value {
    let value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    });
    crate::support::assert_valid_report(&value);
    value
}

/// The `measured` of the finding with this id.
pub fn measured(report: &Value, id: &str) -> String {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == id)
        .and_then(|f| f["measured"].as_str())
        .unwrap_or_else(|| panic!("no finding {id} in {report:#}"))
        .to_string()
}

/// Requests that change something.
pub fn mutating(sim: &SimCluster) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
