//! The composite action itself, run by `act` on this host (`-P ubuntu-latest=-self-hosted`, no
//! Docker) with `binary-path` set to the binary under test, against the stand-in GitHub API: the
//! outputs, the job summary, the annotations and the sticky comment; a second run with a changed
//! manifest edits the same comment instead of adding one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::standins::github::{GithubStandIn, WRITE_TOKEN};
use crate::support::{Run, act, run};

const WORKFLOW: &str = r#"name: gate
on: pull_request
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./
        continue-on-error: true
        with:
          command: preflight
          args: -f k8s/production.yaml --offline
          fail-on: p2
          binary-path: ${{ env.KP_TEST_BINARY }}
          github-token: ${{ env.KP_TEST_TOKEN }}
          max-wait: 5s
      - name: record
        if: always()
        run: |
          {
            echo "outcome=${{ steps.gate.outcome }}"
            echo "verdict=${{ steps.gate.outputs.verdict }}"
            echo "failed=${{ steps.gate.outputs.failed }}"
            echo "warnings=${{ steps.gate.outputs.warnings }}"
            echo "comment-url=${{ steps.gate.outputs.comment-url }}"
          } > "$KP_TEST_RESULTS/outputs.txt"
          cp "${{ steps.gate.outputs.report-json }}" "$KP_TEST_RESULTS/report.json"
"#;

/// A manifest the offline checklist fails: a personal (phx_) key written into the Deployment.
const FAILING_MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: posthog-integration
spec:
  replicas: 3
  selector:
    matchLabels: {app: posthog-integration}
  template:
    metadata:
      labels: {app: posthog-integration}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app:1.4
          env:
            - name: POSTHOG_API_KEY
              value: phx_AAAAbbbbCCCCddddEEEEffffGGGGhhhh1234
"#;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A repository holding the action (action.yml and its scripts at the root, so `uses: ./`), the
/// test workflow and the manifest.
fn action_repo(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(repo().join("action.yml"), root.join("action.yml")).unwrap();
    std::fs::create_dir_all(root.join(".github/action")).unwrap();
    for entry in std::fs::read_dir(repo().join(".github/action")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            root.join(".github/action").join(entry.file_name()),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
    std::fs::write(root.join(".github/workflows/gate.yml"), WORKFLOW).unwrap();
    std::fs::create_dir_all(root.join("k8s")).unwrap();
    std::fs::write(root.join("k8s/production.yaml"), manifest).unwrap();
    commit(root, "the service");
    dir
}

fn commit(root: &Path, message: &str) {
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            message,
        ],
    ] {
        if args[0] == "init" && root.join(".git").exists() {
            continue;
        }
        let out = run(Command::new("git").current_dir(root).args(&args));
        assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
    }
}

async fn run_act(root: &Path, gh: &GithubStandIn, results: &Path) -> Run {
    let mut cmd = Command::new(act());
    cmd.current_dir(root)
        .args(["pull_request", "-W", ".github/workflows/gate.yml"])
        .args(["-P", "ubuntu-latest=-self-hosted"])
        .arg("-e")
        .arg(repo().join("tests/e2e/fixtures/github/pull_request.json"))
        .args(["--env", &format!("GITHUB_API_URL={}", gh.url())])
        .args(["--env", "GITHUB_REPOSITORY=acme/app"])
        .args([
            "--env",
            &format!("KP_TEST_BINARY={}", env!("CARGO_BIN_EXE_kubectl-posthog")),
        ])
        .args(["--env", &format!("KP_TEST_TOKEN={WRITE_TOKEN}")])
        .args(["--env", &format!("KP_TEST_RESULTS={}", results.display())])
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_ACTIONS");
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

fn outputs(results: &Path) -> String {
    std::fs::read_to_string(results.join("outputs.txt")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_action_gates_comments_and_updates_in_place() {
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    let repo_dir = action_repo(FAILING_MANIFEST);
    let root: PathBuf = repo_dir.path().to_path_buf();

    let first = run_act(&root, &gh, results.path()).await;
    let log = format!("{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        first.code, 0,
        "the job continues past the failed gate:\n{log}"
    );
    let out = outputs(results.path());
    assert!(
        out.contains("outcome=failure\n"),
        "a failing verdict fails the step:\n{out}\n{log}"
    );
    assert!(out.contains("verdict=fail\n"), "{out}");
    assert!(
        out.lines().any(|l| l
            .strip_prefix("failed=")
            .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1))),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("warnings=") && l.len() > "warnings=".len()),
        "{out}"
    );
    let report = crate::support::report_json(
        &std::fs::read_to_string(results.path().join("report.json")).unwrap(),
    );
    assert_eq!(report["command"], "preflight");
    assert_eq!(report["verdict"]["result"], "fail");
    assert!(
        log.contains("Summary - ### ❌ kubectl-posthog preflight: FAIL"),
        "the job summary:\n{log}"
    );
    assert!(
        log.contains("::error file=k8s/production.yaml,line="),
        "annotations:\n{log}"
    );

    let comments = gh.comments_on_pull(7);
    assert_eq!(comments.len(), 1, "{:?}", gh.writes());
    assert!(
        comments[0]
            .body
            .starts_with("<!-- kubectl-posthog:preflight:"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains("FAIL"));
    let first_body = comments[0].body.clone();
    let url = format!(
        "https://github.com/acme/app/pull/7#issuecomment-{}",
        comments[0].id
    );
    assert!(out.contains(&format!("comment-url={url}\n")), "{out}");

    // The second run, after the key moved into a Secret, edits the same comment.
    let fixed = FAILING_MANIFEST.replace(
        "value: phx_AAAAbbbbCCCCddddEEEEffffGGGGhhhh1234",
        "valueFrom: {secretKeyRef: {name: posthog, key: api-key}}",
    );
    std::fs::write(root.join("k8s/production.yaml"), fixed).unwrap();
    commit(&root, "the key comes from a Secret");
    gh.clear_requests();
    let second = run_act(&root, &gh, results.path()).await;
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let comments = gh.comments_on_pull(7);
    assert_eq!(comments.len(), 1, "never two comments");
    assert_eq!(comments[0].edits, 1, "{:?}", gh.writes());
    assert_ne!(
        comments[0].body, first_body,
        "the comment shows the new report"
    );
    assert_eq!(
        gh.writes(),
        [format!(
            "PATCH /repos/acme/app/issues/comments/{}",
            comments[0].id
        )]
    );
    assert!(outputs(results.path()).contains(&format!("comment-url={url}\n")));
}
