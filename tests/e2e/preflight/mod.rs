//! `preflight`: the PostHog client against the stand-in, offline manifests, the credential scan,
//! live checks against the simulated cluster, and failing remotes.

mod client;
mod firing;
mod fix;
mod live;
mod offline;
mod remote;
mod rules_api;
mod rules_auth;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Run, bin, run};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/preflight/fixtures")
        .join(name)
}

/// `kubectl-posthog preflight ARGS` with plain output, run from `cwd` (so no stray config file
/// or documentation in the developer's checkout is picked up).
pub fn preflight(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.current_dir(cwd)
        .args(["--color", "never", "preflight"])
        .args(args)
        .env_remove("POSTHOG_API_KEY")
        .env_remove("POSTHOG_PERSONAL_API_KEY");
    cmd
}

/// Runs a command off the async runtime, so stand-ins on the test's runtime keep answering.
pub async fn run_async(mut cmd: Command) -> Run {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("the command runs")
}

pub fn json(run: &Run) -> Value {
    let value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    });
    crate::support::assert_valid_report(&value);
    value
}

/// The findings with `id` (several for per-hit checks).
pub fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

pub fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    findings(report, id)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no finding {id} in {report:#}"))
}

pub fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    finding(report, id)["status"].as_str().unwrap_or_default()
}
