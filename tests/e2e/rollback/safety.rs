//! Changing nothing when asked not to, conflicts retried on a fresh read, failures that name the
//! request, and `rollback history`.

use std::time::Duration;

use simcluster::Fault;

use super::{measured, mutating, report, with_history};

#[tokio::test]
async fn dry_run_prints_the_template_diff_and_sends_no_write() {
    let env = with_history(20.0).await;
    let before = env.deployment("web");
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "--dry-run", "--to-revision", "1"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        mutating(&env.sim),
        Vec::<String>::new(),
        "no POST/PUT/PATCH/DELETE"
    );
    assert!(
        env.sim.requests().iter().all(|r| !r.is_watch),
        "and no wait"
    );
    assert_eq!(env.deployment("web"), before, "the Deployment is untouched");
    let out = &run.stdout;
    assert!(
        out.starts_with("--- current (revision 4)\n+++ revision 1\n"),
        "{out}"
    );
    for line in [
        "-    prometheus.io/port: \"8080\"",
        "-      value: fast",
        "+      value: normal",
        "-    image: ghcr.io/acme/app:3.0",
        "+    image: ghcr.io/acme/app:1.0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    assert!(
        out.contains("would roll back from revision 4 to revision 1"),
        "{out}"
    );

    // The JSON report carries the same diff.
    let run = env.rollback(&["deployment/web", "--dry-run", "-o", "json"]);
    let report = report(&run);
    assert_eq!(report["details"]["dryRun"], true);
    assert!(
        report["details"]["diff"]
            .as_str()
            .unwrap()
            .contains("+    image: ghcr.io/acme/app:2.0")
    );
    assert_eq!(mutating(&env.sim), Vec::<String>::new());
}

