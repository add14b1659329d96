//! Offline mode: manifests from files, directories and stdin, findings with file and line, the
//! credential scan, --fail-on and the config file, and snapshots of the table and Markdown.

use std::io::Write;
use std::process::Stdio;

use crate::support::run;

use super::{findings, fixture, json, preflight, status};

const PLANTED: &str = "phx_PlantedPersonalKey00000000000000000000007";

#[test]
fn multi_document_yaml_findings_carry_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("gaps.yaml");
    let out = run(&mut preflight(
        dir.path(),
        &[
            "-f",
            path.to_str().unwrap(),
            "--all",
            "--offline",
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = json(&out);
    // mailer does not use PostHog; the List's Service and both Deployments were read.
    assert_eq!(
        report["details"]["deployments"],
        serde_json::json!(["default/checkout"])
    );
    let at = |id: &str| {
        let f = super::finding(&report, id);
        (
            f["status"].as_str().unwrap().to_string(),
            f["location"]["line"].as_u64(),
        )
    };
    assert_eq!(at("config.api-key-from-secret"), ("fail".into(), Some(32)));
    assert_eq!(at("config.key-kind"), ("fail".into(), Some(32)));
    assert_eq!(at("config.webhook-https"), ("fail".into(), Some(36)));
    assert_eq!(at("infra.rolling-update"), ("fail".into(), Some(20)));
    assert_eq!(at("infra.image-pinned"), ("fail".into(), Some(30)));
    assert_eq!(at("infra.replicas"), ("fail".into(), Some(19)));
    assert_eq!(at("infra.resources"), ("fail".into(), Some(40)));
    let file = super::finding(&report, "infra.image-pinned")["location"]["file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(file.ends_with("fixtures/gaps.yaml"), "{file}");
    // Several Deployments: every finding names its subject.
    assert_eq!(
        super::finding(&report, "infra.replicas")["subject"],
        "deployment/default/checkout"
    );
    // The literal personal key is a P1 hardcoded credential, printed masked only.
    let hit = super::finding(&report, "code.no-hardcoded-credentials");
    assert_eq!(hit["severity"], "P1");
    assert!(
        hit["measured"].as_str().unwrap().contains("phx_…0007"),
        "{hit}"
    );
    assert!(
        !out.stdout.contains(PLANTED),
        "the key leaked into the report"
    );
    // --offline says so on every network check.
    for id in [
        "rollout.posthog-status",
        "rollout.project-key-valid",
        "infra.health-endpoint",
        "rollout.staging-health",
    ] {
        assert_eq!(status(&report, id), "skipped", "{id}");
        assert!(
            super::finding(&report, id)["measured"]
                .as_str()
                .unwrap()
                .contains("--offline"),
            "{id}"
        );
    }
}

#[test]
fn stdin_and_directories_are_read_like_kubectl_apply() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("gaps.yaml")).unwrap();
    let mut cmd = preflight(
        dir.path(),
        &["checkout", "-f", "-", "--offline", "-o", "json"],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = crate::support::report_json(&String::from_utf8_lossy(&output.stdout));
    let image = super::finding(&report, "infra.image-pinned");
    assert_eq!(
        image["location"],
        serde_json::json!({"file": "<stdin>", "line": 30})
    );

    let manifests = dir.path().join("k8s");
    std::fs::create_dir_all(manifests.join("nested")).unwrap();
    std::fs::write(manifests.join("app.yaml"), &text).unwrap();
    std::fs::copy(fixture("secret.yaml"), manifests.join("nested/secret.yml")).unwrap();
    let flat = json(&run(&mut preflight(
        dir.path(),
        &["checkout", "-f", "k8s", "--offline", "-o", "json"],
    )));
    assert_eq!(
        flat["details"]["files"],
        serde_json::json!(["k8s/app.yaml"])
    );
    let deep = json(&run(&mut preflight(
        dir.path(),
        &["checkout", "-f", "k8s", "-R", "--offline", "-o", "json"],
    )));
    assert_eq!(deep["details"]["files"].as_array().unwrap().len(), 2);

    let missing = run(&mut preflight(
        dir.path(),
        &["web", "-f", "k8s", "--offline"],
    ));
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("deployment/web is not in")
            && missing.stderr.contains("default/checkout"),
        "{}",
        missing.stderr
    );
}

#[test]
fn scan_finds_planted_keys_prints_them_masked_and_honours_gitignore() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::create_dir_all(repo.join("dist")).unwrap();
    std::fs::write(repo.join(".gitignore"), "dist/\n").unwrap();
    let project = "phc_PlantedProjectKey0000000000000000000000042";
    std::fs::write(
        repo.join("src/analytics.ts"),
        format!(
            "import {{ PostHog }} from 'posthog-node'\n\nconst client = new PostHog('{project}')\n"
        ),
    )
    .unwrap();
    std::fs::write(
        repo.join(".env.production"),
        format!("POSTHOG_PERSONAL_API_KEY={PLANTED}\n"),
    )
    .unwrap();
    std::fs::write(repo.join("dist/bundle.js"), project).unwrap();
    let path = fixture("good.yaml");
    let good = std::fs::read_to_string(&path)
        .unwrap()
        .replace("REPLICAS", "3");
    std::fs::write(dir.path().join("good.yaml"), good).unwrap();

    let out = run(&mut preflight(
        dir.path(),
        &["-f", "good.yaml", "--offline", "--scan", "repo"],
    ));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("[src/analytics.ts:3]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[.env.production:1]"), "{}", out.stdout);
    assert!(
        out.stdout.contains("phc_…0042") && out.stdout.contains("phx_…0007"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(project) && !out.stdout.contains(PLANTED),
        "a key leaked"
    );
    assert!(
        !out.stdout.contains("dist/bundle.js"),
        "the gitignored file was scanned"
    );

    let json_out = json(&run(&mut preflight(
        dir.path(),
        &[
            "-f",
            "good.yaml",
            "--offline",
            "--scan",
            "repo",
            "-o",
            "json",
        ],
    )));
    assert_eq!(
        findings(&json_out, "code.no-hardcoded-credentials").len(),
        2
    );
}

