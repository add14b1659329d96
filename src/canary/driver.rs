//! The loop that drives a canary: for each step, bring the canary up to its count and wait for
//! its pods (watching their health), scale the stable down, then wait out the pause analysing
//! every interval; at 100 % promote; on a breach, bad health, `canary abort` or Ctrl-C, abort.
//! Every step is recorded in the state annotation first, so any point can be resumed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use super::abort::AbortSummary;
use super::analysis::Reading;
use super::health::{self, PodHealth};
use super::objects;
use super::ops::{self, Apis};
use super::plan::CanaryStep;
use super::settings::{BoundMetric, Settings};
use super::source::MetricSource;
use super::state::{self, Action, CanaryState, Phase};
use super::store::{self, Stored};
use super::view::LiveView;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::rollout::status::{WaitError, wait_for_rollout};

/// Why a canary was aborted.
#[derive(Debug, Clone, PartialEq)]
pub enum AbortKind {
    /// A metric breached its threshold (P1 at once, P2 after the failure limit).
    Analysis,
    /// Readings stayed inconclusive; `infrastructure` when the source was failing.
    Inconclusive { infrastructure: bool },
    /// The canary's pods crashed, restarted or did not become ready in time.
    Health,
    /// `kubectl posthog canary abort`.
    Operator(String),
    /// Someone else changed the stable mid-canary, with `--on-conflict abort`.
    Conflict,
    /// The cluster kept failing the run, with `--on-error abort`: a best-effort safe abort.
    Error,
}

/// How a canary run ended.
#[derive(Debug)]
pub enum Outcome {
    Promoted,
    Aborted {
        kind: AbortKind,
        reason: String,
        summary: AbortSummary,
    },
    /// The stable's rollout of the new template failed after promotion.
    PromotionFailed(String),
    /// Ctrl-C/SIGTERM: aborted safely, or left for `--resume`.
    Interrupted {
        abort: Option<AbortSummary>,
    },
    /// The cluster failed mid-canary: the canary was aborted as well as could be (`abort`), or
    /// left where it was for `--resume`/`abort`.
    Failed {
        error: Error,
        abort: Option<AbortSummary>,
    },
    /// Another process took the canary over (its Lease): this run stopped without changing
    /// anything more. Never a success.
    Superseded(String),
}

/// What the report needs besides the final state.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub rounds: usize,
    /// The latest reading of each metric.
    pub latest: BTreeMap<String, Reading>,
    pub health: PodHealth,
    /// Per step number: how many analysis rounds it had.
    pub rounds_per_step: BTreeMap<usize, usize>,
    /// When the deciding reading was taken (for the abort latency).
    pub decided_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
}

pub(super) enum StepEnd {
    Next,
    Abort(AbortKind, String),
    Interrupted,
}

pub struct Driver<'a> {
    pub apis: Apis,
    pub name: String,
    pub settings: &'a Settings,
    /// The metrics with their queries, re-bound to the canary's pods whenever they change.
    pub bound: Vec<BoundMetric>,
    /// The canary pods the queries currently name.
    pub canary_pods: Vec<String>,
    /// Metrics with at least one conclusive reading in the current step's pause.
    pub measured_in_step: std::collections::BTreeSet<String>,
    /// The current pause had ended before this run took the canary over (a late `--resume`).
    pub resumed_late: bool,
    /// Where `--notify` sends the canary's events (each passed step here; start and end by the
    /// command).
    pub notifier: &'a crate::notify::Notifier,
    pub event_target: crate::event::EventTarget,
    pub source: &'a dyn MetricSource,
    pub clock: Arc<dyn Clock>,
    pub view: LiveView,
    pub interrupt: Interrupt,
    pub state: CanaryState,
    pub record: Record,
    /// The stable as last read; its template is the canary's base until promotion.
    pub stable: Deployment,
    /// The canary's Lease as this driver last wrote or read it: every write is conditional on it.
    pub stored: Stored,
}

