//! Rollback during and after a canary: the canary is aborted first (stable back at full
//! capacity, canary Deployment removed, state marked aborted), a live driver is asked to do it
//! itself, and a promotion that already reached the stable is undone as well.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kubectl_posthog::canary::objects::canary_deployment;
use kubectl_posthog::canary::plan::{Pause, plan_steps};
use kubectl_posthog::canary::state::{COMMAND_ANNOTATION, CanaryState, Phase, STATE_VERSION};
use serde_json::{Value, json};
use simcluster::SimCluster;

use super::{Env, Revision, measured, mutating, report};
use crate::support::{lease_annotation, record_state, recorded_state};

const STABLE: &str = "ghcr.io/acme/app:1.0";
const CANARY: &str = "ghcr.io/acme/app:2.0";

fn state(phase: Phase, heartbeat: jiff::Timestamp) -> CanaryState {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(900);
    CanaryState {
        version: STATE_VERSION,
        phase,
        step: 0,
        steps: plan_steps(4, &[50, 100], &[Pause::For(Duration::from_secs(600))], true),
        images: BTreeMap::from([("app".into(), CANARY.into())]),
        stable_images: BTreeMap::from([("app".into(), STABLE.into())]),
        stable_replicas: 4,
        canary_name: "web-canary".into(),
        started_at: at,
        step_started_at: at,
        pause_started_at: Some(at),
        // Short, so a live driver's handoff lasts two seconds.
        interval_secs: 1,
        heartbeat,
        driver: "ci-runner/4242".into(),
        streaks: Default::default(),
        last_analysis: Vec::new(),
        reason: None,
        options: Value::Null,
        stable_generation: None,
        released: false,
        autoscaler: None,
    }
}

/// The stable `web` (history 0.9 → `stable_image`) with a canary of 2.0 at 50 %: the stable
/// scaled to `stable_now` of 4, `web-canary` with 2 replicas, and the state annotation.
async fn canary_in_flight(stable_image: &'static str, stable_now: u32, state: &CanaryState) -> Env {
    let env = Env::start(20.0).await;
    let mut revision = Revision::new("ghcr.io/acme/app:0.9");
    revision.replicas = 4;
    env.deploy(&revision).await;
    if stable_image != STABLE {
        revision.image = STABLE;
        env.deploy(&revision).await;
    }
    revision.image = stable_image;
    env.deploy(&revision).await;
    revision.replicas = stable_now;
    let stable = revision.deployment();
    env.sim.apply_yaml(&stable.to_string()).unwrap();
    record_state(&env.sim, "default", "web", state, |_| {});
    env.settle("web").await;

    let typed: Deployment = serde_json::from_value(env.deployment("web")).unwrap();
    let images = BTreeMap::from([("app".to_string(), CANARY.to_string())]);
    let canary = canary_deployment(&typed, &images, "track", 2).unwrap();
    let mut canary = serde_json::to_value(canary).unwrap();
    canary["apiVersion"] = json!("apps/v1");
    canary["kind"] = json!("Deployment");
    env.sim.create(canary).unwrap();
    env.settle("web-canary").await;
    env
}

fn canary_state(sim: &SimCluster) -> CanaryState {
    recorded_state(sim, "default", "web").expect("a canary state is recorded")
}

fn canary_exists(sim: &SimCluster) -> bool {
    sim.get("apps/v1", "Deployment", Some("default"), "web-canary")
        .is_some()
}