#[test]
fn fail_on_and_config_decide_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("good.yaml")).unwrap();
    // One replica: infra.replicas fails at P2, nothing at P1.
    std::fs::write(dir.path().join("one.yaml"), good.replace("REPLICAS", "1")).unwrap();
    let args = ["-f", "one.yaml", "--offline", "-o", "json"];
    let out = run(&mut preflight(dir.path(), &args));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = json(&out);
    assert_eq!(report["verdict"]["failOn"], "p2");
    assert_eq!(status(&report, "infra.replicas"), "fail");

    let mut lenient = preflight(dir.path(), &args);
    lenient.args(["--fail-on", "p1"]);
    assert_eq!(run(&mut lenient).code, 0);

    std::fs::write(dir.path().join("kubectl-posthog.yaml"), "failOn: never\n").unwrap();
    let out = run(&mut preflight(dir.path(), &args));
    assert_eq!(out.code, 0, "failOn from ./kubectl-posthog.yaml");
    assert_eq!(json(&out)["verdict"]["result"], "warn");

    std::fs::write(
        dir.path().join("kubectl-posthog.yaml"),
        "severity: {infra.replicas: p1}\nfailOn: p1\n",
    )
    .unwrap();
    assert_eq!(
        run(&mut preflight(dir.path(), &args)).code,
        1,
        "severity override"
    );

    std::fs::write(
        dir.path().join("kubectl-posthog.yaml"),
        "disabled: [{id: infra.replica}]\n",
    )
    .unwrap();
    let out = run(&mut preflight(dir.path(), &args));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("reason") || out.stderr.contains("infra.replica"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);

    // Live, the key comes from the Secret: naming a variable of this process is refused.
    let clean = tempfile::tempdir().unwrap();
    let out = run(&mut preflight(clean.path(), &["--api-key-env", "MY_KEY"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--api-key-env is for offline checks"),
        "{}",
        out.stderr
    );
}

/// A representative report: gaps, a manual item, an attestation, offline.
fn representative(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("gaps.yaml"), dir.path().join("gaps.yaml")).unwrap();
    std::fs::write(
        dir.path().join("kubectl-posthog.yaml"),
        "attestations:\n  code.error-handling: {by: alice@example.com, at: 2026-01-15, link: https://github.com/acme/checkout/pull/812}\n",
    )
    .unwrap();
    let out = run(&mut preflight(
        dir.path(),
        &["checkout", "-f", "gaps.yaml", "--offline", "-o", format],
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    out.stdout
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!(representative("table"));
}

#[test]
fn markdown_snapshot() {
    let markdown = representative("markdown");
    insta::with_settings!({filters => vec![(r"<sub>kubectl-posthog .*</sub>", "<sub>[footer]</sub>")]}, {
        insta::assert_snapshot!(markdown);
    });
}
