//! A target that does not exist is the user's input, not an outage (issue 17 item 3): every
//! command exits 2 with one wording that names the Deployment, the namespace and the context,
//! and a typo gets the close names. A cluster that cannot be reached still exits 3.

use std::path::{Path, PathBuf};
use std::process::Command;

use simcluster::{SimCluster, SimOptions};

use crate::support::{Run, bin, run};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: posthog-integration, namespace: production}
spec:
  replicas: 1
  selector: {matchLabels: {app: ph}}
  template:
    metadata: {labels: {app: ph}}
    spec:
      containers: [{name: app, image: 'ghcr.io/acme/app:1'}]
";

/// Every command that acts on one Deployment, with the flags it needs to get as far as reading it.
fn commands(target: &str, out_dir: &Path) -> Vec<Vec<String>> {
    let out = out_dir.join(target).to_string_lossy().into_owned();
    let prometheus = "--prometheus-url=http://127.0.0.1:9".to_string();
    [
        vec!["preflight", target],
        vec!["canary", target, "--image", "ghcr.io/acme/app:2"],
        vec!["canary", "status", target],
        vec!["rollback", target],
        vec!["rollback", "history", target],
        vec!["triage", target],
        vec!["evidence", target, "--out-dir"],
    ]
    .into_iter()
    .map(|words| {
        let mut words: Vec<String> = words.into_iter().map(str::to_string).collect();
        if words[0] == "evidence" {
            words.push(format!("{out}-{}", words.len()));
        }
        if words[0] == "canary" && words[1] != "status" {
            words.push(prometheus.clone());
        }
        words
    })
    .collect()
}

struct Env {
    sim: SimCluster,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let sim = SimCluster::start(SimOptions {
        default_namespace: "production".to_string(),
        ..SimOptions::default()
    })
    .await
    .expect("the simulator starts");
    sim.apply_yaml(DEPLOYMENT).expect("the Deployment applies");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    Env {
        sim,
        kubeconfig,
        dir,
    }
}

impl Env {
    async fn run(&self, global: &[&str], words: &[String]) -> Run {
        let mut cmd: Command = bin();
        cmd.current_dir(self.dir.path())
            .args(["--color", "never", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(global)
            .args(words)
            .env_remove("PROMETHEUS_URL")
            .env_remove("POSTHOG_API_KEY");
        tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_deployment_name_is_an_input_error_with_one_wording() {
    let env = env().await;
    for words in commands("nope", env.dir.path()) {
        let out = env.run(&[], &words).await;
        assert_eq!(out.code, 2, "{words:?}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            "error: deployment \"nope\" not found in namespace \"production\" (context simcluster)\n",
            "{words:?}"
        );
    }
    // The name that exists gets past the lookup: the test tells a wrong name from a broken command.
    let out = env
        .run(
            &[],
            &[
                "rollback".into(),
                "history".into(),
                "posthog-integration".into(),
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_gets_the_close_names_of_the_namespace() {
    let env = env().await;
    for words in commands("posthog-integratoin", env.dir.path()) {
        let out = env.run(&[], &words).await;
        assert_eq!(out.code, 2, "{words:?}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            "error: deployment \"posthog-integratoin\" not found in namespace \"production\" \
             (context simcluster); did you mean \"posthog-integration\"?\n",
            "{words:?}"
        );
    }
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_namespace_is_an_input_error_that_says_the_namespace_is_missing() {
    let env = env().await;
    for (namespace, hint) in [
        ("staging", String::new()),
        ("prodution", ": did you mean -n \"production\"?".to_string()),
    ] {
        for words in commands("posthog-integration", env.dir.path()) {
            let out = env.run(&["-n", namespace], &words).await;
            assert_eq!(out.code, 2, "{namespace} {words:?}: {}", out.stderr);
            assert_eq!(
                out.stderr,
                format!(
                    "error: deployment \"posthog-integration\" not found in namespace \
                     \"{namespace}\" (context simcluster); namespace \"{namespace}\" does not \
                     exist{hint}\n"
                ),
                "{words:?}"
            );
        }
    }
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_still_exits_3() {
    let env = env().await;
    let kubeconfig = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let url = env.sim.url();
    env.sim.shutdown().await;
    // Nothing listens there any more: the cluster cannot be reached, whatever the name.
    let gone = env.dir.path().join("gone-kubeconfig");
    std::fs::write(&gone, &kubeconfig).unwrap();
    assert!(
        kubeconfig.contains(url.trim_end_matches('/')),
        "{kubeconfig}"
    );
    for words in [
        vec![
            "rollback".to_string(),
            "history".to_string(),
            "nope".to_string(),
        ],
        vec!["triage".to_string(), "nope".to_string()],
    ] {
        let mut cmd = bin();
        cmd.args([
            "--color",
            "never",
            "--request-timeout",
            "5s",
            "--kubeconfig",
        ])
        .arg(&gone)
        .args(&words);
        let out = tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap();
        assert_eq!(out.code, 3, "{words:?}: {}", out.stderr);
        assert!(!out.stderr.contains("not found"), "{}", out.stderr);
    }
}