#[tokio::test]
async fn a_paused_deployment_dry_run_shows_the_diff_and_the_refusal() {
    let env = with_history(20.0).await;
    assert_eq!(env.kubectl(&["rollout", "pause", "deployment/web"]).code, 0);
    let run = env.rollback(&["deployment/web", "--dry-run"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("+    image: ghcr.io/acme/app:2.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("you cannot rollback a paused deployment"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn conflicts_are_retried_on_a_fresh_read() {
    let env = with_history(20.0).await;
    env.sim.inject(Fault::Conflicts {
        kind_plural: "deployments".into(),
        name: Some("web".into()),
        count: 2,
    });
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        measured(&report(&run), "rollback.undo").ends_with("after 2 conflicts re-read"),
        "{}",
        run.stdout
    );
    let requests = env.sim.requests();
    let patches: Vec<u16> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(patches, [409, 409, 200]);
    let reads = requests
        .iter()
        .filter(|r| r.method == "GET" && !r.is_watch && r.path.ends_with("/deployments/web"))
        .count();
    assert_eq!(reads, 3, "each attempt decides on a fresh read");
    assert_eq!(
        env.deployment("web")["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/app:2.0"
    );
}

#[tokio::test]
async fn a_deployment_that_keeps_changing_is_given_up_on_with_the_request() {
    let env = with_history(20.0).await;
    env.sim.inject(Fault::Conflicts {
        kind_plural: "deployments".into(),
        name: Some("web".into()),
        count: 100,
    });
    let run = env.rollback(&["deployment/web"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "PATCH /apis/apps/v1/namespaces/default/deployments/web (application/json-patch+json) answered 409 Conflict 6 times"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn api_errors_name_the_request_that_failed() {
    let env = with_history(20.0).await;
    env.sim.inject(Fault::Errors {
        path_contains: Some("/replicasets".into()),
        methods: vec![],
        status: 500,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    let run = env.rollback(&["deployment/web"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "LIST /apis/apps/v1/namespaces/default/replicasets?labelSelector=app=web failed:"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(500"), "{}", run.stderr);
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(errors, 1, "one error line: {}", run.stderr);
}

#[tokio::test]
async fn request_timeouts_name_the_request_that_timed_out() {
    let env = with_history(20.0).await;
    env.sim.inject(Fault::Latency {
        path_contains: Some("/deployments/web".into()),
        delay: Duration::from_secs(3),
    });
    let run = env.rollback(&["deployment/web", "--request-timeout", "1s"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("GET /apis/apps/v1/namespaces/default/deployments/web failed:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("timed out"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn history_lists_revisions_to_choose_from() {
    let env = with_history(20.0).await;
    let run = env.rollback(&["history", "deployment/web", "--color", "never"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "deployment.apps/web");
    assert!(
        lines[1].starts_with("REVISION  CURRENT  READY  AGE"),
        "{}",
        run.stdout
    );
    let row = |revision: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(revision))
            .unwrap_or_else(|| panic!("no revision {revision} in\n{}", run.stdout))
            .to_string()
    };
    assert!(row("1").contains("app=ghcr.io/acme/app:1.0") && row("1").ends_with("deploy 1.0"));
    assert!(row("3").ends_with("MODE=fast"));
    let current = row("4");
    assert!(
        current.contains(" * ") && current.contains("3/3"),
        "{current}"
    );
    assert!(!row("3").contains(" * "));

    let run = env.rollback(&["history", "web", "-o", "json"]);
    let revisions = report(&run)["details"]["revisions"].clone();
    assert_eq!(revisions.as_array().unwrap().len(), 4);
    assert_eq!(revisions[3]["current"], true);
    assert_eq!(revisions[0]["changeCause"], "deploy 1.0");

    // A Deployment that happens to be called `history` is reached with the kind prefix.
    let run = env.rollback(&["deploy/history", "--dry-run"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("deployments/history"), "{}", run.stderr);
}

fn template_of(env: &super::Env) -> (String, String) {
    let web = env.deployment("web");
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    let mode = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "MODE")
        .and_then(|e| e["value"].as_str())
        .unwrap_or_default()
        .to_string();
    (
        container["image"].as_str().unwrap_or_default().to_string(),
        mode,
    )
}

/// Issue 13 item 4: the undo PATCH is applied but answered 500 (exit 3, saying it may have been
/// applied); the natural retry, `rollback` again, finishes that rollback (waits) instead of
/// undoing the undo. Once a rollback finished, a new one is a new undo, as with kubectl.
#[tokio::test]
async fn a_retried_rollback_after_a_lost_answer_does_not_undo_the_undo() {
    let env = with_history(10.0).await;
    // Revision 4 runs 3.0; the rollback goes to revision 3: 2.0 with MODE=fast.
    let before = template_of(&env);
    assert_eq!(before.0, "ghcr.io/acme/app:3.0");
    env.sim.inject(Fault::ErrorsAfterApply {
        path_contains: Some("/deployments/web".into()),
        methods: vec!["PATCH".into()],
        status: Some(500),
        count: Some(1),
    });
    let first = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(first.code, 3, "{}{}", first.stdout, first.stderr);
    assert!(
        first.stderr.contains("may have been applied")
            && first
                .stderr
                .contains("kubectl posthog rollback deployment/web"),
        "{}",
        first.stderr
    );
    let applied = template_of(&env);
    assert_eq!(applied.0, "ghcr.io/acme/app:2.0", "the lost PATCH landed");
    let patches_before = mutating(&env.sim).len();
    let second = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let undo = measured(&report(&second), "rollback.undo");
    assert!(undo.contains("only waits"), "{undo}");
    assert_eq!(template_of(&env), applied, "not undone twice");
    let sent: Vec<String> = mutating(&env.sim)[patches_before..]
        .iter()
        .filter(|r| r.contains("deployments"))
        .cloned()
        .collect();
    assert!(
        sent.is_empty(),
        "the retry sent no Deployment write: {sent:?}"
    );
    // Finished: the next rollback is a new one (back to what revision 4 ran).
    let third = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(template_of(&env).0, "ghcr.io/acme/app:3.0");
}

/// Issue 13 item 4, the other way to lose the run: kill -9 during the wait, then re-run.
#[tokio::test]
async fn a_rollback_killed_during_its_wait_is_finished_by_the_re_run() {
    let env = with_history(10.0).await;
    // The target's pods take a while, so the wait is long enough to be killed in.
    env.sim.script_image(
        "ghcr.io/acme/app:2.0",
        simcluster::PodBehavior {
            ready_after: Duration::from_secs(40),
            ..simcluster::PodBehavior::default()
        },
    );
    let mut child = env
        .rollback_command(&["deployment/web", "-o", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while template_of(&env).0 != "ghcr.io/acme/app:2.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the undo never landed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let again = env.rollback(&["deployment/web", "-o", "json", "--timeout", "60s"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(measured(&report(&again), "rollback.undo").contains("only waits"));
    assert_eq!(template_of(&env).0, "ghcr.io/acme/app:2.0");
}

/// Issue 13 item 7: a 500 on the rollback's first GET (and on its ReplicaSet LIST) passes: it is
/// retried, not the end of the rollback.
#[tokio::test]
async fn a_passing_500_on_the_first_reads_is_retried() {
    let env = with_history(20.0).await;
    for path in ["/deployments/web", "/replicasets"] {
        env.sim.inject(Fault::Errors {
            path_contains: Some(path.into()),
            methods: vec!["GET".into()],
            status: 500,
            share: 1.0,
            retry_after: None,
            count: Some(1),
        });
    }
    let run = env.rollback(&["deployment/web"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}
