//! Recovering from a canary before rolling back: a canary in progress, or one an interrupted run
//! left behind, is aborted — the stable track back at full capacity, the canary Deployment
//! removed, the canary state marked aborted — and the rollback reports what it did.
//!
//! The abort itself is the canary's ([`crate::canary::abort::abort`], stable first: a rollback
//! means the new version is bad). A live driver is first told to abort through the command
//! annotation and given a short while to do it itself, so two processes never fight over the
//! replicas. When the stable already runs the canary's images (a promotion started), there is
//! nothing to abort to: the canary Deployment is removed and the stable itself is undone.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use crate::canary::abort::{self, AbortOptions, AbortOrder};
use crate::canary::objects::{self, CanaryMatch};
use crate::canary::ops::{self, Apis};
use crate::canary::state::{self, Action, CanaryState, Command, Phase};
use crate::canary::store::{self, Write};
use crate::clock::Clock;
use crate::error::Result;

/// What has to be undone of a canary, decided from the stable and the canary Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryRecovery {
    pub canary_name: String,
    /// The canary's phase, absent when only a left-behind canary Deployment was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// A driver wrote its heartbeat recently and is not known dead: it is asked to abort first.
    pub driver_alive: bool,
    /// The state is not terminal: it ends marked aborted.
    pub abort_state: bool,
    /// The stable's replicas now and the full capacity to restore (never lower than now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<(u32, u32)>,
    /// The canary Deployment exists and is ours.
    pub delete_canary: bool,
    /// The stable's template already runs the canary's images (a promotion started), so the
    /// stable itself must be rolled back.
    pub promoted: bool,
    #[serde(skip)]
    pub state: Option<CanaryState>,
}

/// `Ok(None)` when there is no canary to recover from; `Err` when the state annotation is
/// unreadable (the message says why).
pub fn plan_recovery(
    stable: &Deployment,
    state: Option<&CanaryState>,
    canary: Option<&Deployment>,
    now: jiff::Timestamp,
) -> Option<CanaryRecovery> {
    let name = stable.metadata.name.clone().unwrap_or_default();
    let state = state.cloned();
    let active = state.as_ref().filter(|s| !s.phase.is_terminal());
    let ours = canary
        .filter(|c| objects::canary_matches(c, &name, &BTreeMap::new()) != CanaryMatch::NotOurs);
    if active.is_none() && ours.is_none() {
        return None;
    }
    let current = ops::current_replicas(stable);
    // Without a recorded state the stable keeps its size (the canary's abort does the same).
    // An HPA owns the stable's size: the abort leaves it as the HPA has it.
    let full = active.map_or(current, |s| {
        if s.autoscaler.is_some() {
            current
        } else {
            s.stable_replicas
        }
    });
    let canary_images = match (&state, ours) {
        (Some(s), _) if !s.images.is_empty() => s.images.clone(),
        (_, Some(c)) => objects::template_images(c),
        _ => BTreeMap::new(),
    };
    let stable_images = objects::template_images(stable);
    let promoted = !canary_images.is_empty()
        && canary_images
            .iter()
            .all(|(c, image)| stable_images.get(c) == Some(image))
        && state
            .as_ref()
            .is_none_or(|s| s.stable_images != canary_images);
    Some(CanaryRecovery {
        canary_name: state
            .as_ref()
            .map(|s| s.canary_name.clone())
            .unwrap_or_else(|| objects::canary_name(&name)),
        phase: state.as_ref().map(|s| s.phase),
        driver_alive: active.is_some_and(|s| state::is_driven(s, now)),
        abort_state: active.is_some(),
        restore: (current < full && !promoted).then_some((current, full)),
        delete_canary: ours.is_some(),
        promoted,
        state: active.cloned(),
    })
}

/// How long a live driver gets to abort its own canary before the rollback does it: two of its
/// analysis intervals (it reads the command at least once per interval), 2 s to 60 s.
pub fn handoff_time(state: &CanaryState, timeout: Duration) -> Duration {
    Duration::from_secs(state.interval_secs.saturating_mul(2))
        .clamp(Duration::from_secs(2), Duration::from_secs(60))
        .min(timeout)
}

/// How long ago the canary's driver last wrote its heartbeat.
pub fn heartbeat_age(recovery: &CanaryRecovery, now: jiff::Timestamp) -> Option<Duration> {
    let secs = now
        .duration_since(recovery.state.as_ref()?.heartbeat)
        .as_secs();
    u64::try_from(secs).ok().map(Duration::from_secs)
}