fn image_of(env: &Env) -> String {
    env.deployment("web")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn after_an_interrupted_canary_the_stable_is_restored_and_not_undone() {
    let ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    let env = canary_in_flight(STABLE, 2, &state(Phase::Paused, ago)).await;
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = report(&run);
    let canary = measured(&report, "rollback.canary");
    assert!(
        canary.starts_with("canary web-canary (phase paused, driver gone (last heartbeat 10m"),
        "{canary}"
    );
    assert!(
        canary.contains(
            "stable scaled 2 → 4 replicas, deployment web-canary removed, state marked aborted"
        ),
        "{canary}"
    );
    assert_eq!(
        measured(&report, "rollback.undo"),
        "the stable still runs its pre-canary template (revision 2): no undo needed"
    );
    assert!(
        measured(&report, "rollback.rollout").contains("4 available"),
        "{report:#}"
    );

    assert_eq!(
        image_of(&env),
        STABLE,
        "the stable was not rolled back past its own version"
    );
    assert_eq!(env.deployment("web")["spec"]["replicas"], 4);
    assert!(!canary_exists(&env.sim));
    let after = canary_state(&env.sim);
    assert_eq!(after.phase, Phase::Aborted);
    assert!(
        after
            .reason
            .unwrap()
            .starts_with("rolled back by kubectl posthog rollback")
    );

    // Re-running is safe: nothing left to abort, and the resume hint's form changes nothing.
    let again = env.rollback(&["deployment/web", "--to-revision", "2", "-o", "json"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(measured(&super::report(&again), "rollback.undo").starts_with("already at revision 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_canary_the_live_driver_is_asked_to_abort() {
    let env = canary_in_flight(STABLE, 2, &state(Phase::Paused, jiff::Timestamp::now())).await;
    // A stand-in driver: on the abort command it aborts as the canary driver does.
    let asked = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(stand_in_driver(env.sim.clone(), asked.clone()));
    let mut cmd = env.rollback_command(&["deployment/web", "-o", "json"]);
    let run = tokio::task::spawn_blocking(move || crate::support::run(&mut cmd))
        .await
        .unwrap();
    driver.abort();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        asked.load(Ordering::SeqCst),
        "the driver saw the abort command"
    );
    let canary = measured(&report(&run), "rollback.canary");
    assert!(
        canary.contains("driver alive) aborted: the driver aborted it on our request"),
        "{canary}"
    );
    assert!(
        run.stderr
            .contains("asked the canary driver (ci-runner/4242) to abort"),
        "{}",
        run.stderr
    );
    assert_eq!(env.deployment("web")["spec"]["replicas"], 4);
    assert!(!canary_exists(&env.sim));
    assert_eq!(image_of(&env), STABLE);
}

/// Polls for the abort command, then restores the stable, deletes the canary and records it.
async fn stand_in_driver(sim: SimCluster, asked: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(mut stable) = sim.get("apps/v1", "Deployment", Some("default"), "web") else {
            continue;
        };
        let command =
            lease_annotation(&sim, "default", "web", COMMAND_ANNOTATION).unwrap_or_default();
        if !command.contains("\"abort\"") {
            continue;
        }
        asked.store(true, Ordering::SeqCst);
        let _ = sim.delete("apps/v1", "Deployment", Some("default"), "web-canary");
        let mut state = canary_state(&sim);
        state.phase = Phase::Aborted;
        state.reason = Some("aborted by the driver".into());
        stable["spec"]["replicas"] = json!(4);
        sim.apply_yaml(&stable.to_string()).unwrap();
        record_state(&sim, "default", "web", &state, |lease| {
            if let Some(a) = lease["metadata"]["annotations"].as_object_mut() {
                a.remove(COMMAND_ANNOTATION);
            }
        });
        return;
    }
}

#[tokio::test]
async fn an_unresponsive_live_driver_is_taken_over_after_the_handoff() {
    let env = canary_in_flight(
        STABLE,
        2,
        &state(Phase::Progressing, jiff::Timestamp::now()),
    )
    .await;
    let started = std::time::Instant::now();
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the driver got its two seconds"
    );
    assert!(
        run.stderr
            .contains("did not abort in time: aborting from here"),
        "{}",
        run.stderr
    );
    let command = lease_annotation(&env.sim, "default", "web", COMMAND_ANNOTATION);
    assert!(
        command.is_none(),
        "the abort clears the command once done: {command:?}"
    );
    assert_eq!(env.deployment("web")["spec"]["replicas"], 4);
    assert!(!canary_exists(&env.sim));
    assert_eq!(canary_state(&env.sim).phase, Phase::Aborted);
}

#[tokio::test]
async fn an_interrupted_promotion_is_undone_with_the_canary_removed() {
    let ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    // The stable already took 2.0 (revision 3) when the driver died.
    let env = canary_in_flight(CANARY, 4, &state(Phase::Promoting, ago)).await;
    let run = env.rollback(&["deployment/web", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = report(&run);
    assert!(
        measured(&report, "rollback.canary")
            .contains("the stable already runs the canary's images: it is rolled back too"),
        "{report:#}"
    );
    assert!(
        measured(&report, "rollback.undo").starts_with("rolled back from revision 3 to revision 2"),
        "{report:#}"
    );
    assert_eq!(image_of(&env), STABLE);
    assert!(!canary_exists(&env.sim));
    assert_eq!(canary_state(&env.sim).phase, Phase::Aborted);
}

#[tokio::test]
async fn dry_run_with_a_canary_says_what_it_would_do_and_writes_nothing() {
    let ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    let env = canary_in_flight(STABLE, 2, &state(Phase::Paused, ago)).await;
    env.sim.clear_requests();
    let run = env.rollback(&["deployment/web", "--dry-run", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(mutating(&env.sim), Vec::<String>::new());
    let canary = measured(&report(&run), "rollback.canary");
    assert!(
        canary.ends_with("would be aborted: scale the stable 2 → 4 replicas, remove deployment web-canary, mark the state aborted"),
        "{canary}"
    );
    assert!(canary_exists(&env.sim));
}
