//! Aborting a canary: the stable back at its full pre-canary size and the canary removed, in the
//! order that suits why (a bad canary goes first; otherwise capacity comes back first). Safe at
//! any point of a canary, again after an interruption, or from another machine; the rollback
//! command reuses it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::objects::{self, CanaryMatch};
use super::ops::{Apis, current_replicas, ready_replicas};
use super::state::{self, CanaryState, Phase};
use super::store::{self, Write};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::rollout::status::{WaitError, wait_for_rollout};

/// In which order an abort restores capacity and removes the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortOrder {
    /// The canary is bad: scale it to zero at once while the stable scales back up (capacity
    /// dips to the stable's ready pods until its new pods are ready).
    CanaryFirst,
    /// Nothing is known to be wrong (an operator's abort, Ctrl-C): scale the stable back up,
    /// wait until it is ready, then remove the canary, so capacity never dips.
    StableFirst,
}

pub struct AbortOptions {
    pub order: AbortOrder,
    /// The canary's own driver aborting (its holder identity): it stops with
    /// [`crate::error::Error::Superseded`] when another process holds the Lease now. `None`
    /// for another process (`canary abort`, `rollback`), which takes the canary over.
    pub holder: Option<String>,
    /// How long to wait for the stable to be ready and the canary's pods to go.
    pub timeout: Duration,
    pub reason: String,
}

/// What an abort did.
#[derive(Debug, Clone, PartialEq)]
pub struct AbortSummary {
    /// False when there was no canary and no state: nothing to do.
    pub found: bool,
    pub stable_replicas: u32,
    pub stable_ready: u32,
    pub canary_removed: bool,
    /// When the canary's replicas were set to zero.
    pub canary_zeroed_at: Option<jiff::Timestamp>,
    pub state: Option<CanaryState>,
}

