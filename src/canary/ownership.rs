//! What a running driver keeps checking, and what it does when the cluster fails it: it still
//! holds the canary (the Lease), nobody else changed the stable (`--on-conflict`), and a run the
//! cluster keeps failing ends in a safe state (`--on-error`).

use std::time::Duration;

use super::driver::{AbortKind, Driver, Outcome, StepEnd};
use super::ops;
use super::settings::{OnConflict, OnError};
use super::state::Phase;
use super::store;
use crate::error::{Error, Result};

impl Driver<'_> {
    /// The cluster failed the run for good: with `--on-error abort`, a best-effort safe abort
    /// (as Ctrl-C does) so the canary is not left serving unwatched; an input error (the run
    /// cannot go on as configured) is aborted too. What could not be done is said.
    pub(super) async fn failed(&mut self, error: Error) -> Outcome {
        let promoting = matches!(
            self.state.phase,
            Phase::Promoting | Phase::Promoted | Phase::PromotionFailed | Phase::Aborted
        );
        if self.settings.on_error == OnError::Leave || promoting {
            return Outcome::Failed { error, abort: None };
        }
        self.view.event(&format!(
            "error: {error}; aborting the canary (--on-error abort)"
        ));
        let reason = format!("the cluster failed the run: {error}");
        // The API may still be failing: try the abort a few times, a little apart, within
        // the run's timeout (each request is retried inside as well).
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_secs(1);
        loop {
            match self.abort(AbortKind::Error, reason.clone()).await {
                Ok(Outcome::Aborted { summary, .. }) => {
                    return Outcome::Failed {
                        error,
                        abort: Some(summary),
                    };
                }
                Err(Error::Superseded(message)) => return Outcome::Superseded(message),
                Ok(_) => return Outcome::Failed { error, abort: None },
                Err(again) if started.elapsed() + wait < self.settings.timeout => {
                    self.view
                        .event(&format!("the abort failed too ({again}); trying again"));
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(_) => return Outcome::Failed { error, abort: None },
            }
        }
    }

    /// Just before the promotion writes the stable: a stable changed by someone else holds or
    /// aborts here too (by `--on-conflict`); a hold waits, analysing, for `canary promote`
    /// (then `Next`) or `canary abort`. `None`: promote now.
    pub(super) async fn hold_before_promotion(&mut self) -> Result<Option<StepEnd>> {
        self.stable = self.apis.get(&self.name).await?;
        if let Some(end) = self.stable_changed().await? {
            return Ok(Some(end));
        }
        if self.state.phase != Phase::Held {
            return Ok(None);
        }
        let last = self
            .state
            .step
            .checked_sub(1)
            .and_then(|i| self.state.steps.get(i))
            .cloned();
        let canary = self.apis.get_opt(&self.state.canary_name).await?;
        match (last, canary) {
            (Some(last), Some(canary)) => Ok(Some(self.pause(&last, &canary).await?)),
            _ => Ok(None),
        }
    }

    /// Re-reads the Lease (commands from other processes); another holder means this run lost
    /// the canary.
    pub(super) async fn refresh(&mut self) -> Result<()> {
        let fresh = self.apis.read_stored(&self.name).await?;
        if fresh.holder() != Some(self.state.driver.as_str()) {
            return Err(store::superseded(&self.name, &fresh));
        }
        self.stored = fresh;
        Ok(())
    }

    /// Someone else changed the stable's spec (its generation moved past the last one this
    /// driver wrote or accepted): hold or abort, by `--on-conflict`, and say what changed.
    pub(super) async fn stable_changed(&mut self) -> Result<Option<StepEnd>> {
        let generation = self.stable.metadata.generation;
        if generation.is_none() || generation == self.state.stable_generation {
            return Ok(None);
        }
        let Some(known) = self.state.stable_generation else {
            self.state.stable_generation = generation;
            return Ok(None);
        };
        // A new generation that changed nothing but spec.replicas (with an HPA known: the spec
        // as last accepted; without: the images as they were) may be an HPA scaling, its to
        // make: the HPAs are listed to tell. The HPA known and still there, or one created
        // since, is no conflict; none (or the known one deleted) means someone scaled it.
        let only_scaled = match &self.state.autoscaler {
            Some(a) => a.spec_fingerprint == super::objects::spec_fingerprint(&self.stable),
            None => {
                super::objects::template_images(&self.stable) == self.state.stable_images
                    && ops::current_replicas(&self.stable) != self.expected_stable_replicas()
            }
        };
        if only_scaled {
            self.reconcile_autoscaler().await?;
            if self.state.autoscaler.as_ref().is_some_and(|a| !a.gone) {
                self.state.stable_generation = generation;
                if let Some(a) = self.state.autoscaler.as_mut() {
                    a.stable_replicas = ops::current_replicas(&self.stable);
                }
                return Ok(None);
            }
        }
        let change = super::conflict::describe(
            &self.name,
            &self.stable,
            &self.state,
            self.expected_stable_replicas(),
        );
        self.state.stable_generation = generation;
        let replicas = ops::current_replicas(&self.stable);
        // An abort never shrinks the stable below what it was scaled to meanwhile.
        self.state.stable_replicas = self.state.stable_replicas.max(replicas);
        tracing::info!(known, ?generation, "{change}");
        match self.settings.on_conflict {
            OnConflict::Abort => Ok(Some(StepEnd::Abort(
                AbortKind::Conflict,
                format!("{change} (--on-conflict abort)"),
            ))),
            OnConflict::Hold => {
                let reason = format!(
                    "{change}: holding; `kubectl posthog canary promote deployment/{name}` goes \
                     on (the canary's steps scale the stable again and the promotion writes the \
                     canary's images), `canary abort deployment/{name}` restores the stable",
                    name = self.name
                );
                self.view.event(&format!("HOLD: {reason}"));
                self.state.phase = Phase::Held;
                self.state.reason = Some(reason);
                self.write_state().await?;
                Ok(None)
            }
        }
    }

    /// The stable's replicas this driver last set: the current step's once it scaled, the
    /// previous step's before; with an HPA, the HPA's as last seen.
    fn expected_stable_replicas(&self) -> u32 {
        if let Some(a) = &self.state.autoscaler {
            return a.stable_replicas;
        }
        let step = self.state.current();
        let previous = self
            .state
            .step
            .checked_sub(1)
            .and_then(|i| self.state.steps.get(i));
        match self.state.phase {
            Phase::Paused | Phase::Held => step.map(|s| s.stable_replicas),
            _ => previous.map(|s| s.stable_replicas),
        }
        .unwrap_or(self.state.stable_replicas)
    }
}
