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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
                let canary = apis.get_opt(&s.canary_name).await?;
                return Ok(Some(RecoveryDone {
                    by_driver: true,
                    stable_replicas: s.stable_replicas,
                    canary_removed: canary.is_none(),
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
#[path = "recover_tests.rs"]
mod tests;
