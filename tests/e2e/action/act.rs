//! The composite action itself, run by `act` on this host (`-P ubuntu-latest=-self-hosted`, no
//! Docker) against the stand-in GitHub API: the outputs, the job summary, the annotations and the
//! sticky comment for the three kinds of token over several runs (each with a new run id, as on
//! GitHub), `--all` over a growing set of Deployments, annotation levels at each `fail-on`,
//! hide-previous, the SARIF output, an action pinned by commit SHA that installs the release
//! tagged there, and the documented deploy gate against the simulated cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::standins::github::{APP_TOKEN, GithubStandIn, IDENTITIES, WRITE_TOKEN};
use crate::support::{Run, act, run};

/// A merge gate whose inputs come from the environment `act --env` sets, so one workflow serves
/// every test. The record step copies the outputs and files for the test to read.
const GATE: &str = r#"name: gate
on: pull_request
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
      - id: gate
        uses: ./
        continue-on-error: true
        with:
          command: preflight
          args: ${{ env.KP_TEST_ARGS }}
          fail-on: ${{ env.KP_TEST_FAIL_ON }}
          comment-mode: ${{ env.KP_TEST_COMMENT_MODE }}
          binary-path: ${{ env.KP_TEST_BINARY }}
          github-token: ${{ env.KP_TEST_TOKEN }}
          max-wait: 5s
      - name: record
        if: always()
        env:
          REPORT: ${{ steps.gate.outputs.report-json }}
          SARIF: ${{ steps.gate.outputs.sarif }}
        run: |
          {
            echo "outcome=${{ steps.gate.outcome }}"
            echo "verdict=${{ steps.gate.outputs.verdict }}"
            echo "failed=${{ steps.gate.outputs.failed }}"
            echo "warnings=${{ steps.gate.outputs.warnings }}"
            echo "comment-url=${{ steps.gate.outputs.comment-url }}"
            echo "sarif=$SARIF"
          } > "$KP_TEST_RESULTS/outputs.txt"
          cp "$REPORT" "$KP_TEST_RESULTS/report.json"
          if [ -n "$SARIF" ]; then cp "$SARIF" "$KP_TEST_RESULTS/report.sarif"; fi
"#;

/// A manifest the offline checklist fails at P1, P2 and P3: a personal (phx_) key written into
/// the Deployment, no readiness probe, no resources.
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

fn fixed_manifest() -> String {
    FAILING_MANIFEST.replace(
        "value: phx_AAAAbbbbCCCCddddEEEEffffGGGGhhhh1234",
        "valueFrom: {secretKeyRef: {name: posthog, key: api-key}}",
    )
}

/// Copies action.yml and its scripts into `root` (so `uses: ./` is this action).
fn copy_action(root: &Path) {
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
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn commit(root: &Path, message: &str) {
    if !root.join(".git").exists() {
        let out = run(Command::new("git")
            .current_dir(root)
            .args(["init", "-q", "-b", "main"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    for args in [
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            message,
            "--allow-empty",
        ],
    ] {
        let out = run(Command::new("git").current_dir(root).args(&args));
        assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
    }
}

/// A repository holding the action, the gate workflow and `files`.
fn gate_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_action(dir.path());
    write(dir.path(), ".github/workflows/gate.yml", GATE);
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    commit(dir.path(), "the service");
    dir
}

/// The actions/cache the action pins, standing in as a composite that never hits: act fetches
/// every action of a composite, skipped steps' too, and this host has no network.
const CACHE_PIN: &str = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae";

fn cache_stand_in() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "action.yml",
            "name: cache\ninputs:\n  path: {required: true}\n  key: {required: true}\noutputs:\n  cache-hit: {value: 'false'}\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: 'true'\n",
        );
        dir
    })
    .path()
}

/// The action's artifact upload (`fix-dir`), pinned as in action.yml.
const UPLOAD_PIN: &str = "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f";

