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

/// How often a pause reads what: fixed for the pause.
#[derive(Clone, Copy, Debug)]
pub struct Cadence {
    /// The analysis interval (a full round).
    pub interval: Duration,
    /// Polls of pods and commands.
    pub tick: Duration,
    /// Prometheus' scrape interval, when known.
    pub scrape: Option<Duration>,
    /// The P1 guard's interval (`None`: no guard).
    pub guard: Option<Duration>,
}

/// A pause's timers, as offsets from the moment this run began the pause. Pure, so the
/// countdown's frames are tested with an injected clock (`view::frames`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timers {
    /// The next full analysis round.
    pub reading: Duration,
    /// The next poll of pods and commands.
    pub tick: Duration,
    /// The pause's end (`None`: until `canary promote`).
    pub end: Option<Duration>,
    /// The next P1 guard reading.
    pub guard: Option<Duration>,
}

/// What is due at a wake.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Due {
    pub tick: bool,
    pub guard: bool,
    pub reading: bool,
}

impl Timers {
    /// The timers as a pause begins with `left` of it to go. The step's pods are ready, so the
    /// first reading comes as soon as Prometheus can have scraped them (two scrape intervals,
    /// at least [`FIRST_READING_MIN`], at most the interval), and at once on a late resume.
    pub fn start(cadence: &Cadence, left: Option<Duration>, resumed_late: bool) -> Timers {
        let first = match cadence.scrape {
            Some(scrape) => cadence.interval.min((scrape * 2).max(FIRST_READING_MIN)),
            None => cadence.interval,
        };
        Timers {
            reading: if resumed_late { Duration::ZERO } else { first },
            tick: cadence.tick,
            end: left,
            guard: cadence.guard,
        }
    }

    /// When to wake next: the first timer due, and never more than one [`FRAME`] away, so the
    /// countdown moves every second whatever the tick and the interval.
    pub fn wake(&self, now: Duration) -> Duration {
        [Some(self.reading), Some(self.tick), self.end, self.guard]
            .into_iter()
            .flatten()
            .fold(now + FRAME, Duration::min)
    }

    /// What is due at `now`, each due timer moved on. A guard reading is skipped when a full
    /// round is due too (the round reads the P1 metrics itself).
    pub fn due(&mut self, now: Duration, cadence: &Cadence) -> Due {
        let mut due = Due::default();
        if now >= self.tick {
            self.tick = now + cadence.tick;
            due.tick = true;
        }
        let reading = now >= self.reading;
        if let (Some(at), Some(every)) = (self.guard, cadence.guard)
            && now >= at
        {
            self.guard = Some(now + every);
            due.guard = !reading;
        }
        if reading {
            self.reading += cadence.interval;
            due.reading = true;
        }
        due
    }
}

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
        let elapsed = self.elapsed_since(started);
        // Resumed after the pause's end (nobody drove it meanwhile): analyse once more, now,
        // before deciding on what the state holds.
        self.resumed_late = length.is_some_and(|l| !l.is_zero() && elapsed >= l);
        // The P1 guard: the P1 metrics alone, as often as Prometheus has new data, between rounds.
        let guard = self.settings.guard().filter(|_| {
            self.bound
                .iter()
                .any(|b| b.spec.severity == crate::report::Severity::P1)
        });
        let cadence = Cadence {
            interval: self.settings.interval,
            tick: self.settings.tick(),
            scrape: self.settings.guard_interval,
            guard,
        };
        let mut timers = Timers::start(
            &cadence,
            length.map(|l| l.saturating_sub(elapsed)),
            self.resumed_late,
        );
        let base = tokio::time::Instant::now();
        let interrupt = self.interrupt.clone();
        loop {
            let elapsed = self.elapsed_since(started);
            let note = self
                .state
                .reason
                .clone()
                .filter(|_| self.state.phase == Phase::Held);
            self.view.pause(elapsed, length, note.as_deref());
            let wake = timers.wake(base.elapsed());
            tokio::select! {
                () = tokio::time::sleep_until(base + wake) => {}
                () = interrupt.wait() => return Ok(StepEnd::Interrupted),
            }
            let due = timers.due(base.elapsed(), &cadence);
            if due.tick
                && let Some(end) = self.poll(canary, step).await?
            {
                return Ok(end);
            }
            if due.guard
                && let Some(cause) = self.guard_round().await
            {
                self.view.event(&format!("P1 guard: {}", cause.summary));
                return Ok(StepEnd::Abort(AbortKind::Analysis, cause.summary));
            }
            if due.reading {
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
            let over = timers.end.is_some_and(|end| base.elapsed() >= end);
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
