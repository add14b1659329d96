//! How a canary ends: promotion (the stable takes the new template, then the canary goes),
//! abort (the stable back at full size, the canary removed), or an interrupt.

use super::abort::{self, AbortOptions, AbortOrder};
use super::driver::{AbortKind, Driver, Outcome};
use super::objects;
use super::ops;
use super::settings::OnInterrupt;
use super::state::{self, Phase};
use super::store;
use crate::error::{Error, Result};
use crate::rollout::status::{WaitError, wait_for_rollout};

fn runs_images(
    deployment: &k8s_openapi::api::apps::v1::Deployment,
    images: &std::collections::BTreeMap<String, String>,
) -> bool {
    let current = objects::template_images(deployment);
    images.iter().all(|(c, i)| current.get(c) == Some(i))
}

impl Driver<'_> {
    /// Lets go of the canary for `--resume`: `released` tells it at once that nobody drives
    /// this canary (the heartbeat stays the real last one; the Lease keeps its holder until
    /// someone takes it).
    async fn release(&mut self) -> Result<()> {
        self.state.released = true;
        self.state.heartbeat = self.clock.now();
        self.stored = self
            .apis
            .write_held(&self.name, &self.stored, &self.state)
            .await?;
        Ok(())
    }

    pub(super) async fn abort(&mut self, kind: AbortKind, reason: String) -> Result<Outcome> {
        self.view.event(&format!("ABORT: {reason}"));
        // Only a canary known to be bad (a breach, failing pods) goes first; readings without
        // data, an operator, a conflict or an error bring the stable back first.
        let order = match kind {
            AbortKind::Analysis | AbortKind::Health => AbortOrder::CanaryFirst,
            AbortKind::Inconclusive { .. }
            | AbortKind::Operator(_)
            | AbortKind::Conflict
            | AbortKind::Error => AbortOrder::StableFirst,
        };
        self.state.phase = Phase::Aborting;
        self.state.reason = Some(reason.clone());
        self.write_state().await?;
        let view = self.view.clone();
        let options = AbortOptions {
            order,
            holder: Some(self.state.driver.clone()),
            timeout: self.settings.timeout,
            reason: reason.clone(),
        };
        let summary = abort::abort(
            &self.apis,
            &self.name,
            &options,
            self.clock.as_ref(),
            &|line| view.event(line),
        )
        .await?;
        if let Some(state) = &summary.state {
            self.state = state.clone();
        }
        Ok(Outcome::Aborted {
            kind,
            reason,
            summary,
        })
    }

    pub(super) async fn interrupted(&mut self) -> Result<Outcome> {
        match self.settings.on_interrupt {
            OnInterrupt::Abort => {
                self.view
                    .event("interrupted: restoring the stable and removing the canary (Ctrl-C again to stop at once)");
                let outcome = self
                    .abort(
                        AbortKind::Operator("interrupt".into()),
                        "interrupted (SIGINT/SIGTERM)".into(),
                    )
                    .await?;
                match outcome {
                    Outcome::Aborted { summary, .. } => Ok(Outcome::Interrupted {
                        abort: Some(summary),
                    }),
                    other => Ok(other),
                }
            }
            OnInterrupt::Leave => {
                self.state.reason =
                    Some("left by an interrupt: resume with `canary --resume`".into());
                self.release().await?;
                Ok(Outcome::Interrupted { abort: None })
            }
        }
    }

    pub(super) async fn promote(&mut self) -> Result<Outcome> {
        self.state.phase = Phase::Promoting;
        self.state.pause_started_at = None;
        self.write_state().await?;
        let mut stable = self.apis.get(&self.name).await?;
        // Still ours after that read? An abort or rollback that took the canary over meanwhile
        // changed the stable after taking the Lease, so either this read sees the Lease taken or
        // the patch below (conditional on this read) fails.
        self.refresh().await?;
        // With an HPA the promotion writes the template only: the HPA keeps `spec.replicas`
        // (one created or deleted since the last step is looked for first).
        self.stable = stable.clone();
        self.reconcile_autoscaler().await?;
        let autoscaled = self.state.autoscaler.clone();
        let current = objects::template_images(&stable);
        let done = self
            .state
            .images
            .iter()
            .all(|(c, i)| current.get(c) == Some(i));
        if !done {
            let cause = format!(
                "kubectl posthog canary: promoted {}",
                self.state
                    .images
                    .iter()
                    .map(|(c, i)| format!("{c}={i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let replicas = autoscaled.is_none().then_some(self.state.stable_replicas);
            let mut attempts = 0;
            loop {
                attempts += 1;
                let patch = objects::promotion_patch(&stable, &self.state.images, replicas, &cause)
                    .map_err(Error::Input)?;
                let patched = self
                    .apis
                    .deployments
                    .patch(
                        &self.name,
                        &kube::api::PatchParams {
                            field_manager: Some(ops::FIELD_MANAGER.into()),
                            ..Default::default()
                        },
                        &kube::api::Patch::Json::<()>(patch),
                    )
                    .await;
                match patched {
                    Ok(_) => break,
                    // The test on the resourceVersion failed: someone changed the stable since.
                    // The HPA scaling it in between is no conflict: re-read and write again.
                    Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 => {
                        let fresh = self.apis.get(&self.name).await?;
                        if let Some(a) = &autoscaled
                            && attempts < 5
                            && objects::spec_fingerprint(&fresh) == a.spec_fingerprint
                        {
                            stable = fresh;
                            continue;
                        }
                        self.refresh().await?;
                        return Err(Error::Superseded(format!(
                            "deployment/{} changed just before the promotion was written: nothing \
                             was promoted; see `kubectl posthog canary status deployment/{}`",
                            self.name, self.name
                        )));
                    }
                    Err(e) => {
                        return Err(crate::kube::api_error(
                            &format!("promote deployment {}/{}", self.apis.namespace, self.name),
                            &self.apis.server,
                            e,
                        ));
                    }
                }
            }
            self.view.event(&format!(
                "stable {} now runs {}; waiting for its rollout",
                self.name,
                objects::images_text(&self.state.images)
            ));
        } else if autoscaled.is_none()
            && ops::current_replicas(&stable) != self.state.stable_replicas
        {
            self.apis
                .scale(&self.name, self.state.stable_replicas)
                .await?;
        }
        self.view.scaling("stable rolling out the new template");
        let view = self.view.clone();
        let deployments = self.apis.deployments.clone();
        let want = self.state.stable_replicas;
        // The canary keeps serving at its last step's size until the stable's rollout is done.
        let canary = self
            .state
            .step
            .checked_sub(1)
            .and_then(|i| self.state.steps.get(i))
            .map_or(0, |s| s.canary_replicas);
        let canary = autoscaled.as_ref().map_or(canary, |a| a.canary_replicas);
        let follows_hpa = autoscaled.is_some();
        let wait = wait_for_rollout(&deployments, &self.name, self.settings.timeout, |d, s| {
            let want = if follows_hpa {
                ops::current_replicas(d)
            } else {
                want
            };
            view.pods(Some((canary, canary)), Some((ops::ready_replicas(d), want)));
            if let crate::rollout::status::RolloutStatus::Progressing { updated, .. } = s {
                view.scaling(&format!("stable rollout: {updated}/{want} updated"));
            }
        });
        let interrupt = self.interrupt.clone();
        let result = tokio::select! {
            r = wait => r,
            () = interrupt.wait() => {
                // The stable already has the new template: nothing to abort to. Leave the
                // controller to finish; `--resume` waits for it and removes the canary.
                self.view.event("interrupted during promotion: the rollout continues; `canary --resume` finishes it");
                self.release().await?;
                return Ok(Outcome::Interrupted { abort: None });
            }
        };
        let canary_name = objects::canary_name(&self.name);
        match result {
            Ok(rolled) if !runs_images(&rolled, &self.state.images) => {
                // The rollout that completed is not ours: someone changed the stable meanwhile
                // (a rollback, `kubectl set image`). Never report that as a promotion.
                self.refresh().await?;
                Err(Error::Superseded(format!(
                    "deployment/{} was changed during the promotion: it runs {}, not the \
                     promoted {}; nothing more was changed",
                    self.name,
                    objects::images_text(&objects::template_images(&rolled)),
                    objects::images_text(&self.state.images)
                )))
            }
            Ok(rolled) => {
                if follows_hpa {
                    // The stable's size is the HPA's: the report says the one it has.
                    self.state.stable_replicas = ops::current_replicas(&rolled);
                }
                self.apis
                    .remove_canary(&canary_name, self.settings.timeout)
                    .await?;
                self.view.event(&format!("canary {canary_name} removed"));
                self.state.phase = Phase::Promoted;
                self.state.reason = None;
                self.state.heartbeat = self.clock.now();
                self.stored = self
                    .apis
                    .write_held_with(&self.name, &self.stored, &self.state, |lease| {
                        store::with_annotation(&lease, state::COMMAND_ANNOTATION, None)
                    })
                    .await?;
                Ok(Outcome::Promoted)
            }
            Err(WaitError::Api { context, source }) => {
                Err(crate::kube::api_error(&context, &self.apis.server, source))
            }
            Err(e) => {
                self.view.event(&format!(
                    "PROMOTION FAILED: {e}; rolling the stable back to its previous revision"
                ));
                self.apis
                    .remove_canary(&canary_name, self.settings.timeout)
                    .await?;
                let message = match self.undo_promotion().await {
                    Ok(done) => {
                        format!("the stable's rollout of the new template failed: {e}; {done}")
                    }
                    Err(undo) => format!(
                        "the stable's rollout of the new template failed: {e}; the automatic rollback \
                         did not complete ({undo}): roll back with `kubectl posthog rollback deployment/{}`",
                        self.name
                    ),
                };
                self.view.event(&message);
                self.state.phase = Phase::PromotionFailed;
                self.state.reason = Some(message.clone());
                self.write_state().await?;
                Ok(Outcome::PromotionFailed(message))
            }
        }
    }

    /// After a failed promotion: the stable goes back to the revision before the promotion,
    /// exactly as `kubectl rollout undo` would, and the rollout is waited for. Only when the
    /// stable still runs the promoted images (nobody changed it since), so a human's later
    /// change is never undone. Returns what was done, for the report.
    async fn undo_promotion(&mut self) -> std::result::Result<String, String> {
        let replica_sets = &self.apis.replica_sets;
        let (namespace, name) = (&self.apis.namespace, &self.name);
        // One read serves both the check and the undo's decision (it re-reads only on 409).
        let fetched =
            crate::rollout::apply::fetch(&self.apis.deployments, replica_sets, namespace, name)
                .await
                .map_err(|e| e.to_string())?;
        let current = objects::template_images(&fetched.deployment);
        if self
            .state
            .images
            .iter()
            .any(|(c, i)| current.get(c) != Some(i))
        {
            return Err(format!(
                "the stable no longer runs the promoted images (now {}), so it was left as it is",
                objects::images_text(&current)
            ));
        }
        let outcome = crate::rollout::apply::undo(
            &self.apis.deployments,
            replica_sets,
            namespace,
            name,
            0,
            Some(fetched),
        )
        .await
        .map_err(|e| e.to_string())?;
        let plan = &outcome.plan;
        let Some(patched) = outcome.patched else {
            return Ok(format!(
                "the stable already matches revision {}",
                plan.target_revision
            ));
        };
        let images = objects::images_text(&objects::template_images(&patched));
        self.view.event(&format!(
            "stable {} rolled back to revision {} ({images})",
            self.name, plan.target_revision
        ));
        self.view.scaling("stable rolling back");
        let view = self.view.clone();
        let want = self.state.stable_replicas;
        crate::rollout::status::wait_for_rollout_from(
            &self.apis.deployments,
            &patched,
            self.settings.timeout,
            |d, _| view.pods(Some((0, 0)), Some((ops::ready_replicas(d), want))),
        )
        .await
        .map_err(|e| format!("rolled back to revision {}, but {e}", plan.target_revision))?;
        Ok(format!(
            "rolled back automatically to revision {} ({images}), which rolled out",
            plan.target_revision
        ))
    }
}