impl Driver<'_> {
    /// Runs the canary from wherever its state says it is until it ends.
    pub async fn run(&mut self) -> Outcome {
        let result = self.run_inner().await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(Error::Superseded(message)) => {
                self.view.event(&format!("STOPPED: {message}"));
                Outcome::Superseded(message)
            }
            Err(error) => self.failed(error).await,
        };
        self.record.finished_at = Some(self.clock.now());
        self.view.finish();
        outcome
    }

    async fn run_inner(&mut self) -> Result<Outcome> {
        match self.state.phase {
            Phase::Aborting => {
                let reason = self
                    .state
                    .reason
                    .clone()
                    .unwrap_or_else(|| "aborting".into());
                return self
                    .abort(AbortKind::Operator("resumed abort".into()), reason)
                    .await;
            }
            Phase::Promoting => return self.promote().await,
            _ => {}
        }
        loop {
            let step = self.state.steps[self.state.step].clone();
            if step.is_promotion() {
                self.view.step(&step, self.state.steps.len());
                if let Some(end) = self.hold_before_promotion().await? {
                    return match end {
                        StepEnd::Abort(kind, reason) => self.abort(kind, reason).await,
                        StepEnd::Interrupted => self.interrupted().await,
                        StepEnd::Next => self.promote().await,
                    };
                }
                return self.promote().await;
            }
            match self.run_step(&step).await? {
                StepEnd::Next => {
                    self.step_passed(&step).await;
                    // `canary promote --full` may have jumped to the promotion already.
                    self.state.step = self.state.step.max(step.number);
                    self.state.phase = Phase::Progressing;
                    self.state.pause_started_at = None;
                    self.state.step_started_at = self.clock.now();
                    self.write_state().await?;
                }
                StepEnd::Abort(kind, reason) => return self.abort(kind, reason).await,
                StepEnd::Interrupted => return self.interrupted().await,
            }
        }
    }

    async fn run_step(&mut self, step: &CanaryStep) -> Result<StepEnd> {
        self.reconcile_autoscaler().await?;
        let step = &self.live_step(step);
        self.view.step(step, self.state.steps.len());
        if self.state.phase != Phase::Paused && self.state.phase != Phase::Held {
            self.state.phase = Phase::Progressing;
            self.write_state().await?;
        }
        let canary = self
            .apis
            .ensure_canary(
                &self.stable,
                &self.state.images,
                &self.settings.naming.track_label,
                step.canary_replicas,
            )
            .await?;
        if let Some(a) = self.state.autoscaler.as_mut() {
            a.canary_replicas = step.canary_replicas;
        }
        self.view.scaling(&format!(
            "waiting for {} canary pod(s) to be ready",
            step.canary_replicas
        ));
        if let Some(end) = self.wait_canary_ready(&canary, step).await? {
            return Ok(end);
        }
        let current = ops::current_replicas(&self.stable);
        // With an HPA the stable's replicas are the HPA's: never written (one created since
        // the step began is looked for first).
        if current != step.stable_replicas
            && self.state.phase != Phase::Held
            && self.state.autoscaler.is_none()
            && !self.reconcile_autoscaler().await?
        {
            self.stable = self.apis.scale(&self.name, step.stable_replicas).await?;
            self.state.stable_generation = self.stable.metadata.generation;
            self.view.event(&format!(
                "stable {} scaled from {current} to {}",
                self.name, step.stable_replicas
            ));
        }
        if self.state.pause_started_at.is_none() {
            self.state.pause_started_at = Some(self.clock.now());
        }
        self.state.phase = if self.state.phase == Phase::Held {
            Phase::Held
        } else {
            Phase::Paused
        };
        self.write_state().await?;
        self.pause(step, &canary).await
    }

    /// Waits for the canary's rollout with one watch, looking at pod health and commands
    /// every tick. `None` when ready.
    async fn wait_canary_ready(
        &mut self,
        canary: &Deployment,
        step: &CanaryStep,
    ) -> Result<Option<StepEnd>> {
        let name = objects::canary_name(&self.name);
        let deployments = self.apis.deployments.clone();
        let view = self.view.clone();
        let want = step.canary_replicas;
        let watch = wait_for_rollout(&deployments, &name, self.settings.ready_timeout, |d, _| {
            // The stable is not read here: its last known count stays (never a false zero).
            view.pods(Some((ops::ready_replicas(d), want)), None);
        });
        tokio::pin!(watch);
        let interrupt = self.interrupt.clone();
        let mut ticker = tokio::time::interval(self.settings.tick().min(Duration::from_secs(2)));
        loop {
            tokio::select! {
                result = &mut watch => return match result {
                    Ok(_) => Ok(None),
                    Err(WaitError::Timeout { last, timeout, .. }) => Ok(Some(StepEnd::Abort(
                        AbortKind::Health,
                        format!(
                            "canary pods not ready within the progress deadline ({}): {last}",
                            humantime::format_duration(timeout)
                        ),
                    ))),
                    Err(WaitError::Failed(message)) => {
                        Ok(Some(StepEnd::Abort(AbortKind::Health, message)))
                    }
                    Err(other) => Err(other.into_error(&self.apis.server)),
                },
                _ = ticker.tick() => {
                    if let Some(end) = self.poll(canary, step).await? {
                        return Ok(Some(end));
                    }
                }
                () = interrupt.wait() => return Ok(Some(StepEnd::Interrupted)),
            }
        }
    }

    /// Reads the command annotation and the canary's pod health; writes the heartbeat when due.
    pub(super) async fn poll(
        &mut self,
        canary: &Deployment,
        step: &CanaryStep,
    ) -> Result<Option<StepEnd>> {
        let heartbeat_due = self.clock.now().duration_since(self.state.heartbeat)
            >= jiff::SignedDuration::try_from(self.settings.interval).unwrap_or_default();
        if heartbeat_due {
            self.write_state().await?;
        } else {
            self.refresh().await?;
        }
        self.stable = self.apis.get(&self.name).await?;
        if let Some(end) = self.stable_changed().await? {
            return Ok(Some(end));
        }
        let step = &self.follow_autoscaler(step).await?;
        let pods = self.apis.pods_of(canary).await?;
        self.rescope(&pods)?;
        let health = health::assess(&pods, self.settings.max_restarts);
        self.view.pods(
            Some((health.ready, step.canary_replicas)),
            Some((
                ops::ready_replicas(&self.stable),
                ops::current_replicas(&self.stable),
            )),
        );
        self.record.health = health.clone();
        if health.is_failing() {
            return Ok(Some(StepEnd::Abort(
                AbortKind::Health,
                format!("canary pod health: {}", health.problems.join("; ")),
            )));
        }
        if let Some(command) = self.stored.command.clone()
            && command.action == Action::Abort
        {
            return Ok(Some(StepEnd::Abort(
                AbortKind::Operator(command.by.clone()),
                format!("aborted by `kubectl posthog canary abort` ({})", command.by),
            )));
        }
        Ok(None)
    }

    /// Points the canary's queries at exactly its current pods (see `canary_pods_pattern`).
    pub(super) fn rescope(&mut self, pods: &[k8s_openapi::api::core::v1::Pod]) -> Result<()> {
        let mut names: Vec<String> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        names.sort();
        if names != self.canary_pods {
            self.bound = super::settings::bind_metrics(
                self.settings,
                &self.apis.namespace,
                &self.name,
                &self.state.canary_name,
                &names,
            )
            .map_err(Error::Input)?;
            self.canary_pods = names;
        }
        Ok(())
    }

    /// A promote command for the current step, consumed (the annotation is cleared).
    pub(super) async fn take_promote(&mut self) -> Result<bool> {
        match self.stored.command.clone() {
            Some(c) if matches!(c.action, Action::Promote | Action::PromoteFull) => {
                self.state.heartbeat = self.clock.now();
                let full = c.action == Action::PromoteFull;
                if full {
                    // Straight to the promotion, recorded with the command's removal, so a
                    // resume after a kill promotes too.
                    self.state.step = self.state.steps.len().saturating_sub(1);
                    self.state.phase = Phase::Progressing;
                    self.state.pause_started_at = None;
                }
                self.stored = self
                    .apis
                    .write_held_with(&self.name, &self.stored, &self.state, |lease| {
                        store::with_annotation(&lease, state::COMMAND_ANNOTATION, None)
                    })
                    .await?;
                Ok(full || c.step == self.state.step)
            }
            _ => Ok(false),
        }
    }

    pub(super) fn elapsed_since(&self, started: jiff::Timestamp) -> Duration {
        let secs = self.clock.now().duration_since(started).as_secs_f64();
        Duration::from_secs_f64(secs.max(0.0))
    }

    async fn step_passed(&self, step: &CanaryStep) {
        use crate::event::{Event, EventKind};
        let event = Event::new(
            EventKind::CanaryStepPassed,
            crate::report::Severity::P4,
            self.event_target.clone(),
            format!(
                "canary of deployment/{} passed step {}/{} ({}%)",
                self.name,
                step.number,
                self.state.steps.len(),
                step.weight
            ),
            self.clock.now(),
        )
        .fact(
            "step",
            format!("{}/{}", step.number, self.state.steps.len()),
        );
        self.notifier.send(event).await;
    }

    /// Records the state (and the heartbeat) in the Lease, conditional on the Lease as last
    /// seen: [`Error::Superseded`] when another process holds it now.
    pub(super) async fn write_state(&mut self) -> Result<()> {
        self.state.heartbeat = self.clock.now();
        self.stored = self
            .apis
            .write_held(&self.name, &self.stored, &self.state)
            .await?;
        Ok(())
    }
}