/// Restores the stable Deployment `name` to its full pre-canary replica count and removes its
/// canary; safe to call at any point of a canary, again after an interruption, or from another
/// machine. Refuses when the canary was already promoted (the stable runs the new template:
/// that is a rollback, not an abort).
pub async fn abort(
    apis: &Apis,
    name: &str,
    options: &AbortOptions,
    clock: &dyn Clock,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<AbortSummary> {
    let stable = apis.get(name).await?;
    let me = options.holder.clone().unwrap_or_else(state::driver_id);
    // Take the canary over (its own driver keeps it), decided on what the Lease records at the
    // moment of the conditional write: a driver that renewed meanwhile makes this re-decide.
    let mut taken: Option<CanaryState> = None;
    let stored = apis
        .write_decided(name, |stored| {
            taken = None;
            if let Some(holder) = &options.holder
                && stored.holder() != Some(holder.as_str())
            {
                return Err(store::superseded(name, stored));
            }
            let Some(s) = &stored.state else {
                return Ok(None);
            };
            // A promotion that has not reached the stable yet can still be aborted: its
            // driver's patch is conditional on the stable it read, and the scale below changes it.
            let reached = {
                let runs = objects::template_images(&stable);
                s.images.iter().all(|(c, i)| runs.get(c) == Some(i))
            };
            if matches!(s.phase, Phase::Promoted | Phase::PromotionFailed)
                || (s.phase == Phase::Promoting && reached)
            {
                // Name what the stable runs now, not what was promoted: a rollback may have followed.
                return Err(Error::Usage(format!(
                    "the canary of deployment/{name} {} ({}; the stable now runs {}): \
                     an abort cannot undo a promotion; use `kubectl posthog rollback deployment/{name}`",
                    match s.phase {
                        Phase::Promoting => "is being promoted",
                        Phase::PromotionFailed => "was promoted and its rollout failed",
                        _ => "was already promoted",
                    },
                    objects::images_text(&s.images),
                    objects::images_text(&objects::template_images(&stable))
                )));
            }
            if s.phase.is_terminal() {
                return Ok(None);
            }
            let mut s = s.clone();
            s.phase = Phase::Aborting;
            s.reason = Some(options.reason.clone());
            s.heartbeat = clock.now();
            s.driver = me.clone();
            let lease = store::lease_for(name, stored.lease.as_ref(), None, &s);
            taken = Some(s);
            Ok(Some(Write::Replace(lease)))
        })
        .await?;
    let state = stored.state.clone();
    let canary_name = state
        .as_ref()
        .map(|s| s.canary_name.clone())
        .unwrap_or_else(|| objects::canary_name(name));
    let canary = apis
        .get_opt(&canary_name)
        .await?
        .filter(|c| objects::canary_matches(c, name, &BTreeMap::new()) != CanaryMatch::NotOurs);
    let mut active = taken;
    if active.is_none() && canary.is_none() {
        return Ok(AbortSummary {
            found: false,
            stable_replicas: current_replicas(&stable),
            stable_ready: ready_replicas(&stable),
            canary_removed: false,
            canary_zeroed_at: None,
            state,
        });
    }
    // Without a state (a canary left by hand), the stable keeps its size: there is nothing
    // recorded to restore to.
    let replicas = active
        .as_ref()
        .map(|s| s.stable_replicas)
        .unwrap_or_else(|| current_replicas(&stable));
    // An HPA owns the stable's replicas: the abort leaves them to it (the canary never changed
    // them, or not since it appeared) and only removes the canary. One created mid-canary that
    // the driver has not seen yet is looked for here, so the abort never undoes its scaling.
    if let Some(s) = active.as_mut().filter(|s| s.autoscaler.is_none())
        && let Some(hpa) = objects::autoscaler_of(&apis.autoscalers().await?, name)
    {
        let hpa = hpa.metadata.name.clone().unwrap_or_default();
        on_event(&format!(
            "HorizontalPodAutoscaler {hpa} now scales deployment/{name}: the abort leaves \
             the stable's replicas to it"
        ));
        s.autoscaler = Some(state::Autoscaler {
            name: hpa,
            spec_fingerprint: objects::spec_fingerprint(&stable),
            canary_replicas: 0,
            stable_replicas: current_replicas(&stable),
            gone: false,
        });
    }
    let autoscaled = active.as_ref().is_some_and(|s| s.autoscaler.is_some());
    let hpa_gone = active
        .as_ref()
        .and_then(|s| s.autoscaler.as_ref())
        .is_some_and(|a| a.gone);
    let restore = async {
        if autoscaled {
            Ok(stable.clone())
        } else {
            apis.scale(name, replicas).await
        }
    };
    let mut state = active;
    let mut zeroed_at = None;
    let canary_exists = canary.is_some();
    match options.order {
        AbortOrder::CanaryFirst => {
            let (a, b) = tokio::join!(
                async {
                    if canary_exists {
                        apis.scale(&canary_name, 0).await.map(Some)
                    } else {
                        Ok(None)
                    }
                },
                restore
            );
            if a?.is_some() {
                zeroed_at = Some(clock.now());
                on_event(&format!("canary {canary_name} scaled to 0"));
            }
            b?;
            if !autoscaled {
                on_event(&format!("stable {name} scaled to {replicas}"));
            }
        }
        AbortOrder::StableFirst => {
            restore.await?;
            if hpa_gone {
                on_event(&format!(
                    "stable {name} left at its {} replicas (its HPA was deleted mid-canary); \
                     waiting until it is ready",
                    current_replicas(&stable)
                ));
            } else if autoscaled {
                on_event(&format!(
                    "stable {name} left at its HPA's {} replicas; waiting until it is ready",
                    current_replicas(&stable)
                ));
            } else {
                on_event(&format!(
                    "stable {name} scaled to {replicas}; waiting until it is ready"
                ));
            }
        }
    }
    let stable_after = wait_ready(apis, name, options.timeout, on_event).await?;
    if canary_exists && zeroed_at.is_none() {
        apis.scale(&canary_name, 0).await?;
        zeroed_at = Some(clock.now());
        on_event(&format!("canary {canary_name} scaled to 0"));
    }
    let removed = apis.remove_canary(&canary_name, options.timeout).await?;
    if removed {
        on_event(&format!("canary {canary_name} removed"));
    }
    if let Some(s) = state.as_mut() {
        s.phase = Phase::Aborted;
        s.heartbeat = clock.now();
        apis.write_held_with(name, &stored, s, |lease| {
            store::with_annotation(&lease, state::COMMAND_ANNOTATION, None)
        })
        .await?;
    }
    Ok(AbortSummary {
        found: true,
        stable_replicas: if autoscaled {
            current_replicas(&stable_after)
        } else {
            replicas
        },
        stable_ready: ready_replicas(&stable_after),
        canary_removed: removed,
        canary_zeroed_at: zeroed_at,
        state,
    })
}

/// Waits until the stable is ready again; a failing watch (an API error) is waited through, not
/// taken as "ready" — the canary is removed only once capacity is back or the time is up.
async fn wait_ready(
    apis: &Apis,
    name: &str,
    timeout: Duration,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<k8s_openapi::api::apps::v1::Deployment> {
    let started = tokio::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        match wait_for_rollout(&apis.deployments, name, left, |_, _| {}).await {
            Ok(d) => return Ok(d),
            Err(WaitError::Api { context, source }) if !left.is_zero() => {
                tracing::info!("{context}: {source}; waiting on");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                // Capacity did not come back in time: still remove the canary, and say so.
                on_event(&format!("the stable is not fully ready: {e}"));
                return apis.get(name).await;
            }
        }
    }
}
