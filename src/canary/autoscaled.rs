//! A canary beside an HPA: the stable's replicas are the HPA's, so each step's canary count
//! follows them ([`super::plan::autoscaled_canary_replicas`]); the HPA object and the stable's
//! `spec.replicas` are never written. An HPA created mid-canary is taken on at the next look
//! ([`hpa_change`]): before every write of the stable's replicas, at every step and promotion,
//! and when someone else scales the stable; one deleted mid-canary leaves the stable as it is.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::driver::Driver;
use super::objects;
use super::ops;
use super::plan::CanaryStep;
use super::state::Autoscaler;
use crate::error::Result;

/// What the namespace's HPAs say about the stable, against the HPA the canary knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HpaChange {
    /// As known: nothing to do.
    Same,
    /// An HPA (by this name) targets the stable, and the canary did not follow it: from now on
    /// the stable's replicas are the HPA's.
    Adopt(String),
    /// The HPA the canary followed (by this name) is gone: the stable keeps its replicas as they
    /// are, still never written by the canary (writing them back could undo a human's choice).
    Gone(String),
}

/// Pure: the change from `known` to the HPAs listed now.
pub fn hpa_change(
    known: Option<&Autoscaler>,
    hpas: &[HorizontalPodAutoscaler],
    stable: &str,
) -> HpaChange {
    let found = objects::autoscaler_of(hpas, stable).and_then(|h| h.metadata.name.clone());
    match (known, found) {
        (None, None) => HpaChange::Same,
        (Some(a), Some(name)) if a.name == name && !a.gone => HpaChange::Same,
        (_, Some(name)) => HpaChange::Adopt(name),
        (Some(a), None) if a.gone => HpaChange::Same,
        (Some(a), None) => HpaChange::Gone(a.name.clone()),
    }
}

impl Driver<'_> {
    /// Lists the HPAs (one request) and follows what changed ([`hpa_change`]), said as an event
    /// and recorded in the state (so `--resume` does the same). True when an HPA was taken on.
    pub(super) async fn reconcile_autoscaler(&mut self) -> Result<bool> {
        let hpas = self.apis.autoscalers().await?;
        let change = hpa_change(self.state.autoscaler.as_ref(), &hpas, &self.name);
        tracing::debug!(?change, "the HPAs on deployment/{}", self.name);
        let replicas = ops::current_replicas(&self.stable);
        match &change {
            HpaChange::Same => return Ok(false),
            HpaChange::Adopt(hpa) => {
                // The canary as it is (the next tick sizes it from the HPA's count).
                let canary = self.apis.get_opt(&self.state.canary_name).await?;
                self.state.autoscaler = Some(Autoscaler {
                    name: hpa.clone(),
                    spec_fingerprint: objects::spec_fingerprint(&self.stable),
                    canary_replicas: canary.as_ref().map_or(0, ops::current_replicas),
                    stable_replicas: replicas,
                    gone: false,
                });
                // Whatever it changed of the replicas so far was the HPA's to change.
                self.state.stable_generation = self.stable.metadata.generation;
                self.view.event(&format!(
                    "HorizontalPodAutoscaler {hpa} now scales deployment/{}: the canary leaves \
                     its replicas (now {replicas}) to the HPA and sizes the canary from them",
                    self.name
                ));
            }
            HpaChange::Gone(hpa) => {
                if let Some(a) = self.state.autoscaler.as_mut() {
                    a.gone = true;
                    a.stable_replicas = replicas;
                }
                self.view.event(&format!(
                    "HorizontalPodAutoscaler {hpa} was deleted: deployment/{} keeps its \
                     {replicas} replicas (the canary does not size the stable; it sizes the \
                     canary from them)",
                    self.name
                ));
            }
        }
        self.write_state().await?;
        Ok(matches!(change, HpaChange::Adopt(_)))
    }

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
        // Held (someone else changed the stable), or the HPA gone: a change of the stable's
        // count is not the HPA's, and the canary stays as it is.
        let gone = self.state.autoscaler.as_ref().is_some_and(|a| a.gone);
        if gone || self.state.phase == super::state::Phase::Held {
            return Ok(CanaryStep {
                canary_replicas: known,
                ..live
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(name: &str, target: &str) -> HorizontalPodAutoscaler {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "maxReplicas": 10},
        }))
        .expect("an HPA")
    }

    fn known(name: &str, gone: bool) -> Autoscaler {
        Autoscaler {
            gone,
            ..crate::canary::state::tests::sample_autoscaler(name, 4, 2)
        }
    }

    /// An HPA created, deleted, re-created or replaced mid-canary: each change once, none for
    /// another Deployment's HPA.
    #[test]
    fn an_hpa_that_appears_or_goes_mid_canary_is_a_change_once() {
        let other = [hpa("cart", "cart")];
        assert_eq!(hpa_change(None, &other, "web"), HpaChange::Same);
        assert_eq!(
            hpa_change(None, &[hpa("web", "web")], "web"),
            HpaChange::Adopt("web".into())
        );
        let followed = known("web", false);
        assert_eq!(
            hpa_change(Some(&followed), &[hpa("web", "web")], "web"),
            HpaChange::Same
        );
        assert_eq!(
            hpa_change(Some(&followed), &other, "web"),
            HpaChange::Gone("web".into())
        );
        let gone = known("web", true);
        assert_eq!(hpa_change(Some(&gone), &other, "web"), HpaChange::Same);
        assert_eq!(
            hpa_change(Some(&gone), &[hpa("web", "web")], "web"),
            HpaChange::Adopt("web".into())
        );
        assert_eq!(
            hpa_change(Some(&followed), &[hpa("web-v2", "web")], "web"),
            HpaChange::Adopt("web-v2".into())
        );
    }
}
