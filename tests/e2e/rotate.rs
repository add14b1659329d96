//! `rotate-key` on the simulated cluster with the PostHog stand-in: a valid key rotates both
//! Deployments reading it and keeps the Secret's other keys; a key PostHog rejects, a `phx_` key
//! and the key in use are refused with nothing changed; a key whose pods do not report PostHog
//! connected is reverted; 409s on the Secret are re-read; `--dry-run` changes nothing.

use base64::Engine as _;
use serde_json::Value;

use crate::standins::posthog::{Behaviour, PostHogStandIn};
use crate::support::Run;
use crate::triage::{DEPLOYMENT, Incident, PERSONAL_KEY, PROJECT_KEY, healthy};

const NEW_KEY: &str = "phc_RotatedProjectKey7hQ2vM9nB4xK8wL1pR5tY3u";

async fn setup() -> (Incident, PostHogStandIn) {
    let incident = Incident::start(healthy(), 2, true).await;
    // A second Deployment reading the same Secret key, and one reading another key.
    let worker = crate::triage::manifests("ghcr.io/acme/posthog-integration:1.4.0", 1)
        .split("---")
        .last()
        .unwrap()
        .replace(&format!("name: {DEPLOYMENT}"), "name: worker")
        .replace(&format!("app: {DEPLOYMENT}"), "app: worker");
    incident.sim.apply_yaml(&worker).expect("the worker");
    let posthog = PostHogStandIn::start(
        Behaviour::default()
            .project_key(PROJECT_KEY)
            .project_key(NEW_KEY),
    )
    .await;
    (incident, posthog)
}

async fn rotate(incident: &Incident, posthog: &PostHogStandIn, key: &str, extra: &[&str]) -> Run {
    let health = posthog.health_url();
    let args = [
        &[
            "rotate-key",
            "--from-env",
            "TEST_NEW_KEY",
            "--posthog-host",
            posthog.url(),
            "--health-url",
            &health,
            "--timeout",
            "30s",
            "-o",
            "json",
        ][..],
        extra,
    ]
    .concat();
    incident.run_with_env(&args, &[("TEST_NEW_KEY", key)]).await
}

