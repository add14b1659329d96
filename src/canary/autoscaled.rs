//! A canary beside an HPA: the stable's replicas are the HPA's, so each step's canary count
//! follows them ([`super::plan::autoscaled_canary_replicas`]); the HPA object and the stable's
//! `spec.replicas` are never written.

use super::driver::Driver;
use super::ops;
use super::plan::CanaryStep;
use crate::error::Result;

impl Driver<'_> {
    /// The step's counts as they are now: with an HPA on the stable, the canary's count for the
    /// stable's current replicas ([`super::plan::autoscaled_canary_replicas`]); else as planned.
    pub(super) fn live_step(&self, step: &CanaryStep) -> CanaryStep {
        let mut live = step.clone();
        if self.state.autoscaler.is_some() && !step.is_promotion() {
            let stable = ops::current_replicas(&self.stable);
            live.stable_replicas = stable;
            live.canary_replicas = super::plan::autoscaled_canary_replicas(stable, step.weight);
        }
        live
    }

    /// With an HPA on the stable: the HPA scaled it, so the canary follows to keep the step's
    /// share (the HPA's object and the stable's replicas are never written).
    pub(super) async fn follow_autoscaler(&mut self, step: &CanaryStep) -> Result<CanaryStep> {
        let live = self.live_step(step);
        let Some(known) = self.state.autoscaler.as_ref().map(|a| a.canary_replicas) else {
            return Ok(live);
        };
        if step.is_promotion() || known == live.canary_replicas {
            return Ok(live);
        }
        self.apis
            .scale(&self.state.canary_name, live.canary_replicas)
            .await?;
        if let Some(a) = self.state.autoscaler.as_mut() {
            a.canary_replicas = live.canary_replicas;
        }
        self.view.event(&format!(
            "the HPA has the stable at {} replicas: canary scaled from {known} to {} ({:.1}% of pods at {}%)",
            live.stable_replicas,
            live.canary_replicas,
            live.actual_share(),
            live.weight
        ));
        self.write_state().await?;
        Ok(live)
    }
}