/// A stand-in for actions/upload-artifact that records what it was asked to upload.
fn upload_stand_in() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "action.yml",
            "name: upload-artifact\ninputs:\n  name: {required: true}\n  path: {required: true}\n  if-no-files-found: {required: false}\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: 'echo \"uploaded ${{ inputs.name }} ${{ inputs.path }}\" >> \"${KP_TEST_RESULTS:-/dev/null}/uploads.txt\"'\n",
        );
        dir
    })
    .path()
}

/// One `act` run of `workflow` for `event` with `env` (`--env`) and `extra` arguments.
async fn act_run(
    root: &Path,
    event: &str,
    workflow: &str,
    env: &[(String, String)],
    extra: &[String],
) -> Run {
    let fixture = match event {
        "push" => "push",
        _ => "pull_request",
    };
    let mut cmd = Command::new(act());
    cmd.current_dir(root)
        .args([event, "-W", workflow])
        .args(["-P", "ubuntu-latest=-self-hosted"])
        .arg("-e")
        .arg(repo().join(format!("tests/e2e/fixtures/github/{fixture}.json")))
        .args(["--env", "GITHUB_REPOSITORY=acme/app"])
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in env {
        cmd.args(["--env", &format!("{k}={v}")]);
    }
    cmd.arg("--local-repository")
        .arg(format!("{CACHE_PIN}={}", cache_stand_in().display()))
        .arg("--local-repository")
        .arg(format!("{UPLOAD_PIN}={}", upload_stand_in().display()));
    cmd.args(extra);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    assert!(
        !out.stdout.contains("Unable to clone"),
        "act needed the network:\n{}",
        out.stdout
    );
    out
}

/// The settings of one gate run.
struct Gate<'a> {
    gh: &'a GithubStandIn,
    token: &'a str,
    run_id: u64,
    args: &'a str,
    fail_on: &'a str,
    comment_mode: &'a str,
}

impl<'a> Gate<'a> {
    fn new(gh: &'a GithubStandIn, token: &'a str) -> Self {
        Gate {
            gh,
            token,
            run_id: 1,
            args: "-f k8s/production.yaml --offline",
            fail_on: "p2",
            comment_mode: "",
        }
    }

