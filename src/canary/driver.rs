//! The loop that drives a canary: for each step, bring the canary up to its count and wait for
//! its pods (watching their health), scale the stable down, then wait out the pause analysing
//! every interval; at 100 % promote; on a breach, bad health, `canary abort` or Ctrl-C, abort.
//! Every step is recorded in the state annotation first, so any point can be resumed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use super::analysis::{self, Decision, Reading};
use super::health::{self, PodHealth};
use super::objects;
use super::ops::{self, AbortOptions, AbortOrder, AbortSummary, Apis};
use super::plan::{CanaryStep, Pause};
use super::settings::{BoundMetric, OnInterrupt, Settings};
use super::source::MetricSource;
use super::state::{self, Action, CanaryState, Phase};
use super::view::LiveView;
use crate::ctx::{Clock, Interrupt};
use crate::error::{Error, Result};
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
    /// The cluster failed mid-canary; the canary is left where it was, for `--resume`/`abort`.
    Failed(Error),
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

enum StepEnd {
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
    pub source: &'a dyn MetricSource,
    pub clock: Arc<dyn Clock>,
    pub view: LiveView,
    pub interrupt: Interrupt,
    pub state: CanaryState,
    pub record: Record,
    /// The stable as last read; its template is the canary's base until promotion.
    pub stable: Deployment,
}

