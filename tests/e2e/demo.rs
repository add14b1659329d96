//! `kubectl posthog demo`: the whole flow against the embedded simulator, as a newcomer runs it.

use crate::support::{bin, run};

#[test]
fn demo_walks_through_every_command_with_the_expected_outcomes() {
    let bundles = tempfile::tempdir().unwrap();
    let kubeconfig = bundles.path().join("kubeconfig");
    let out = run(bin().args([
        "demo",
        "--color",
        "never",
        "--bundle-dir",
        bundles.path().to_str().unwrap(),
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
    ]));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for section in [
        "1/6  kubectl posthog preflight",
        "2/6  kubectl posthog canary",
        "3/6  kubectl posthog canary",
        "4/6  kubectl posthog rollback",
        "5/6  kubectl posthog triage",
        "6/6  kubectl posthog evidence",
    ] {
        assert!(
            out.stdout.contains(section),
            "missing {section:?}:\n{}",
            out.stdout
        );
    }
    // The preflight shows every kind of status the checklist can give.
    for status in ["PASS ", "WARN ", "FAIL ", "MANUAL "] {
        assert!(
            out.stdout.contains(status),
            "preflight shows no {status}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("aborted at 34%"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("promoted ghcr.io/acme/posthog-integration:1.5.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Every step did what it should"),
        "{}",
        out.stdout
    );
    // The bundle exists where it was asked for, and the kubeconfig was written for kubectl.
    let bundle: Vec<_> = std::fs::read_dir(bundles.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("incident-posthog-integration-")
        })
        .collect();
    assert_eq!(
        bundle.len(),
        1,
        "one bundle in {}",
        bundles.path().display()
    );
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains("simcluster")
    );
}

#[test]
fn a_kept_demo_with_json_output_prints_one_report_and_ends_normally_on_ctrl_c() {
    // Issue 17: `-o json` mixed narration with six JSON documents on stdout; Ctrl-C, the
    // documented way to stop `--keep`, printed `error: interrupted` and exited 130; the kept
    // cluster offered no metrics source for a canary.
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = bin()
        .args(["demo", "--keep", "-o", "json", "--bundle-dir"])
        .arg(dir.path())
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut narration = String::new();
    for line in stderr.by_ref() {
        let line = line.unwrap();
        narration.push_str(&line);
        narration.push('\n');
        if line.contains("Press Ctrl-C to stop") {
            break;
        }
    }
    // Keep reading stderr, as a terminal would: the rest is checked after the exit.
    let rest =
        std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let yml = dir.path().join("prometheus.yml");
    assert!(
        narration.contains(&yml.display().to_string()),
        "{narration}"
    );
    assert!(
        narration.contains("--prometheus-url http://127.0.0.1:9090"),
        "{narration}"
    );
    let check = run(std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(&yml));
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rest = rest.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{rest}"
    );
    assert!(!rest.contains("error:"), "{rest}");
    let report = crate::support::report_json(&stdout);
    assert_eq!(report["command"], "demo");
    assert_eq!(report["findings"].as_array().unwrap().len(), 6, "{report}");
    assert!(
        narration.contains("1/6  kubectl posthog preflight"),
        "{narration}"
    );
}