    async fn run(&self, root: &Path, results: &Path) -> Run {
        let env: Vec<(String, String)> = [
            ("GITHUB_API_URL", self.gh.url().to_string()),
            ("GITHUB_RUN_ID", self.run_id.to_string()),
            (
                "KP_TEST_BINARY",
                env!("CARGO_BIN_EXE_kubectl-posthog").to_string(),
            ),
            ("KP_TEST_TOKEN", self.token.to_string()),
            ("KP_TEST_RESULTS", results.display().to_string()),
            ("KP_TEST_ARGS", self.args.to_string()),
            ("KP_TEST_FAIL_ON", self.fail_on.to_string()),
            ("KP_TEST_COMMENT_MODE", self.comment_mode.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let out = act_run(
            root,
            "pull_request",
            ".github/workflows/gate.yml",
            &env,
            &[],
        )
        .await;
        assert_eq!(
            out.code, 0,
            "the job continues past the gate:\n{}\n{}",
            out.stdout, out.stderr
        );
        out
    }
}

fn outputs(results: &Path) -> String {
    std::fs::read_to_string(results.join("outputs.txt")).unwrap_or_default()
}

fn log(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_action_gates_comments_and_updates_in_place() {
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    let repo_dir = gate_repo(&[("k8s/production.yaml", FAILING_MANIFEST)]);
    let root: PathBuf = repo_dir.path().to_path_buf();

    let first = Gate::new(&gh, WRITE_TOKEN).run(&root, results.path()).await;
    let log = log(&first);
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
    let first_body = comments[0].body.clone();
    let url = format!(
        "https://github.com/acme/app/pull/7#issuecomment-{}",
        comments[0].id
    );
    assert!(out.contains(&format!("comment-url={url}\n")), "{out}");

    // The SARIF file is always written, and it is valid SARIF 2.1.0.
    let sarif: Value = serde_json::from_str(
        &std::fs::read_to_string(results.path().join("report.sarif")).expect("the sarif output"),
    )
    .unwrap();
    crate::github::assert_valid_sarif(&sarif);
    let uris: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        !uris.is_empty() && uris.iter().all(|u| *u == "k8s/production.yaml"),
        "workspace-relative: {uris:?}"
    );

    // The next run, after the key moved into a Secret, edits the same comment.
    write(&root, "k8s/production.yaml", &fixed_manifest());
    commit(&root, "the key comes from a Secret");
    gh.clear_requests();
    let mut gate = Gate::new(&gh, WRITE_TOKEN);
    gate.run_id = 2;
    gate.run(&root, results.path()).await;
    let comments = gh.comments_on_pull(7);
    assert_eq!(comments.len(), 1, "never two comments");
    assert_eq!(comments[0].edits, 1, "{:?}", gh.writes());
    assert_ne!(comments[0].body, first_body);
    assert_eq!(
        gh.writes(),
        [format!(
            "PATCH /repos/acme/app/issues/comments/{}",
            comments[0].id
        )]
    );
}

/// Guards issue 16 through act: an App installation token (`GET /user` 403) posted a new comment
/// on every run; the body's run link made an unchanged report write again on every real run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_identities_three_runs_one_comment_each() {
    for (token, login) in IDENTITIES {
        let gh = GithubStandIn::start().await;
        let results = tempfile::tempdir().unwrap();
        let repo_dir = gate_repo(&[("k8s/production.yaml", FAILING_MANIFEST)]);
        let root = repo_dir.path();
        let mut gate = Gate::new(&gh, token);
        for run_id in [101, 102, 103] {
            if run_id == 102 {
                write(root, "k8s/production.yaml", &fixed_manifest());
                commit(root, "fixed");
            }
            gate.run_id = run_id;
            gh.clear_requests();
            let out = gate.run(root, results.path()).await;
            assert!(
                !log(&out).contains("::warning title=kubectl-posthog::"),
                "{login} run {run_id}:\n{}",
                log(&out)
            );
            if run_id == 103 {
                assert_eq!(
                    gh.writes(),
                    Vec::<String>::new(),
                    "{login}: an unchanged report on a new run id writes nothing"
                );
            }
        }
        let comments = gh.comments_on_pull(7);
        assert_eq!(comments.len(), 1, "{login}: {:?}", gh.writes());
        assert_eq!(comments[0].author, login);
        assert_eq!(comments[0].edits, 1, "{login}");
        assert!(
            comments[0].body.contains("runs/102"),
            "the run that changed it"
        );
    }
}

/// Guards issue 16 through act: with `--all`, each new Deployment changed the marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_with_a_growing_set_of_deployments_keeps_one_comment() {
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    let repo_dir = gate_repo(&[("k8s/app-0.yaml", FAILING_MANIFEST)]);
    let root = repo_dir.path();
    let mut gate = Gate::new(&gh, WRITE_TOKEN);
    gate.args = "-f k8s --all --offline";
    for count in 1..=3 {
        if count > 1 {
            let name = format!("app-{}", count - 1);
            let manifest = FAILING_MANIFEST.replace("posthog-integration", &name);
            write(root, &format!("k8s/{name}.yaml"), &manifest);
            commit(root, "one more Deployment");
        }
        gate.run_id = count;
        gate.run(root, results.path()).await;
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(results.path().join("report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            report["details"]["deployments"].as_array().unwrap().len(),
            count as usize
        );
    }
    let comments = gh.comments_on_pull(7);
    assert_eq!(comments.len(), 1, "{:?}", gh.writes());
    assert!(
        comments[0]
            .body
            .starts_with("<!-- kubectl-posthog:preflight:* -->"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("3 using PostHog"),
        "the report says how many"
    );
}

/// The severity of each annotation with a file, by level: `(level, "P1")`.
fn annotation_levels(run: &Run) -> std::collections::BTreeSet<(String, String)> {
    let re = regex::Regex::new(r"::(error|warning|notice) file=[^:]*title=(P[1-4]) ").unwrap();
    re.captures_iter(&log(run))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

/// Guards issue 16 through act: a gate that passed at its `fail-on` still printed `::error`
/// for findings below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotation_levels_follow_fail_on() {
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    let repo_dir = gate_repo(&[("k8s/production.yaml", FAILING_MANIFEST)]);
    let set = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    // The manifest fails P1, P2 and P3 checks and warns on P2 ones.
    let cases = [
        (
            "p1",
            "failure",
            set(&[("error", "P1"), ("warning", "P2"), ("warning", "P3")]),
        ),
        (
            "p2",
            "failure",
            set(&[
                ("error", "P1"),
                ("error", "P2"),
                ("warning", "P2"),
                ("warning", "P3"),
            ]),
        ),
        (
            "p3",
            "failure",
            set(&[
                ("error", "P1"),
                ("error", "P2"),
                ("warning", "P2"),
                ("error", "P3"),
            ]),
        ),
        (
            "never",
            "success",
            set(&[("warning", "P1"), ("warning", "P2"), ("warning", "P3")]),
        ),
    ];
    for (fail_on, outcome, want) in cases {
        let mut gate = Gate::new(&gh, WRITE_TOKEN);
        gate.fail_on = fail_on;
        let out = gate.run(repo_dir.path(), results.path()).await;
        assert_eq!(annotation_levels(&out), want, "fail-on {fail_on}");
        assert!(
            outputs(results.path()).contains(&format!("outcome={outcome}\n")),
            "fail-on {fail_on}: {}\n{}",
            outputs(results.path()),
            log(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_previous_leaves_one_visible_comment() {
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    let repo_dir = gate_repo(&[("k8s/production.yaml", FAILING_MANIFEST)]);
    let root = repo_dir.path();
    let mut gate = Gate::new(&gh, APP_TOKEN);
    gate.comment_mode = "hide-previous";
    gate.run(root, results.path()).await;
    gate.run_id = 2;
    gate.run(root, results.path()).await;
    assert_eq!(gh.comments_on_pull(7).len(), 1, "unchanged: nothing new");
    write(root, "k8s/production.yaml", &fixed_manifest());
    commit(root, "fixed");
    gate.run_id = 3;
    gate.run(root, results.path()).await;
    let comments = gh.comments_on_pull(7);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].minimized.as_deref(), Some("OUTDATED"));
    assert_eq!(comments[1].minimized, None);
    assert!(
        outputs(results.path()).contains(&format!(
            "comment-url=https://github.com/acme/app/pull/7#issuecomment-{}\n",
            comments[1].id
        )),
        "{}",
        outputs(results.path())
    );
}

/// Serves `root` as static files (a release download and a "dumb HTTP" git repository) and
/// records the paths asked for.
async fn static_server(root: PathBuf) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{StatusCode, Uri};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (root, log) = (root.clone(), log.clone());
        async move {
            log.lock().unwrap().push(uri.path().to_string());
            let path = root.join(uri.path().trim_start_matches('/'));
            match std::fs::read(&path) {
                Ok(bytes) if !uri.path().contains("..") => Ok(bytes),
                _ => Err(StatusCode::NOT_FOUND),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args));
    assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
    out.stdout.trim().to_string()
}

/// Guards issue 16 through act: an action pinned by commit SHA installed `releases/latest`.
/// Here `acme/kubectl-posthog@<sha>` resolves to the release tag at that commit, downloads that
/// release's archive from the server, verifies its checksum and runs the gate with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_pinned_by_sha_installs_the_release_tagged_at_that_commit() {
    let site = tempfile::tempdir().unwrap();
    // The action's repository, with a release tag on the first commit only.
    let action = site.path().join("src");
    std::fs::create_dir_all(&action).unwrap();
    copy_action(&action);
    commit(&action, "v0.9.0");
    let tagged = git(&action, &["rev-parse", "HEAD"]);
    git(&action, &["tag", "-a", "-m", "v0.9.0", "v0.9.0"]);
    commit(&action, "after the release");
    let untagged = git(&action, &["rev-parse", "HEAD"]);
    let bare = site.path().join("acme/kubectl-posthog.git");
    git(
        site.path(),
        &[
            "clone",
            "-q",
            "--bare",
            action.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&bare, &["update-server-info"]);
    // The release's assets where GitHub serves them.
    let download = site
        .path()
        .join("acme/kubectl-posthog/releases/download/v0.9.0");
    std::fs::create_dir_all(&download).unwrap();
    for entry in std::fs::read_dir(super::packaging::dist()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), download.join(entry.file_name())).unwrap();
    }
    let (server, seen) = static_server(site.path().to_path_buf()).await;
    let gh = GithubStandIn::start().await;
    let results = tempfile::tempdir().unwrap();
    for (sha, installs) in [(&tagged, true), (&untagged, false)] {
        let service = tempfile::tempdir().unwrap();
        let workflow = GATE
            .replace("uses: ./", &format!("uses: acme/kubectl-posthog@{sha}"))
            .replace("          binary-path: ${{ env.KP_TEST_BINARY }}\n", "");
        write(service.path(), ".github/workflows/gate.yml", &workflow);
        write(service.path(), "k8s/production.yaml", FAILING_MANIFEST);
        commit(service.path(), "the service");
        let env: Vec<(String, String)> = [
            ("GITHUB_SERVER_URL", server.clone()),
            ("GITHUB_API_URL", gh.url().to_string()),
            ("KP_TEST_TOKEN", WRITE_TOKEN.to_string()),
            ("KP_TEST_RESULTS", results.path().display().to_string()),
            (
                "KP_TEST_ARGS",
                "-f k8s/production.yaml --offline".to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let extra = vec![
            "--local-repository".to_string(),
            format!("acme/kubectl-posthog@{sha}={}", action.display()),
        ];
        let _ = std::fs::remove_file(results.path().join("outputs.txt"));
        let out = act_run(
            service.path(),
            "pull_request",
            ".github/workflows/gate.yml",
            &env,
            &extra,
        )
        .await;
        let log = log(&out);
        if installs {
            assert!(
                seen.lock().unwrap().iter().any(|p| p == "/acme/kubectl-posthog/releases/download/v0.9.0/kubectl-posthog_linux_amd64.tar.gz"),
                "{:?}\n{log}",
                seen.lock().unwrap()
            );
            assert!(
                log.contains("::set-output:: version=v0.9.0")
                    && log.contains("Success - Main Install kubectl-posthog (SHA-256 verified)"),
                "installed from the verified archive of v0.9.0:\n{log}"
            );
            assert!(outputs(results.path()).contains("verdict=fail\n"), "{log}");
        } else {
            assert!(
                log.contains(&format!(
                    "::error title=kubectl-posthog::the action is pinned to commit {}, and no release tag of acme/kubectl-posthog points at it: set the version input",
                    &untagged[..12]
                )),
                "{log}"
            );
            assert!(
                outputs(results.path()).contains("verdict=\n"),
                "nothing ran: {log}"
            );
        }
    }
}

/// The documented deploy gate (docs/examples/posthog-gates.yml, job deploy-gate) as act runs
/// it: its canary and rollback steps with their `if`, `env` and `args` verbatim, the action as
/// `./` with the binary under test, the cluster credentials as a kubeconfig of the simulator.
fn deploy_gate_workflow(strip_guard: bool) -> String {
    let text = std::fs::read_to_string(repo().join("docs/examples/posthog-gates.yml")).unwrap();
    let example: Value = serde_saphyr::from_str(&text).unwrap();
    let job = &example["jobs"]["deploy-gate"];
    let mut steps: Vec<Value> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        // The checkout (act copies this repository in) and the two steps of the action; the
        // cluster credentials come from KUBECONFIG instead of a secret written to $HOME.
        .filter(|s| {
            s["uses"].as_str().is_some_and(|u| {
                u.starts_with("kubectl-posthog/kubectl-posthog@")
                    || u.starts_with("actions/checkout@")
            })
        })
        .cloned()
        .collect();
    assert_eq!(steps.len(), 3, "checkout, the canary and the rollback");
    for step in steps.iter_mut().skip(1) {
        step["uses"] = "./".into();
        step["with"]["binary-path"] = "${{ env.KP_TEST_BINARY }}".into();
        step["with"]["github-token"] = "${{ env.KP_TEST_TOKEN }}".into();
        step["with"]["max-wait"] = "5s".into();
        if strip_guard {
            let args = step["with"]["args"].as_str().unwrap();
            let plain = args.split(" --only-canary-of").next().unwrap().to_string();
            step["with"]["args"] = plain.into();
        }
    }
    let record: Value = serde_saphyr::from_str(
        "name: record\nif: always()\nrun: |\n  echo \"canary=${{ steps.canary.outcome }} verdict=${{ steps.canary.outputs.verdict }}\" > \"$KP_TEST_RESULTS/deploy.txt\"\n",
    )
    .unwrap();
    steps.push(record);
    let workflow = serde_json::json!({
        "name": "deploy",
        "on": "push",
        "jobs": {"deploy-gate": {
            "runs-on": "ubuntu-latest",
            "if": job["if"],
            "permissions": job["permissions"],
            "env": job["env"],
            "steps": steps,
        }},
    });
    serde_json::to_string_pretty(&workflow).unwrap()
}

/// Guards issue 16: the documented deploy gate rolled production back when an unset variable
/// stopped the canary before it started (`failure() && verdict == ''` held, and a plain rollback
/// undid the live revision).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_gate_example_with_an_unset_variable_rolls_nothing_back() {
    use kubectl_posthog::rollout::status::rollout_status;
    let sim = simcluster::SimCluster::start(simcluster::SimOptions {
        speed: 20.0,
        ..simcluster::SimOptions::default()
    })
    .await
    .expect("the simulator starts");
    let cluster = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: posthog-integration, namespace: production}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: app, image: '{image}'}}]}}\n"
        )
    };
    let live = || {
        sim.get(
            "apps/v1",
            "Deployment",
            Some("production"),
            "posthog-integration",
        )
        .unwrap()
    };
    sim.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: production}\n")
        .unwrap();
    for image in ["ghcr.io/acme/app:1.0", "ghcr.io/acme/app:2.0"] {
        sim.apply_yaml(&deployment(image)).unwrap();
        let done = sim
            .wait_until(std::time::Duration::from_secs(30), |sim| {
                sim.get(
                    "apps/v1",
                    "Deployment",
                    Some("production"),
                    "posthog-integration",
                )
                .and_then(|d| serde_json::from_value(d).ok())
                .is_some_and(|d| rollout_status(&d).is_complete())
            })
            .await;
        assert!(done, "{}", live());
    }
    let image_of = |d: &Value| {
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let gh = GithubStandIn::start().await;
    for strip_guard in [false, true] {
        let repo_dir = tempfile::tempdir().unwrap();
        copy_action(repo_dir.path());
        write(
            repo_dir.path(),
            ".github/workflows/deploy.yml",
            &deploy_gate_workflow(strip_guard),
        );
        commit(repo_dir.path(), "deploy");
        let results = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = [
            ("GITHUB_API_URL", gh.url().to_string()),
            ("KUBECONFIG", kubeconfig.display().to_string()),
            (
                "KP_TEST_BINARY",
                env!("CARGO_BIN_EXE_kubectl-posthog").to_string(),
            ),
            ("KP_TEST_TOKEN", WRITE_TOKEN.to_string()),
            ("KP_TEST_RESULTS", results.path().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // No --var PROMETHEUS_URL: the variable is unset, as in the report.
        let out = act_run(
            repo_dir.path(),
            "push",
            ".github/workflows/deploy.yml",
            &env,
            &[],
        )
        .await;
        let log = log(&out);
        let recorded =
            std::fs::read_to_string(results.path().join("deploy.txt")).unwrap_or_default();
        assert!(
            recorded.contains("canary=failure verdict=\n"),
            "the canary stopped on its input, without a verdict: {recorded}\n{log}"
        );
        assert!(
            log.contains("the canary's analysis needs Prometheus"),
            "{log}"
        );
        let after = live();
        if strip_guard {
            // The old example: the cleanup step undid a revision nobody deployed.
            assert_eq!(image_of(&after), "ghcr.io/acme/app:1.0", "{log}");
        } else {
            assert_eq!(
                image_of(&after),
                "ghcr.io/acme/app:2.0",
                "nothing was rolled back:\n{log}"
            );
            assert!(
                log.contains("no canary was ever started on deployment posthog-integration"),
                "{log}"
            );
        }
    }
}
