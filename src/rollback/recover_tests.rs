use serde_json::json;

use super::*;
use crate::canary::plan::{Pause, plan_steps};
use crate::canary::state::STATE_VERSION;

/// The plan, with the state the test keeps in the stable's annotations (where the stable's
/// Lease keeps it on a cluster); an unreadable one is the error `read_stored` gives.
fn plan(
    stable: &Deployment,
    canary: Option<&Deployment>,
    now: jiff::Timestamp,
) -> std::result::Result<Option<CanaryRecovery>, String> {
    let (state, _) = state::read_annotations(stable.metadata.annotations.as_ref())?;
    Ok(plan_recovery(stable, state.as_ref(), canary, now))
}

fn at(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

pub(crate) fn state(phase: Phase, heartbeat: &str) -> CanaryState {
    CanaryState {
        version: STATE_VERSION,
        phase,
        step: 0,
        steps: plan_steps(
            4,
            &[50, 100],
            &[Pause::For(std::time::Duration::from_secs(600))],
            true,
        ),
        images: BTreeMap::from([("app".into(), "app:2".into())]),
        stable_images: BTreeMap::from([("app".into(), "app:1".into())]),
        stable_replicas: 4,
        canary_name: "web-canary".into(),
        started_at: at("2026-01-01T10:00:00Z"),
        step_started_at: at("2026-01-01T10:00:00Z"),
        pause_started_at: None,
        interval_secs: 30,
        heartbeat: at(heartbeat),
        driver: "ci/1".into(),
        streaks: Default::default(),
        last_analysis: Vec::new(),
        reason: None,
        options: serde_json::Value::Null,
        stable_generation: None,
        released: false,
        autoscaler: None,
    }
}

fn stable(image: &str, replicas: i32, state: Option<&CanaryState>) -> Deployment {
    let mut annotations = json!({"deployment.kubernetes.io/revision": "2"});
    if let Some(s) = state {
        annotations[state::STATE_ANNOTATION] = json!(s.encode());
    }
    serde_json::from_value(json!({
        "metadata": {"name": "web", "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}
    }))
    .unwrap()
}

fn canary(of: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web-canary", "annotations": {(state::CANARY_OF_ANNOTATION): of}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", "track": "canary"}},
            "template": {"metadata": {"labels": {"app": "web", "track": "canary"}},
                "spec": {"containers": [{"name": "app", "image": "app:2"}]}}}
    }))
    .unwrap()
}

const NOW: &str = "2026-01-01T10:05:00Z";

#[test]
fn nothing_to_recover_without_state_or_canary() {
    let plain = stable("app:1", 4, None);
    assert_eq!(plan(&plain, None, at(NOW)).unwrap(), None);
    // A canary Deployment that is not ours is left alone.
    assert_eq!(
        plan(&plain, Some(&canary("api", 2)), at(NOW)).unwrap(),
        None
    );
    // A finished canary needs nothing either.
    let done = state(Phase::Promoted, NOW);
    assert_eq!(
        plan(&stable("app:2", 4, Some(&done)), None, at(NOW)).unwrap(),
        None
    );
}

#[test]
fn interrupted_canary_restores_capacity_and_removes_the_canary() {
    let s = state(Phase::Paused, "2026-01-01T10:00:00Z");
    let plan = plan(
        &stable("app:1", 2, Some(&s)),
        Some(&canary("web", 2)),
        at(NOW),
    )
    .unwrap()
    .unwrap();
    assert_eq!(plan.restore, Some((2, 4)));
    assert!(plan.delete_canary && plan.abort_state);
    assert!(!plan.driver_alive, "heartbeat five minutes old");
    assert!(!plan.promoted, "the stable still runs app:1");
    assert_eq!(plan.phase, Some(Phase::Paused));
}

#[test]
fn live_driver_is_recognised() {
    let s = state(Phase::Progressing, "2026-01-01T10:04:50Z");
    let plan = plan(
        &stable("app:1", 2, Some(&s)),
        Some(&canary("web", 2)),
        at(NOW),
    )
    .unwrap()
    .unwrap();
    assert!(plan.driver_alive);
    let state = plan.state.as_ref().unwrap();
    assert_eq!(
        handoff_time(state, std::time::Duration::from_secs(300)),
        std::time::Duration::from_secs(60),
        "two 30 s intervals"
    );
    assert_eq!(
        handoff_time(state, std::time::Duration::from_secs(5)),
        std::time::Duration::from_secs(5),
        "never longer than --timeout"
    );
    let aborted = aborted_state(state, at(NOW), "rolled back");
    assert_eq!(aborted.phase, Phase::Aborted);
    assert_eq!(aborted.reason.as_deref(), Some("rolled back"));
}

#[test]
fn interrupted_promotion_means_the_stable_must_be_undone() {
    let s = state(Phase::Promoting, "2026-01-01T10:00:00Z");
    let plan = plan(&stable("app:2", 4, Some(&s)), None, at(NOW))
        .unwrap()
        .unwrap();
    assert!(plan.promoted);
    assert_eq!(plan.restore, None, "never scales the stable down");
    assert!(!plan.delete_canary);
}

#[test]
fn left_behind_canary_without_state_is_removed_and_the_stable_keeps_its_size() {
    let plan = plan(&stable("app:1", 3, None), Some(&canary("web", 2)), at(NOW))
        .unwrap()
        .unwrap();
    assert_eq!(plan.restore, None);
    assert!(plan.delete_canary && !plan.abort_state && !plan.promoted);
}

#[test]
fn unreadable_state_is_an_error_not_a_guess() {
    let mut d = stable("app:1", 3, None);
    d.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(state::STATE_ANNOTATION.into(), "{".into());
    assert!(plan(&d, None, at(NOW)).is_err());
}

#[test]
fn a_killed_local_driver_gets_no_handoff_however_fresh_its_heartbeat() {
    let mut s = state(Phase::Paused, NOW);
    let me = state::driver_id();
    s.driver = format!("{}/99999999", me.rsplit_once('/').unwrap().0);
    let plan = plan(
        &stable("app:1", 2, Some(&s)),
        Some(&canary("web", 2)),
        at(NOW),
    )
    .unwrap()
    .unwrap();
    assert!(
        !plan.driver_alive,
        "PIDs stay below 2^22 on Linux: this one is gone"
    );
}