/// The state after a rollback ended the canary.
pub fn aborted_state(state: &CanaryState, now: jiff::Timestamp, reason: &str) -> CanaryState {
    let mut state = state.clone();
    state.phase = Phase::Aborted;
    state.heartbeat = now;
    state.reason = Some(reason.to_string());
    state
}

/// What the recovery did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryDone {
    /// The live driver aborted its canary itself.
    pub by_driver: bool,
    pub stable_replicas: u32,
    pub canary_removed: bool,
    /// An HPA owns the stable's replicas (known at the start or found by the abort): they
    /// were left to it, not restored.
    pub left_to_hpa: bool,
}

/// Ends the canary as [`plan_recovery`] decided. Idempotent: safe to re-run after an interruption.
pub async fn recover(
    apis: &Apis,
    name: &str,
    recovery: &CanaryRecovery,
    timeout: Duration,
    clock: &dyn Clock,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<RecoveryDone> {
    let reason = format!(
        "rolled back by kubectl posthog rollback ({})",
        state::driver_id()
    );
    if recovery.promoted {
        if recovery.state.is_some() {
            // Taking the Lease over tells a live driver, at its next write, that it lost the
            // canary: it stops, and never reports the promotion this rollback undoes.
            let me = state::driver_id();
            apis.write_decided(name, |stored| match (&stored.state, &stored.lease) {
                (Some(s), Some(lease)) if !s.phase.is_terminal() => {
                    let mut aborted = aborted_state(s, clock.now(), &reason);
                    aborted.driver = me.clone();
                    let lease = store::lease_for(name, Some(lease), None, &aborted);
                    Ok(Some(Write::Replace(store::with_annotation(
                        &lease,
                        state::COMMAND_ANNOTATION,
                        None,
                    ))))
                }
                _ => Ok(None),
            })
            .await?;
        }
        let removed =
            recovery.delete_canary && apis.remove_canary(&recovery.canary_name, timeout).await?;
        let stable = apis.get(name).await?;
        return Ok(RecoveryDone {
            by_driver: false,
            stable_replicas: ops::current_replicas(&stable),
            canary_removed: removed,
            left_to_hpa: false,
        });
    }
    if let Some(state) = recovery.state.as_ref().filter(|_| recovery.driver_alive) {
        let command = Command {
            action: Action::Abort,
            step: state.step,
            at: clock.now(),
            by: reason.clone(),
        };
        apis.write_command(name, Some(&command)).await?;
        on_event(&format!(
            "asked the canary driver ({}) to abort",
            state.driver
        ));
        if let Some(done) =
            await_driver_abort(apis, name, handoff_time(state, timeout), clock).await?
        {
            return Ok(done);
        }
        on_event("the canary driver did not abort in time: aborting from here");
    }
    // Capacity first: the stable back at full size and ready before the canary goes, so ready
    // pods never drop below what served before the canary (a rollback is often of a canary
    // nobody has judged bad yet; a breaching one is aborted by its own driver, canary first).
    let options = AbortOptions {
        order: AbortOrder::StableFirst,
        holder: None,
        timeout,
        reason,
    };
    let summary = abort::abort(apis, name, &options, clock, on_event).await?;
    Ok(RecoveryDone {
        by_driver: false,
        stable_replicas: summary.stable_replicas,
        canary_removed: summary.canary_removed,
        left_to_hpa: summary
            .state
            .as_ref()
            .is_some_and(|s| s.autoscaler.is_some()),
    })
}

/// Polls (this path is rare and short) until the driver marked its canary aborted.
async fn await_driver_abort(
    apis: &Apis,
    name: &str,
    within: Duration,
    clock: &dyn Clock,
) -> Result<Option<RecoveryDone>> {
    let started = tokio::time::Instant::now();
    while started.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let current = apis
            .read_stored(name)
            .await
            .map(|s| s.state)
            .unwrap_or(None);
        match current {
            Some(s) if s.phase == Phase::Aborted => {
                let (canary, stable) =
                    tokio::try_join!(apis.get_opt(&s.canary_name), apis.get(name))?;
                let left_to_hpa = s.autoscaler.is_some();
                return Ok(Some(RecoveryDone {
                    by_driver: true,
                    stable_replicas: if left_to_hpa {
                        ops::current_replicas(&stable)
                    } else {
                        s.stable_replicas
                    },
                    canary_removed: canary.is_none(),
                    left_to_hpa,
                }));
            }
            Some(s) if s.phase.is_terminal() || !state::is_driven(&s, clock.now()) => {
                return Ok(None);
            }
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
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
}
