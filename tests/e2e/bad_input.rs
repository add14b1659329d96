//! Issue 14's corpus of bad inputs as a table: each ends with exit 2 (the input is wrong) or 3
//! (what it names cannot be reached), within a few seconds, with one error line that names the
//! input and no panic, no Rust debug text and no 100 KB echo.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::bin;
use crate::triage::run_with_deadline;

struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Exit codes accepted.
    codes: &'static [i32],
    /// Text the error line must contain.
    names: String,
}

fn case(name: &'static str, args: &[&str], codes: &'static [i32], names: &str) -> Case {
    Case {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        codes,
        names: names.to_string(),
    }
}

fn kubeconfig(dir: &Path, name: &str, command: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    let args = serde_json::to_string(args).unwrap();
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:1\"}}}}]\n\
             users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1beta1, command: {command:?}, args: {args}, interactiveMode: Never}}}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn corpus(dir: &Path) -> Vec<Case> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let deployment = write(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: posthog-integration}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: app, image: x:1}]}\n",
    );
    let cycle = dir.join("cycle");
    std::fs::create_dir_all(cycle.join("sub")).unwrap();
    std::fs::copy(&deployment, cycle.join("sub/deploy.yaml")).unwrap();
    std::os::unix::fs::symlink("..", cycle.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(&cycle, cycle.join("sub/again")).unwrap();
    let fifo_dir = dir.join("fifo");
    std::fs::create_dir_all(&fifo_dir).unwrap();
    let fifo = fifo_dir.join("blocks.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let zero_dir = dir.join("zero");
    std::fs::create_dir_all(&zero_dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_dir.join("zero.yaml")).unwrap();
    let big = write("big.yaml", &format!("# {}\n", "x".repeat(4096)));
    let config = |name: &str, text: &str| write(name, text);
    let interval0 = config("interval0.yaml", "canary:\n  interval: 0s\n");
    let nan = config(
        "nan.yaml",
        "canary:\n  metrics:\n    errors-5xx: {threshold: .nan}\n",
    );
    let negative = config("negative.yaml", "thresholds:\n  minReplicas: -1\n");
    let timeout = config("timeout.yaml", "posthog:\n  timeout: soon\n");
    let failing = kubeconfig(
        dir,
        "failing.kubeconfig",
        "sh",
        &["-c", "echo 'token expired, run login' >&2; exit 1"],
    );
    let hanging = kubeconfig(dir, "hanging.kubeconfig", "sleep", &["600"]);
    let long_target = format!("deployment/{}", "a".repeat(100_000));
    let offline = |extra: &[&str]| {
        let mut v = vec!["preflight", "-f", deployment.as_str(), "--offline"];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let mut cases = vec![
        case(
            "evidence --since beyond jiff",
            &["evidence", "--since", "99999999999h"],
            &[2],
            "99999999999h",
        ),
        case(
            "evidence --since 0s",
            &["evidence", "--since", "0s"],
            &[2],
            "\"0s\" is too short",
        ),
        case(
            "--request-timeout beyond a year",
            &["rollback", "history", "--request-timeout", "99999999999h"],
            &[2],
            "99999999999h",
        ),
        case(
            "rollback --timeout garbage",
            &["rollback", "--timeout", "soon"],
            &[2],
            "\"soon\" is not a duration",
        ),
        case(
            "a 100 KB target",
            &["rollback", "history", &long_target],
            &[2],
            "(100011 bytes)",
        ),
        // Walked once per real directory: it ends (at once), finding no PostHog Deployment.
        case(
            "cycle of symlinks",
            &[
                "preflight",
                "-f",
                cycle.to_str().unwrap(),
                "-R",
                "--offline",
                "--all",
            ],
            &[2],
            "cycle",
        ),
        case(
            "-f /dev/zero",
            &["preflight", "-f", "/dev/zero", "--offline"],
            &[2],
            "/dev/zero",
        ),
        case(
            "a *.yaml link to /dev/zero",
            &["preflight", "-f", zero_dir.to_str().unwrap(), "--offline"],
            &[2],
            "zero.yaml",
        ),
        case(
            "a FIFO named *.yaml",
            &["preflight", "-f", fifo_dir.to_str().unwrap(), "--offline"],
            &[2],
            "blocks.yaml",
        ),
        case(
            "exec plugin fails",
            &["rollback", "history", "--kubeconfig", &failing],
            &[2, 3],
            "exec credential plugin \"sh\" failed",
        ),
        case(
            "exec plugin hangs",
            &[
                "rollback",
                "history",
                "--kubeconfig",
                &hanging,
                "--request-timeout",
                "2s",
            ],
            &[3],
            "exec credential plugin \"sleep\" did not finish within 2s",
        ),
        // 920 Prometheus queries in 13 s before: an interval is at least 1 s.
        case(
            "canary --interval 1ns",
            &[
                "canary",
                "deploy/web",
                "--image",
                "app:2",
                "--interval",
                "1ns",
            ],
            &[2],
            "--interval",
        ),
    ];
    for host in ["", "not a url", "http://"] {
        cases.push(Case {
            name: "invalid --posthog-host",
            args: offline(&["--posthog-host", host]),
            env: Vec::new(),
            codes: &[2],
            names: format!("--posthog-host {host:?}"),
        });
    }
    for (name, path, names) in [
        ("canary.interval: 0s", &interval0, "canary.interval \"0s\""),
        (
            "a .nan threshold",
            &nan,
            "canary.metrics.errors-5xx.threshold",
        ),
        (
            "negative thresholds.minReplicas",
            &negative,
            "thresholds.minReplicas",
        ),
        (
            "posthog.timeout: soon",
            &timeout,
            "posthog.timeout \"soon\"",
        ),
    ] {
        let mut args = offline(&[]);
        args.extend(["--config".to_string(), path.clone()]);
        cases.push(Case {
            name,
            args,
            env: Vec::new(),
            codes: &[2],
            names: names.to_string(),
        });
    }
    cases.push(Case {
        name: "a manifest over the cap",
        args: vec!["preflight".into(), "-f".into(), big, "--offline".into()],
        env: vec![("KUBECTL_POSTHOG_MAX_MANIFEST_BYTES", "1000".into())],
        codes: &[2],
        names: "is larger than 1000 bytes".into(),
    });
    cases
}

#[test]
fn every_bad_input_ends_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for c in corpus(dir.path()) {
        let mut cmd = bin();
        cmd.current_dir(dir.path())
            .env("KUBECONFIG", dir.path().join("none"))
            .args(&c.args)
            .envs(c.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null());
        let started = Instant::now();
        let run = run_with_deadline(&mut cmd, Duration::from_secs(20));
        let took = started.elapsed();
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        let problem = if !c.codes.contains(&run.code) {
            Some(format!("exit {} (wanted {:?})", run.code, c.codes))
        } else if run.stderr.contains("panicked") || run.stderr.contains("Output {") {
            Some("a panic or Rust debug text".to_string())
        } else if c.codes.contains(&2) && run.code >= 2 && errors.len() != 1 {
            Some(format!("{} error lines", errors.len()))
        } else if run.code >= 2 && !errors.iter().any(|l| l.contains(&c.names)) {
            Some(format!("the error does not name {:?}", c.names))
        } else if run.stderr.len() > 2000 {
            Some(format!("{} bytes of stderr", run.stderr.len()))
        } else if took > Duration::from_secs(10) {
            Some(format!("took {took:?}"))
        } else {
            None
        };
        eprintln!(
            "{:<36} exit {} in {:>6.2?}  {}",
            c.name,
            run.code,
            took,
            errors.first().copied().unwrap_or("")
        );
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}\n{}", c.name, run.stderr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