impl Driver<'_> {
    /// Runs the canary from wherever its state says it is until it ends.
    pub async fn run(&mut self) -> Outcome {
        let result = self.run_inner().await;
        self.record.finished_at = Some(self.clock.now());
        self.view.finish();
        match result {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Failed(error),
        }
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
                return self.promote().await;
            }
            match self.run_step(&step).await? {
                StepEnd::Next => {
                    self.state.step += 1;
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
        self.view.scaling(&format!(
            "waiting for {} canary pod(s) to be ready",
            step.canary_replicas
        ));
        if let Some(end) = self.wait_canary_ready(&canary, step).await? {
            return Ok(end);
        }
        let current = ops::current_replicas(&self.stable);
        if current != step.stable_replicas {
            self.stable = self.apis.scale(&self.name, step.stable_replicas).await?;
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
        let (want, stable_want) = (step.canary_replicas, step.stable_replicas);
        let watch = wait_for_rollout(&deployments, &name, self.settings.ready_timeout, |d, _| {
            view.pods(ops::ready_replicas(d), want, 0, stable_want);
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
    async fn poll(&mut self, canary: &Deployment, step: &CanaryStep) -> Result<Option<StepEnd>> {
        let heartbeat_due = self.clock.now().duration_since(self.state.heartbeat)
            >= jiff::SignedDuration::try_from(self.settings.interval).unwrap_or_default();
        self.stable = if heartbeat_due {
            self.write_state().await?
        } else {
            self.apis.get(&self.name).await?
        };
        let pods = self.apis.pods_of(canary).await?;
        self.rescope(&pods)?;
        let health = health::assess(&pods, self.settings.max_restarts);
        self.view.pods(
            health.ready,
            step.canary_replicas,
            ops::ready_replicas(&self.stable),
            ops::current_replicas(&self.stable),
        );
        self.record.health = health.clone();
        if health.is_failing() {
            return Ok(Some(StepEnd::Abort(
                AbortKind::Health,
                format!("canary pod health: {}", health.problems.join("; ")),
            )));
        }
        let (_, command) = state::read_annotations(self.stable.metadata.annotations.as_ref())
            .map_err(Error::Input)?;
        if let Some(command) = command
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
    fn rescope(&mut self, pods: &[k8s_openapi::api::core::v1::Pod]) -> Result<()> {
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
    async fn take_promote(&mut self) -> Result<bool> {
        let (_, command) = state::read_annotations(self.stable.metadata.annotations.as_ref())
            .map_err(Error::Input)?;
        match command {
            Some(c) if c.action == Action::Promote => {
                self.stable = self.apis.write_command(&self.name, None).await?;
                Ok(c.step == self.state.step)
            }
            _ => Ok(false),
        }
    }

    async fn pause(&mut self, step: &CanaryStep, canary: &Deployment) -> Result<StepEnd> {
        let pods = self.apis.pods_of(canary).await?;
        self.rescope(&pods)?;
        let pause = step.pause.unwrap_or(Pause::For(Duration::ZERO));
        let started = self
            .state
            .pause_started_at
            .unwrap_or_else(|| self.clock.now());
        let length = match pause {
            Pause::For(d) => Some(d),
            Pause::UntilPromoted => None,
        };
        let now = tokio::time::Instant::now();
        let elapsed = self.elapsed_since(started);
        let pause_end = length.map(|l| now + l.saturating_sub(elapsed));
        let mut next_reading = now + self.settings.interval;
        let mut next_tick = now + self.settings.tick();
        let interrupt = self.interrupt.clone();
        loop {
            let elapsed = self.elapsed_since(started);
            let note = self
                .state
                .reason
                .clone()
                .filter(|_| self.state.phase == Phase::Held);
            self.view.pause(elapsed, length, note.as_deref());
            let mut wake = next_reading.min(next_tick);
            if let Some(end) = pause_end {
                wake = wake.min(end);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = interrupt.wait() => return Ok(StepEnd::Interrupted),
            }
            let now = tokio::time::Instant::now();
            if now >= next_tick {
                next_tick = now + self.settings.tick();
                if let Some(end) = self.poll(canary, step).await? {
                    return Ok(end);
                }
            }
            if now >= next_reading {
                next_reading += self.settings.interval;
                match self.analyse(step).await {
                    Decision::Abort(cause) => {
                        let kind = if cause.inconclusive {
                            AbortKind::Inconclusive {
                                infrastructure: cause.infrastructure,
                            }
                        } else {
                            AbortKind::Analysis
                        };
                        return Ok(StepEnd::Abort(kind, cause.summary));
                    }
                    Decision::Hold(reason) => {
                        if self.state.phase != Phase::Held {
                            self.view.event(&format!(
                                "holding at {}%: {reason}; run `kubectl posthog canary promote` to go on or `canary abort`",
                                step.weight
                            ));
                        }
                        self.state.phase = Phase::Held;
                        self.state.reason = Some(reason);
                    }
                    Decision::Watch(note) => self.view.event(&format!("watching: {note}")),
                    Decision::Healthy => {}
                }
                self.write_state().await?;
            }
            if self.take_promote().await? {
                self.view.event(&format!(
                    "promoted past {}% by `canary promote`",
                    step.weight
                ));
                self.state.reason = None;
                return Ok(StepEnd::Next);
            }
            let over = pause_end.is_some_and(|end| tokio::time::Instant::now() >= end);
            if over && self.state.phase != Phase::Held {
                return Ok(StepEnd::Next);
            }
        }
    }

    fn elapsed_since(&self, started: jiff::Timestamp) -> Duration {
        let secs = self.clock.now().duration_since(started).as_secs_f64();
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// One round: every metric sampled (concurrently), judged, and the round decided.
    async fn analyse(&mut self, step: &CanaryStep) -> Decision {
        let compare = self.settings.comparison;
        let source = self.source;
        let bound = self.bound.clone();
        let samples = futures::future::join_all(bound.iter().map(|b| async move {
            let (canary, stable) = tokio::join!(source.sample(&b.canary), async {
                match compare {
                    Some(_) => Some(source.sample(&b.stable).await),
                    None => None,
                }
            });
            (b, canary, stable)
        }))
        .await;
        let at = self.clock.now();
        let readings: Vec<Reading> = samples
            .iter()
            .map(|(b, canary, stable)| {
                analysis::judge(
                    &b.spec,
                    &b.unit,
                    &b.canary.promql,
                    canary,
                    stable.as_ref().map(|s| (b.stable.promql.as_str(), s)),
                    compare,
                    at,
                )
            })
            .collect();
        let decision = analysis::decide(&readings, &mut self.state.streaks, &self.settings.policy);
        self.record.rounds += 1;
        *self.record.rounds_per_step.entry(step.number).or_default() += 1;
        self.view
            .readings(self.record.rounds, step.weight, &readings);
        for r in &readings {
            self.record.latest.insert(r.metric.clone(), r.clone());
        }
        if matches!(decision, Decision::Abort(_)) {
            self.record.decided_at = Some(at);
        }
        self.state.last_analysis = readings;
        decision
    }

    async fn write_state(&mut self) -> Result<Deployment> {
        self.state.heartbeat = self.clock.now();
        let stable = self.apis.write_state(&self.name, &self.state).await?;
        self.stable = stable.clone();
        Ok(stable)
    }

    async fn abort(&mut self, kind: AbortKind, reason: String) -> Result<Outcome> {
        self.view.event(&format!("ABORT: {reason}"));
        // A canary known to be bad goes at once; an operator's abort keeps capacity first.
        let order = match kind {
            AbortKind::Operator(_) => AbortOrder::StableFirst,
            _ => AbortOrder::CanaryFirst,
        };
        self.state.phase = Phase::Aborting;
        self.state.reason = Some(reason.clone());
        self.write_state().await?;
        let view = self.view.clone();
        let options = AbortOptions {
            order,
            timeout: self.settings.timeout,
            reason: reason.clone(),
        };
        let summary = ops::abort(
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

    async fn interrupted(&mut self) -> Result<Outcome> {
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
                // A zero heartbeat tells `--resume` at once that nobody drives this canary.
                self.state.heartbeat = jiff::Timestamp::UNIX_EPOCH;
                self.apis.write_state(&self.name, &self.state).await?;
                Ok(Outcome::Interrupted { abort: None })
            }
        }
    }

    async fn promote(&mut self) -> Result<Outcome> {
        self.state.phase = Phase::Promoting;
        self.state.pause_started_at = None;
        self.write_state().await?;
        let stable = self.apis.get(&self.name).await?;
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
            let patch = objects::promotion_patch(
                &stable,
                &self.state.images,
                self.state.stable_replicas,
                &cause,
            )
            .map_err(Error::Input)?;
            self.apis
                .deployments
                .patch(
                    &self.name,
                    &kube::api::PatchParams {
                        field_manager: Some(ops::FIELD_MANAGER.into()),
                        ..Default::default()
                    },
                    &kube::api::Patch::Json::<()>(patch),
                )
                .await
                .map_err(|e| {
                    crate::kube::api_error(
                        &format!("promote deployment {}/{}", self.apis.namespace, self.name),
                        &self.apis.server,
                        e,
                    )
                })?;
            self.view.event(&format!(
                "stable {} now runs {}; waiting for its rollout",
                self.name,
                self.state
                    .images
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if ops::current_replicas(&stable) != self.state.stable_replicas {
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
        let wait = wait_for_rollout(&deployments, &self.name, self.settings.timeout, |d, s| {
            view.pods(canary, canary, ops::ready_replicas(d), want);
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
                self.state.heartbeat = jiff::Timestamp::UNIX_EPOCH;
                self.apis.write_state(&self.name, &self.state).await?;
                return Ok(Outcome::Interrupted { abort: None });
            }
        };
        let canary_name = objects::canary_name(&self.name);
        match result {
            Ok(_) => {
                self.apis
                    .remove_canary(&canary_name, self.settings.timeout)
                    .await?;
                self.view.event(&format!("canary {canary_name} removed"));
                self.state.phase = Phase::Promoted;
                self.state.reason = None;
                self.write_state().await?;
                self.apis.write_command(&self.name, None).await?;
                Ok(Outcome::Promoted)
            }
            Err(WaitError::Api { context, source }) => {
                Err(crate::kube::api_error(&context, &self.apis.server, source))
            }
            Err(e) => {
                let message = format!(
                    "the stable's rollout of the new template failed: {e}; \
                     roll back with `kubectl posthog rollback deployment/{}`",
                    self.name
                );
                self.apis
                    .remove_canary(&canary_name, self.settings.timeout)
                    .await?;
                self.state.phase = Phase::PromotionFailed;
                self.state.reason = Some(message.clone());
                self.write_state().await?;
                Ok(Outcome::PromotionFailed(message))
            }
        }
    }
}
