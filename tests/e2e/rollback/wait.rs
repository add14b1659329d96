//! Waiting like `kubectl rollout status`, through watches: completion, the progress deadline, a
//! crash-looping target, `--timeout`, `--no-wait`, the progress bar, the health check, and the
//! request count next to kubectl's undo + status.

use std::time::Duration;

use serde_json::json;
use simcluster::{HealthScript, PodBehavior, Readiness, RequestRecord};

use super::{Env, measured, report, with_history};
use crate::support::run_in_tty;

/// The image of revision 3, the previous revision the default rollback returns to.
const TARGET_IMAGE: &str = "ghcr.io/acme/app:2.0";

fn script(env: &Env, behavior: PodBehavior) {
    env.sim.script_image(TARGET_IMAGE, behavior);
}

fn is_deployment_watch(r: &RequestRecord) -> bool {
    r.is_watch && r.path.ends_with("/deployments")
}

#[tokio::test]
async fn waits_until_complete_through_one_watch_without_polling() {
    let env = with_history(10.0).await;
    // Slow pods, so a poller would show itself in the request log.
    script(
        &env,
        PodBehavior {
            ready_after: Duration::from_secs(3),
            ..PodBehavior::default()
        },
    );
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = report(&run);
    assert!(
        measured(&report, "rollback.rollout").starts_with(
            "deployment \"web\" successfully rolled out: 3 updated, 3 available, now revision 5"
        ),
        "{report:#}"
    );
    let d = env.deployment("web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        TARGET_IMAGE
    );

    let requests = env.sim.requests();
    let get_web = requests
        .iter()
        .filter(|r| r.method == "GET" && !r.is_watch && r.path.ends_with("/deployments/web"))
        .count();
    let watches: Vec<&RequestRecord> = requests.iter().filter(|r| is_deployment_watch(r)).collect();
    let pod_watches = requests
        .iter()
        .filter(|r| r.is_watch && r.path.ends_with("/pods"))
        .count();
    assert_eq!(
        get_web, 1,
        "one GET before the patch, none while waiting: {requests:#?}"
    );
    assert_eq!(
        watches.len(),
        1,
        "one watch of the Deployment: {requests:#?}"
    );
    assert_eq!(
        watches[0].query_param("fieldSelector").as_deref(),
        Some("metadata.name=web")
    );
    assert_eq!(pod_watches, 1, "one watch of the target's pods");
    let pod_watch = requests
        .iter()
        .find(|r| r.is_watch && r.path.ends_with("/pods"))
        .unwrap();
    assert!(
        pod_watch
            .query_param("labelSelector")
            .unwrap()
            .contains("pod-template-hash="),
        "only the target's pods are watched: {pod_watch:?}"
    );
}

#[tokio::test]
async fn progress_deadline_exceeded_exits_1_with_the_reason() {
    let env = with_history(10.0).await;
    let patched = env.kubectl(&[
        "patch",
        "deployment/web",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":3}}"#,
    ]);
    assert_eq!(patched.code, 0, "{}", patched.stderr);
    env.settle("web").await;
    script(
        &env,
        PodBehavior {
            readiness: Readiness::NeverReady,
            ..PodBehavior::default()
        },
    );
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = report(&run);
    assert_eq!(
        measured(&report, "rollback.rollout"),
        "deployment \"web\" exceeded its progress deadline"
    );
    assert_eq!(
        report["verdict"]["summary"],
        "deployment \"web\" exceeded its progress deadline"
    );
}

#[tokio::test]
async fn crash_looping_target_exits_1_naming_pods_and_last_state() {
    let env = with_history(20.0).await;
    script(
        &env,
        PodBehavior {
            readiness: Readiness::CrashLoop {
                after: Duration::from_secs(1),
                exit_code: 137,
                reason: "OOMKilled".into(),
            },
            ..PodBehavior::default()
        },
    );
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = report(&run);
    let said = measured(&report, "rollback.rollout");
    assert!(
        said.starts_with("crash-looping rollback target: pod web-"),
        "{said}"
    );
    assert!(
        said.contains(
            "container app: CrashLoopBackOff, last state OOMKilled (exit 137), 2 restarts"
        ),
        "{said}"
    );
    let pods = report["details"]["failingPods"].as_array().unwrap();
    assert!(
        pods.iter()
            .all(|p| p["lastState"] == "OOMKilled (exit 137)"),
        "{pods:?}"
    );
}

