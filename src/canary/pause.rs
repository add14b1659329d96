//! A step's pause: poll pod health and commands every tick, read every metric every interval,
//! and end the pause on time, on `canary promote`, or on evidence that the canary is bad (or
//! was never measured).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use super::analysis::{self, Decision, OnInconclusive, Reading};
use super::driver::{AbortKind, Driver, StepEnd};
use super::plan::{CanaryStep, Pause};
use super::settings::BoundMetric;
use super::state::Phase;
use crate::error::Result;

/// How often the pause's countdown is redrawn.
const FRAME: Duration = Duration::from_secs(1);
/// The earliest first reading of a step, whatever the scrape interval.
const FIRST_READING_MIN: Duration = Duration::from_secs(2);

impl Driver<'_> {
    pub(super) async fn pause(
        &mut self,
        step: &CanaryStep,
        canary: &Deployment,
    ) -> Result<StepEnd> {
        let pods = self.apis.pods_of(canary).await?;
        self.rescope(&pods)?;
        self.measured_in_step.clear();
        let pause = step.pause.unwrap_or(Pause::For(Duration::ZERO));
        let started = self
            .state
            .pause_started_at
            .unwrap_or_else(|| self.clock.now());
        let length = match pause {
            Pause::For(d) => Some(d),
            Pause::UntilPromoted => None,
        };
        // Readings this pause already had (a resumed canary's, kept in its state) count.
        for reading in &self.state.last_analysis {
            if reading.at >= started && reading.status != analysis::ReadingStatus::Inconclusive {
                self.measured_in_step.insert(reading.metric.clone());
            }
        }
        let now = tokio::time::Instant::now();
        let elapsed = self.elapsed_since(started);
        let pause_end = length.map(|l| now + l.saturating_sub(elapsed));
        // Resumed after the pause's end (nobody drove it meanwhile): analyse once more, now,
        // before deciding on what the state holds.
        self.resumed_late = length.is_some_and(|l| !l.is_zero() && elapsed >= l);
        // The step's pods are ready: the first reading comes as soon as Prometheus can have
        // scraped them (two scrape intervals), not a whole interval later.
        let first_reading = match self.settings.guard_interval {
            Some(scrape) => self
                .settings
                .interval
                .min((scrape * 2).max(FIRST_READING_MIN)),
            None => self.settings.interval,
        };
        let mut next_reading = if self.resumed_late {
            now
        } else {
            now + first_reading
        };
        let mut next_tick = now + self.settings.tick();
        // The P1 guard: the P1 metrics alone, as often as Prometheus has new data, between rounds.
        let guard = self.settings.guard().filter(|_| {
            self.bound
                .iter()
                .any(|b| b.spec.severity == crate::report::Severity::P1)
        });
        let mut next_guard = guard.map(|g| now + g);
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
            if let Some(at) = next_guard {
                wake = wake.min(at);
            }
            // The countdown moves every second, whatever the tick and the interval.
            wake = wake.min(tokio::time::Instant::now() + FRAME);
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
            if let (Some(every), Some(at)) = (guard, next_guard)
                && now >= at
            {
                next_guard = Some(now + every);
                // A full round is due as well: it reads the P1 metrics itself.
                if now < next_reading
                    && let Some(cause) = self.guard_round().await
                {
                    self.view.event(&format!("P1 guard: {}", cause.summary));
                    return Ok(StepEnd::Abort(AbortKind::Analysis, cause.summary));
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
                match self.unmeasured(step, length) {
                    None => return Ok(StepEnd::Next),
                    Some(end) => match self.settings.policy.on_inconclusive {
                        OnInconclusive::Abort => return Ok(end),
                        OnInconclusive::Pause => {
                            if let StepEnd::Abort(_, reason) = end {
                                self.view.event(&format!(
                                    "holding at {}%: {reason}; run `kubectl posthog canary promote` to go on or `canary abort`",
                                    step.weight
                                ));
                                self.state.phase = Phase::Held;
                                self.state.reason = Some(reason);
                                self.write_state().await?;
                            }
                        }
                        OnInconclusive::Continue => return Ok(StepEnd::Next),
                    },
                }
            }
        }
    }

    /// A step is passed on evidence: every metric needs one conclusive reading during a pause
    /// (a pause of 0 asks for none). `Some` names the metrics that never had one.
    fn unmeasured(&self, step: &CanaryStep, length: Option<Duration>) -> Option<StepEnd> {
        if length.is_none_or(|l| l.is_zero()) {
            return None;
        }
        let missing: Vec<&BoundMetric> = self
            .bound
            .iter()
            .filter(|b| !self.measured_in_step.contains(&b.spec.id))
            .collect();
        if missing.is_empty() {
            return None;
        }
        let last = |b: &BoundMetric| self.record.latest.get(&b.spec.id);
        let infrastructure = missing
            .iter()
            .any(|b| last(b).is_some_and(|r| r.source_failed));
        let why = missing
            .iter()
            .find_map(|b| last(b).and_then(|r| r.reason.clone()))
            .unwrap_or_else(|| "no reading was due before the pause ended".into());
        if self.resumed_late {
            return Some(StepEnd::Abort(
                AbortKind::Inconclusive { infrastructure },
                format!(
                    "no conclusive reading of {} at {}%: the canary was resumed after its pause \
                     had ended and the one reading taken on resuming had no data ({why})",
                    missing
                        .iter()
                        .map(|b| b.spec.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    step.weight
                ),
            ));
        }
        Some(StepEnd::Abort(
            AbortKind::Inconclusive { infrastructure },
            format!(
                "no conclusive reading of {} during the pause at {}% ({why}); \
                 a longer --pause or a shorter --interval gives the analysis time",
                missing
                    .iter()
                    .map(|b| b.spec.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                step.weight
            ),
        ))
    }

    /// The P1 guard's reading between rounds: the P1 metrics sampled and judged; a breach is
    /// the abort's cause ([`analysis::guard_breach`]). Streaks and the state's last analysis
    /// are the rounds' alone; the readings count as the step's evidence and the latest values.
    async fn guard_round(&mut self) -> Option<analysis::AbortCause> {
        let p1: Vec<BoundMetric> = self
            .bound
            .iter()
            .filter(|b| b.spec.severity == crate::report::Severity::P1)
            .cloned()
            .collect();
        let readings = self.sample_readings(&p1).await;
        for r in &readings {
            if r.status != analysis::ReadingStatus::Inconclusive {
                self.measured_in_step.insert(r.metric.clone());
            }
            self.record.latest.insert(r.metric.clone(), r.clone());
        }
        let cause = analysis::guard_breach(&readings);
        if cause.is_some() {
            self.record.decided_at = readings.first().map(|r| r.at);
        }
        cause
    }

    /// Each metric of `bound` sampled (concurrently, the stable too when comparing) and judged.
    async fn sample_readings(&self, bound: &[BoundMetric]) -> Vec<Reading> {
        let compare = self.settings.comparison;
        let source = self.source;
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
        samples
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
            .collect()
    }

    /// One round: every metric sampled (concurrently), judged, and the round decided.
    pub(super) async fn analyse(&mut self, step: &CanaryStep) -> Decision {
        let bound = self.bound.clone();
        let readings = self.sample_readings(&bound).await;
        let decision = analysis::decide(&readings, &mut self.state.streaks, &self.settings.policy);
        self.record.rounds += 1;
        *self.record.rounds_per_step.entry(step.number).or_default() += 1;
        self.view
            .readings(self.record.rounds, step.weight, &readings);
        for r in &readings {
            if r.status != analysis::ReadingStatus::Inconclusive {
                self.measured_in_step.insert(r.metric.clone());
            }
            self.record.latest.insert(r.metric.clone(), r.clone());
        }
        if matches!(decision, Decision::Abort(_)) {
            self.record.decided_at = readings.first().map(|r| r.at);
        }
        self.state.last_analysis = readings;
        decision
    }
}
