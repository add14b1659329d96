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
    // (None exists here: a wrong name is an input error, exit 2, issue 17 item 3.)
    let run = env.rollback(&["deploy/history", "--dry-run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("deployment \"history\" not found in namespace \"default\""),
        "{}",
        run.stderr
    );
}

/// Issue 17 item 1: `-v` printed nothing. It logs each change to the cluster — exactly the writes
/// the API server received, with their status — and no read; `-vv` adds every request.
#[tokio::test]
async fn verbose_logs_each_change_to_the_cluster_and_vv_each_request() {
    let env = with_history(20.0).await;
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "-v"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let writes: Vec<String> = env
        .sim
        .requests()
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert!(!writes.is_empty());
    let shape = regex::Regex::new(
        r"^\S+Z  INFO cluster change: (\w+) http://127\.0\.0\.1:\d+(/\S+) (\d{3})$",
    )
    .unwrap();
    let logged: Vec<String> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cluster change"))
        .map(|l| {
            let c = shape
                .captures(l)
                .unwrap_or_else(|| panic!("not a change line: {l}\n{}", run.stderr));
            let path = c[2].split('?').next().unwrap_or_default().to_string();
            format!("{} {} {}", &c[1], path, &c[3])
        })
        .collect();
    assert_eq!(logged, writes, "{}", run.stderr);
    assert!(!run.stderr.contains(" GET "), "{}", run.stderr);

    let run = env.rollback(&["history", "deployment/web", "-vv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = regex::Regex::new(
        r"(?m)^\S+Z DEBUG kubectl_posthog::http_log: kubernetes GET http://127\.0\.0\.1:\d+/apis/apps/v1/namespaces/default/deployments/web 200 OK in \d+ ms$",
    )
    .unwrap();
    assert!(line.is_match(&run.stderr), "{}", run.stderr);
}