#[tokio::test]
async fn timeout_exits_1_with_the_last_status() {
    let env = with_history(10.0).await;
    script(
        &env,
        PodBehavior {
            readiness: Readiness::NeverReady,
            ..PodBehavior::default()
        },
    );
    let started = std::time::Instant::now();
    let run = env.rollback(&["deployment/web", "--timeout", "2s", "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout was honoured"
    );
    let said = measured(&report(&run), "rollback.rollout");
    assert!(
        said.starts_with(
            "not complete after 2s: Waiting for deployment \"web\" rollout to finish:"
        ),
        "{said}"
    );
}

#[tokio::test]
async fn no_wait_returns_after_the_patch() {
    let env = with_history(10.0).await;
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "--no-wait", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(env.sim.requests().iter().all(|r| !r.is_watch), "no watch");
    let report = report(&run);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "rollback.rollout")
    );
    let d = env.deployment("web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        TARGET_IMAGE
    );
}

#[tokio::test]
async fn progress_bar_is_drawn_on_a_terminal() {
    let env = with_history(10.0).await;
    script(
        &env,
        PodBehavior {
            ready_after: Duration::from_secs(5),
            ..PodBehavior::default()
        },
    );
    let kubeconfig = env.kubeconfig.to_str().unwrap().to_string();
    let run = tokio::task::spawn_blocking(move || {
        run_in_tty(
            &[
                "--kubeconfig",
                &kubeconfig,
                "rollback",
                "web",
                "--color",
                "never",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("web ["),
        "a bar named after the Deployment: {}",
        run.stdout
    );
    assert!(run.stdout.contains("updated 3/3"), "{}", run.stdout);
    assert!(run.stdout.contains("VERDICT  PASS"), "{}", run.stdout);
}

#[tokio::test]
async fn health_is_checked_after_completion() {
    let env = with_history(10.0).await;
    env.sim
        .apply_yaml(
            &json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
            })
            .to_string(),
        )
        .unwrap();
    let url = format!(
        "{}/api/v1/namespaces/default/services/web:http/proxy/health",
        env.sim.url()
    );
    let run = env.rollback(&["web", "--health-url", &url, "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        measured(&report(&run), "rollback.health"),
        "HTTP 200, status healthy, posthog.connected=true, latency 42 ms"
    );

    // The revision rolled back to reports PostHog disconnected: the rollback says so, exit 1.
    env.sim.script_image(
        "ghcr.io/acme/app:1.0",
        PodBehavior {
            health: HealthScript {
                status: 503,
                body: json!({"status": "degraded", "posthog": {"connected": false, "latencyMs": 5003}}),
            },
            ..PodBehavior::default()
        },
    );
    let run = env.rollback(&[
        "web",
        "--to-revision",
        "1",
        "--health-url",
        &url,
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        measured(&report(&run), "rollback.health"),
        "HTTP 503, status degraded, posthog.connected=false, latency 5003 ms"
    );
}

/// Requests one way of rolling back sends, by kind.
fn tally(requests: &[RequestRecord]) -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for r in requests {
        let what = if r.is_watch {
            "WATCH".to_string()
        } else {
            r.method.clone()
        };
        *kinds.entry(what).or_default() += 1;
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figure for the issue note: `kubectl posthog rollback` against `kubectl rollout undo`
/// followed by `kubectl rollout status`, on identical histories (run with --nocapture to see it).
#[tokio::test]
async fn request_count_next_to_kubectl_undo_and_status() {
    let (ours, cold, warm) =
        tokio::join!(with_history(10.0), with_history(10.0), with_history(10.0));
    // A person's kubectl has its discovery cache already: warm it on the third cluster.
    assert_eq!(warm.kubectl(&["get", "deployment/web"]).code, 0);
    for env in [&ours, &cold, &warm] {
        env.sim.clear_requests();
    }
    assert_eq!(ours.rollback(&["deployment/web"]).code, 0);
    for env in [&cold, &warm] {
        assert_eq!(env.kubectl(&["rollout", "undo", "deployment/web"]).code, 0);
        assert_eq!(
            env.kubectl(&["rollout", "status", "deployment/web"]).code,
            0
        );
    }
    let (ours, cold, warm) = (
        ours.sim.requests(),
        cold.sim.requests(),
        warm.sim.requests(),
    );
    println!(
        "rollback request count: kubectl posthog rollback {} ({}); kubectl rollout undo + status {} cold cache ({}), {} warm cache ({})",
        ours.len(),
        tally(&ours),
        cold.len(),
        tally(&cold),
        warm.len(),
        tally(&warm)
    );
    // The Lease requests record the rollback's intent (read, written before the PATCH, marked
    // done after the wait) so a re-run after a lost answer never undoes twice: kubectl keeps no
    // such record. Without them the rollback does the same job in fewer requests.
    let (lease, undo): (Vec<_>, Vec<_>) = ours.iter().partition(|r| r.path.contains("/leases"));
    assert_eq!(lease.len(), 3, "{lease:#?}");
    assert!(undo.len() < warm.len(), "ours {ours:#?}\nkubectl {warm:#?}");
    assert!(
        !ours
            .iter()
            .any(|r| r.method == "GET" && !r.is_watch && r.path.ends_with("/deployments")),
        "the wait starts from the PATCH answer: no LIST of Deployments"
    );
    assert_eq!(
        ours.iter().filter(|r| r.method == "PATCH").count(),
        1,
        "one patch"
    );
}

/// A watch cut again and again mid-rollout (a proxy's idle timeout, an apiserver restart): the
/// wait re-lists and re-watches (kube-runtime's watcher) and still ends at completion.
#[tokio::test]
async fn the_wait_survives_watches_cut_every_300ms() {
    let env = with_history(10.0).await;
    script(
        &env,
        PodBehavior {
            ready_after: Duration::from_secs(3),
            ..PodBehavior::default()
        },
    );
    env.sim.clear_requests();
    env.sim.inject(simcluster::Fault::DropWatches {
        after: Duration::from_millis(300),
    });
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        measured(&report(&run), "rollback.rollout")
            .starts_with("deployment \"web\" successfully rolled out"),
        "{}",
        run.stdout
    );
    let requests = env.sim.requests();
    let watches = requests.iter().filter(|r| is_deployment_watch(r)).count();
    assert!(watches >= 3, "re-watched after each cut: {watches} watches");
    let lists = requests
        .iter()
        .filter(|r| r.method == "GET" && !r.is_watch && r.path.ends_with("/deployments"))
        .count();
    assert!(
        lists >= 1,
        "the watcher re-lists once the first watch is cut"
    );
    let status = env.kubectl(&["rollout", "status", "deployment/web", "--timeout=5s"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
}

/// Once the first watch is cut, a re-list refused for good (403: RBAC changed mid-rollback)
/// ends the wait at once with the request named, instead of retrying until --timeout.
#[tokio::test]
async fn a_relist_refused_403_ends_the_wait_naming_it() {
    let env = with_history(10.0).await;
    script(
        &env,
        PodBehavior {
            ready_after: Duration::from_secs(30),
            ..PodBehavior::default()
        },
    );
    let mut cmd = env.rollback_command(&["deployment/web", "--timeout", "60s"]);
    let started = std::time::Instant::now();
    let run = tokio::task::spawn_blocking(move || crate::support::run(&mut cmd));
    // Once the undo is patched, the Deployment's reads are refused and its watches cut.
    let sim = env.sim.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !sim.requests().iter().any(|r| r.method == "PATCH") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the rollback patches");
    env.sim.inject(simcluster::Fault::Errors {
        path_contains: Some("/deployments".into()),
        methods: vec!["GET".into()],
        status: 403,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    env.sim.inject(simcluster::Fault::DropWatches {
        after: Duration::from_millis(100),
    });
    let run = run.await.expect("the rollback ends");
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("deployment web") && run.stderr.contains("403"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not retried until --timeout: {:?}",
        started.elapsed()
    );
}