fn value(secret: &Value, key: &str) -> String {
    let b64 = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {secret}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn restarted_at(incident: &Incident, name: &str) -> Option<String> {
    incident
        .sim
        .get("apps/v1", "Deployment", Some(&incident.ns), name)?
        .pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")?
        .as_str()
        .map(str::to_string)
}

fn steps(report: &Value) -> Vec<(String, bool)> {
    report["details"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_key_rotates_both_readers_and_keeps_the_secrets_other_keys() {
    let (incident, posthog) = setup().await;
    let out = rotate(&incident, &posthog, NEW_KEY, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(report["details"]["result"], "rotated");
    assert_eq!(
        report["details"]["readers"],
        serde_json::json!([DEPLOYMENT, "worker"])
    );
    let secret = secret_of(&incident, "posthog-secrets");
    assert_eq!(value(&secret, "api-key"), NEW_KEY);
    assert_eq!(
        value(&secret, "personal-key"),
        PERSONAL_KEY,
        "the other key survives"
    );
    assert!(
        secret
            .pointer("/metadata/annotations/kubectl-posthog~1rotation")
            .is_none_or(Value::is_null),
        "{secret}"
    );
    let previous = secret_of(&incident, "posthog-secrets-previous");
    assert_eq!(value(&previous, "api-key"), PROJECT_KEY);
    assert_eq!(
        previous["metadata"]["labels"]["kubectl-posthog/previous-of"],
        "posthog-secrets"
    );
    assert_eq!(
        previous["metadata"]["ownerReferences"][0]["name"],
        "posthog-secrets"
    );
    assert!(
        restarted_at(&incident, DEPLOYMENT).is_some()
            && restarted_at(&incident, "worker").is_some()
    );
    // PostHog was asked about the new key before anything changed, and no key is printed.
    assert!(
        posthog
            .requests_to("/flags")
            .iter()
            .any(|r| r.body.contains(NEW_KEY))
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(&NEW_KEY[4..]) && !text.contains(&PROJECT_KEY[4..]),
            "a key in the output"
        );
    }
    assert!(
        out.stdout.contains("phc_…tY3u"),
        "masked new key: {}",
        out.stdout
    );
}

pub fn secret_of(incident: &Incident, name: &str) -> Value {
    incident
        .sim
        .get("v1", "Secret", Some(&incident.ns), name)
        .unwrap_or_else(|| panic!("no secret {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_a_personal_key_the_key_in_use_and_a_dry_run_change_nothing() {
    let (incident, posthog) = setup().await;
    let before = secret_of(&incident, "posthog-secrets");
    // Another project's key (or one of the other region): the host the Deployment sends to rejects it.
    let other = PostHogStandIn::start(Behaviour::default()).await;
    for (key, host, why) in [
        (
            "phc_UnknownProjectKey000000000000000000000001",
            posthog.url().to_string(),
            "PostHog rejects the new key",
        ),
        (
            NEW_KEY,
            other.url().to_string(),
            "PostHog rejects the new key",
        ),
        (
            PERSONAL_KEY,
            posthog.url().to_string(),
            "project key (phc_…) belongs here",
        ),
        (PROJECT_KEY, posthog.url().to_string(), "already in use"),
    ] {
        let out = incident
            .run_with_env(
                &[
                    "rotate-key",
                    "--from-env",
                    "K",
                    "--posthog-host",
                    &host,
                    "-o",
                    "json",
                ],
                &[("K", key)],
            )
            .await;
        assert_eq!(out.code, 1, "{key}: {}", out.stderr);
        let report = crate::support::report_json(&out.stdout);
        assert_eq!(report["details"]["result"], "refused");
        assert!(out.stdout.contains(why), "{why}: {}", out.stdout);
        assert!(
            !out.stdout.contains(&key[4..]),
            "the refused key is printed"
        );
    }
    let dry = rotate(&incident, &posthog, NEW_KEY, &["--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        crate::support::report_json(&dry.stdout)["details"]["result"],
        "dry-run"
    );
    let after = secret_of(&incident, "posthog-secrets");
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "the Secret changed"
    );
    assert!(
        incident
            .sim
            .get(
                "v1",
                "Secret",
                Some(&incident.ns),
                "posthog-secrets-previous"
            )
            .is_none()
    );
    assert!(
        restarted_at(&incident, DEPLOYMENT).is_none()
            && restarted_at(&incident, "worker").is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_pods_do_not_report_posthog_connected_is_reverted() {
    let (incident, posthog) = setup().await;
    // With the new key the integration cannot reach PostHog.
    posthog.set_behaviour(Behaviour::default().project_key(NEW_KEY).health(
        503,
        r#"{"status":"unhealthy","posthog":{"connected":false,"error":"401 Unauthorized"}}"#,
    ));
    let out = rotate(&incident, &posthog, NEW_KEY, &[]).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(
        report["details"]["result"], "reverted",
        "{}",
        report["details"]
    );
    let ids = steps(&report);
    assert!(ids.contains(&("rotate.verify".into(), false)), "{ids:?}");
    assert!(ids.contains(&("rotate.revert".into(), true)), "{ids:?}");
    assert!(
        ids.iter()
            .filter(|(id, ok)| id == "rotate.revert-restart" && *ok)
            .count()
            == 2,
        "{ids:?}"
    );
    let secret = secret_of(&incident, "posthog-secrets");
    assert_eq!(
        value(&secret, "api-key"),
        PROJECT_KEY,
        "the old key is back"
    );
    assert_eq!(value(&secret, "personal-key"), PERSONAL_KEY);

    // --no-revert leaves the new key.
    let out = rotate(&incident, &posthog, NEW_KEY, &["--no-revert"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        crate::support::report_json(&out.stdout)["details"]["result"],
        "failed-not-reverted"
    );
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        NEW_KEY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_on_the_secret_are_re_read_and_the_rotation_completes() {
    let (incident, posthog) = setup().await;
    incident.sim.inject(simcluster::Fault::Conflicts {
        kind_plural: "secrets".into(),
        name: Some("posthog-secrets".into()),
        count: 2,
    });
    let out = rotate(&incident, &posthog, NEW_KEY, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(report["details"]["result"], "rotated");
    assert_eq!(report["details"]["conflicts"], 2);
    let secret = secret_of(&incident, "posthog-secrets");
    assert_eq!(value(&secret, "api-key"), NEW_KEY);
    assert_eq!(value(&secret, "personal-key"), PERSONAL_KEY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_rotation_a_re_run_resumes_at_the_restarts_and_finishes() {
    let (incident, posthog) = setup().await;
    // Slow the worker's restart so the process is killed between the Secret patch and the end.
    let slow = incident.sim.inject(simcluster::Fault::Latency {
        path_contains: Some("/deployments/worker".into()),
        delay: std::time::Duration::from_secs(5),
    });
    let mut cmd = crate::support::bin();
    cmd.current_dir(incident.dir.path())
        .env("TEST_NEW_KEY", NEW_KEY)
        .arg("--kubeconfig")
        .arg(&incident.kubeconfig)
        .args([
            "-n",
            &incident.ns,
            "rotate-key",
            "--from-env",
            "TEST_NEW_KEY",
            "--posthog-host",
            posthog.url(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let ns = incident.ns.clone();
    let under_way = incident
        .sim
        .wait_until(std::time::Duration::from_secs(20), move |sim| {
            sim.get("v1", "Secret", Some(&ns), "posthog-secrets")
                .and_then(|s| {
                    s.pointer("/metadata/annotations/kubectl-posthog~1rotation")
                        .cloned()
                })
                .is_some_and(|v| v == "restarting")
        })
        .await;
    assert!(under_way, "the rotation never reached its restarts");
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        NEW_KEY
    );
    assert!(
        restarted_at(&incident, "worker").is_none(),
        "the worker was restarted before the kill"
    );
    incident.sim.clear_fault(slow);

    let out = rotate(&incident, &posthog, NEW_KEY, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(report["details"]["result"], "rotated");
    let ids = steps(&report);
    assert!(ids.contains(&("rotate.resume".into(), true)), "{ids:?}");
    assert!(
        !ids.iter().any(|(id, _)| id == "rotate.secret"),
        "patched again: {ids:?}"
    );
    assert_eq!(
        report["details"]["oldKey"], "phc_…K1pJ",
        "the old key is read back from -previous"
    );
    assert!(restarted_at(&incident, "worker").is_some());
    let secret = secret_of(&incident, "posthog-secrets");
    assert!(
        secret
            .pointer("/metadata/annotations/kubectl-posthog~1rotation")
            .is_none_or(Value::is_null)
    );
}

/// `rotate-key` started in the background (no `-o json` needed: it is killed).
fn spawn_rotation(incident: &Incident, posthog: &PostHogStandIn) -> std::process::Child {
    let health = posthog.health_url();
    let mut cmd = crate::support::bin();
    cmd.current_dir(incident.dir.path())
        .env("TEST_NEW_KEY", NEW_KEY)
        .arg("--kubeconfig")
        .arg(&incident.kubeconfig)
        .args([
            "-n",
            &incident.ns,
            "rotate-key",
            "--from-env",
            "TEST_NEW_KEY",
            "--posthog-host",
            posthog.url(),
            "--health-url",
            &health,
            "--timeout",
            "30s",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn().unwrap()
}

/// Waits until the Secret's state annotation is `state`, then kill -9s the rotation.
async fn kill_at_state(incident: &Incident, mut child: std::process::Child, state: &'static str) {
    let ns = incident.ns.clone();
    let reached = incident
        .sim
        .wait_until(std::time::Duration::from_secs(40), move |sim| {
            sim.get("v1", "Secret", Some(&ns), "posthog-secrets")
                .and_then(|s| {
                    s.pointer("/metadata/annotations/kubectl-posthog~1rotation")
                        .cloned()
                })
                .is_some_and(|v| v == state)
        })
        .await;
    assert!(reached, "the rotation never reached {state:?}");
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
}

/// `rotate-key --resume` with no key (the Secret holds it), `-o json`.
async fn resume(incident: &Incident, posthog: &PostHogStandIn, extra: &[&str]) -> Run {
    let health = posthog.health_url();
    let args = [
        &[
            "rotate-key",
            "--resume",
            "--posthog-host",
            posthog.url(),
            "--health-url",
            &health,
            "--timeout",
            "30s",
            "-o",
            "json",
        ][..],
        extra,
    ]
    .concat();
    incident.run(&args).await
}

fn state_of(incident: &Incident) -> Option<String> {
    secret_of(incident, "posthog-secrets")
        .pointer("/metadata/annotations/kubectl-posthog~1rotation")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Issue 19: kill -9 at each step of a rotation, then `rotate-key --resume` finishes it.
/// 1. before the Secret is patched (while `NAME-previous` is written): nothing is under way, so
///    `--resume` without a key says so (exit 2) and with the key starts again and rotates;
/// 2. during the restarts: `--resume` (no key: the Secret holds it) restarts what is left;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_patch_or_during_the_restarts_rotate_key_resume_finishes() {
    // 1. Killed while the old key is copied to posthog-secrets-previous.
    let (incident, posthog) = setup().await;
    let slow = incident.sim.inject(simcluster::Fault::Latency {
        path_contains: Some("/secrets/posthog-secrets-previous".into()),
        delay: std::time::Duration::from_secs(8),
    });
    let mut child = spawn_rotation(&incident, &posthog);
    // Killed 2 s after the Secret was first read: the copy to -previous that follows (after a
    // validation with the local PostHog of milliseconds) hangs 8 s, so the Secret's own patch
    // has not happened yet. (The simulator records a request once it has answered it.)
    let secret_path = format!("/api/v1/namespaces/{}/secrets/posthog-secrets", incident.ns);
    let seen = incident
        .sim
        .wait_until(std::time::Duration::from_secs(20), move |sim| {
            sim.requests()
                .iter()
                .any(|r| r.method == "GET" && r.path == secret_path)
        })
        .await;
    assert!(seen, "the rotation never read the Secret");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    child.kill().unwrap();
    let _ = child.wait();
    incident.sim.clear_fault(slow);
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        PROJECT_KEY
    );
    assert_eq!(state_of(&incident), None);
    let out = resume(&incident, &posthog, &[]).await;
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no rotation is under way"),
        "{}",
        out.stderr
    );
    let out = incident
        .run_with_env(
            &[
                "rotate-key",
                "--resume",
                "--from-env",
                "TEST_NEW_KEY",
                "--posthog-host",
                posthog.url(),
                "--timeout",
                "30s",
                "-o",
                "json",
            ],
            &[("TEST_NEW_KEY", NEW_KEY)],
        )
        .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        crate::support::report_json(&out.stdout)["details"]["result"],
        "rotated"
    );
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        NEW_KEY
    );

    // 2. Killed during the restarts (the worker's is slow).
    let (incident, posthog) = setup().await;
    let slow = incident.sim.inject(simcluster::Fault::Latency {
        path_contains: Some("/deployments/worker".into()),
        delay: std::time::Duration::from_secs(5),
    });
    let child = spawn_rotation(&incident, &posthog);
    kill_at_state(&incident, child, "restarting").await;
    incident.sim.clear_fault(slow);
    assert!(
        restarted_at(&incident, "worker").is_none(),
        "killed too late"
    );
    let out = resume(&incident, &posthog, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(report["details"]["result"], "rotated");
    let ids = steps(&report);
    assert!(ids.contains(&("rotate.resume".into(), true)), "{ids:?}");
    assert!(!ids.iter().any(|(id, _)| id == "rotate.secret"), "{ids:?}");
    assert!(restarted_at(&incident, "worker").is_some());
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        NEW_KEY
    );
    assert_eq!(state_of(&incident), None);
}

/// Issue 19: kill -9 while a failed rotation is being reverted (state `reverting`): a re-run
/// used to see a Secret that no longer held the new key and rotated to it again. `--resume`
/// finishes the revert: the old key back, every reader restarted, the state cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_revert_rotate_key_resume_finishes_the_revert() {
    let (incident, posthog) = setup().await;
    posthog.set_behaviour(Behaviour::default().project_key(NEW_KEY).health(
        503,
        r#"{"status":"unhealthy","posthog":{"connected":false,"error":"401 Unauthorized"}}"#,
    ));
    let slow = incident.sim.inject(simcluster::Fault::Latency {
        path_contains: Some("/deployments/worker".into()),
        delay: std::time::Duration::from_secs(3),
    });
    let child = spawn_rotation(&incident, &posthog);
    kill_at_state(&incident, child, "reverting").await;
    incident.sim.clear_fault(slow);
    let out = resume(&incident, &posthog, &[]).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(
        report["details"]["result"], "reverted",
        "{}",
        report["details"]
    );
    let ids = steps(&report);
    assert!(ids.contains(&("rotate.resume".into(), true)), "{ids:?}");
    assert!(ids.contains(&("rotate.revert".into(), true)), "{ids:?}");
    assert!(
        !ids.iter().any(|(id, _)| id == "rotate.validate"),
        "rotated again: {ids:?}"
    );
    let secret = secret_of(&incident, "posthog-secrets");
    assert_eq!(
        value(&secret, "api-key"),
        PROJECT_KEY,
        "the old key is back"
    );
    assert_eq!(value(&secret, "personal-key"), PERSONAL_KEY);
    assert_eq!(state_of(&incident), None);
}

/// Issue 19: a new key PostHog accepts at validation but that makes the pods fail (the image's
/// script: pods started with the new key in their env never become ready, as an app that
/// exits its readiness on 401s) is reverted automatically: the rollout of the first reader
/// does not complete within --timeout, the old key is restored from `-previous`, and every
/// reader is restarted onto it and becomes ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_whose_pods_never_become_ready_is_reverted_automatically() {
    let (incident, posthog) = setup().await;
    incident.sim.script_secret_value(
        "posthog-secrets",
        "api-key",
        NEW_KEY,
        simcluster::PodBehavior {
            readiness: simcluster::Readiness::NeverReady,
            ..healthy()
        },
    );
    let out = incident
        .run_with_env(
            &[
                "rotate-key",
                "--from-env",
                "TEST_NEW_KEY",
                "--posthog-host",
                posthog.url(),
                "--timeout",
                "6s",
                "-o",
                "json",
            ],
            &[("TEST_NEW_KEY", NEW_KEY)],
        )
        .await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(
        report["details"]["result"], "reverted",
        "{}",
        report["details"]
    );
    let ids = steps(&report);
    assert!(ids.contains(&("rotate.restart".into(), false)), "{ids:?}");
    assert!(ids.contains(&("rotate.revert".into(), true)), "{ids:?}");
    assert_eq!(
        ids.iter()
            .filter(|(id, ok)| id == "rotate.revert-restart" && *ok)
            .count(),
        2,
        "{ids:?}"
    );
    let secret = secret_of(&incident, "posthog-secrets");
    assert_eq!(
        value(&secret, "api-key"),
        PROJECT_KEY,
        "the old key is back"
    );
    assert_eq!(value(&secret, "personal-key"), PERSONAL_KEY);
    assert_eq!(state_of(&incident), None);
    let deployment = incident
        .sim
        .get("apps/v1", "Deployment", Some(&incident.ns), DEPLOYMENT)
        .unwrap();
    assert_eq!(
        deployment.pointer("/status/readyReplicas"),
        Some(&serde_json::json!(2)),
        "{deployment}"
    );
}

/// Issue 19 step 5: with Prometheus, the restarted pods must get no 401/403 over the
/// verification window (`--verify-window`) before the rotation counts as done. A stand-in
/// Prometheus answers the 401/403 query with 3: the rotation is reverted. With 0 it succeeds,
/// and the query asked is for the readers' own pods over the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_prometheus_401s_from_the_new_pods_over_the_window_revert_the_rotation() {
    use crate::triage::{PrometheusStandIn, Rates};
    let args = |prometheus: &str| -> Vec<String> {
        ["--prometheus-url", prometheus, "--verify-window", "1s"]
            .map(String::from)
            .into()
    };
    let (incident, posthog) = setup().await;
    let failing = PrometheusStandIn::start(Rates {
        auth: Some(3.0),
        ..Rates::default()
    })
    .await;
    let extra = args(&failing.url);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let out = rotate(&incident, &posthog, NEW_KEY, &extra).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(
        report["details"]["result"], "reverted",
        "{}",
        report["details"]
    );
    let ids = steps(&report);
    assert!(
        ids.contains(&("rotate.verify-auth".into(), false)),
        "{ids:?}"
    );
    assert!(ids.contains(&("rotate.revert".into(), true)), "{ids:?}");
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        PROJECT_KEY
    );
    let asked = failing.queries.lock().unwrap().clone();
    assert!(
        asked.iter().any(
            |q| q.contains(r#"pod=~"posthog-integration-[a-z0-9]+-[a-z0-9]+""#)
                && q.contains("401|403")
                && q.contains("[1s]")
        ),
        "{asked:?}"
    );

    let clean = PrometheusStandIn::start(Rates {
        auth: Some(0.0),
        ..Rates::default()
    })
    .await;
    let extra = args(&clean.url);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let out = rotate(&incident, &posthog, NEW_KEY, &extra).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = crate::support::report_json(&out.stdout);
    assert_eq!(report["details"]["result"], "rotated");
    let ids = steps(&report);
    assert_eq!(
        ids.iter()
            .filter(|(id, ok)| id == "rotate.verify-auth" && *ok)
            .count(),
        2,
        "both readers checked: {ids:?}"
    );
    assert_eq!(
        value(&secret_of(&incident, "posthog-secrets"), "api-key"),
        NEW_KEY
    );
}
