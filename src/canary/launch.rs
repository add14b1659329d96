//! Starting or resuming a canary, in the order the command calls it: [`decide`] (pure) chooses
//! the state and settings from the flags, the config, the recorded state and the stable;
//! [`check_queries`] validates every query before anything changes; [`claim`] is the one
//! conditional write that decides between two runs; [`end`] (pure) turns the driver's outcome
//! into what the report and the people notified are told.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::CanaryConfig;
use super::driver::{AbortKind, Outcome};
use super::objects::{self, ImageArg};
use super::ops;
use super::ops::Apis;
use super::record::Stored;
use super::resolve::{self, RunFlags};
use super::settings::{self, BoundMetric, SavedOptions, Settings};
use super::source::{MetricSource, SourceError};
use super::state::{self, CanaryState, Phase, STATE_VERSION};
use crate::error::{Error, Exit, Result};
use crate::event::{Event, EventKind, EventTarget};
use crate::report::{Incomplete, Report, Severity};

/// What a run asks for, as plain values.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub name: &'a str,
    pub images: &'a [ImageArg],
    pub resume: bool,
    /// `--resume --force`: take over a canary whose driver looks alive.
    pub force: bool,
    /// `--strict-weights`: refuse steps that collapse to the same pod counts.
    pub strict_weights: bool,
}

/// Decides the run: a resume continues the recorded state with its saved options (flags still
/// win); a new run refuses a canary in progress or an image the stable already runs, and shapes
/// its steps to the stable's size or its HorizontalPodAutoscaler (`hpas`: the namespace's).
/// The notes say what a person should know about the plan (merged steps, the HPA).
pub fn decide(
    request: Request<'_>,
    flags: &RunFlags,
    config: &CanaryConfig,
    stable: &Deployment,
    existing: Option<CanaryState>,
    hpas: &[HorizontalPodAutoscaler],
    now: jiff::Timestamp,
) -> Result<(CanaryState, Settings, Vec<String>)> {
    let name = request.name;
    if request.resume {
        let state = resolve::resumable(existing, name, now, request.force)?;
        let saved: SavedOptions = serde_json::from_value(state.options.clone()).map_err(|e| {
            Error::Input(format!(
                "the canary state on deployment/{name} lacks its options: {e}"
            ))
        })?;
        let mut settings = resolve::resolve(flags, config, Some(&saved), stable)?;
        settings.steps = state.steps.clone();
        return Ok((state, settings, Vec::new()));
    }
    if let Some(s) = existing.as_ref().filter(|s| !s.phase.is_terminal()) {
        return Err(already_running(s, name));
    }
    let mut settings = resolve::resolve(flags, config, None, stable)?;
    let (autoscaler, notes) =
        resolve::shape_plan(&mut settings, stable, hpas, request.strict_weights)?;
    let images = objects::resolve_images(stable, request.images).map_err(Error::Usage)?;
    let stable_images = objects::template_images(stable);
    if images.iter().all(|(c, i)| stable_images.get(c) == Some(i)) {
        return Err(Error::Usage(format!(
            "deployment/{name} already runs {}: nothing to roll out",
            images.values().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut state = new_state(name, &settings, images, stable_images, stable, now);
    state.autoscaler = autoscaler;
    Ok((state, settings, notes))
}

fn new_state(
    name: &str,
    settings: &Settings,
    images: BTreeMap<String, String>,
    stable_images: BTreeMap<String, String>,
    stable: &Deployment,
    now: jiff::Timestamp,
) -> CanaryState {
    CanaryState {
        version: STATE_VERSION,
        phase: Phase::Progressing,
        step: 0,
        steps: settings.steps.clone(),
        images,
        stable_images,
        stable_replicas: ops::current_replicas(stable),
        canary_name: objects::canary_name(name),
        started_at: now,
        step_started_at: now,
        pause_started_at: None,
        interval_secs: settings.interval.as_secs().max(1),
        heartbeat: now,
        driver: state::driver_id(),
        streaks: Default::default(),
        last_analysis: Vec::new(),
        reason: None,
        options: serde_json::Value::Null,
        stable_generation: None,
        released: false,
        autoscaler: None,
    }
}

/// The state as this run drives it: its options saved for a later `--resume`, this process as
/// the driver; a new run remembers the stable's generation to notice someone else's change.
pub fn driven_by_this_run(
    mut state: CanaryState,
    settings: &Settings,
    prometheus_url: Option<&str>,
    stable: &Deployment,
    resume: bool,
) -> CanaryState {
    state.options =
        serde_json::to_value(settings.saved(prometheus_url)).unwrap_or(serde_json::Value::Null);
    state.driver = state::driver_id();
    state.released = false;
    state.interval_secs = settings.interval.as_secs().max(1);
    if !resume {
        state.stable_generation = stable.metadata.generation;
    }
    state
}

pub fn already_running(s: &CanaryState, name: &str) -> Error {
    Error::Usage(format!(
        "a canary is already {} on deployment/{name} (step {}/{}, {}, driven by {}): \
         use `canary --resume`, `canary status` or `canary abort`",
        s.phase.label(),
        s.step + 1,
        s.steps.len(),
        s.images.values().cloned().collect::<Vec<_>>().join(", "),
        s.driver
    ))
}

/// Checks every query against the source before the first change; the notes say what a
/// person should know (no stable data yet; not validated in a dry run without Prometheus).
pub async fn check_queries(
    source: &dyn MetricSource,
    bound: &[BoundMetric],
    dry_run: bool,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    match settings::validate(source, bound).await {
        Ok(found) => {
            for metric in found.no_stable_data {
                notes.push(format!(
                    "metric {metric}: no data for the stable's pods yet; if the canary's pods \
                     have none either, its readings are inconclusive"
                ));
            }
        }
        Err(SourceError::Invalid(m)) => {
            return Err(Error::Input(format!("{m}; nothing was changed")));
        }
        Err(SourceError::Unavailable(m)) if dry_run => {
            notes.push(format!("queries not validated: {m}"));
        }
        Err(SourceError::Unavailable(m)) => {
            return Err(Error::Remote(format!(
                "cannot validate the canary's queries: {m}; nothing was changed"
            )));
        }
    }
    Ok(notes)
}

/// The plan as one line (`-v` logs it): each step's counts, the interval, window and source.
pub fn plan_line(name: &str, state: &CanaryState, settings: &Settings, source: &str) -> String {
    let steps: Vec<String> = state
        .steps
        .iter()
        .map(|s| {
            let share = match s.is_promotion() {
                true => String::new(),
                false => format!(", {:.0}% of traffic", s.actual_share()),
            };
            format!(
                "{}% ({} canary + {} stable{share})",
                s.weight, s.canary_replicas, s.stable_replicas
            )
        })
        .collect();
    let guard = settings.guard().map_or_else(
        || "no P1 guard (scrape interval unknown or not shorter)".to_string(),
        |g| format!("P1 guard every {}", humantime::format_duration(g)),
    );
    format!(
        "canary plan for deployment/{name}: {}; interval {}, window {}, metrics from {source}, {guard}",
        steps.join(" → "),
        humantime::format_duration(settings.interval),
        humantime::format_duration(settings.window),
    )
}

/// Claims the canary: one conditional write of the Lease. Of two runs started at the same
/// moment, the API server lets exactly one create (or take over) the Lease; the other is
/// refused here. A resume is refused when the Lease changed since it was read.
pub async fn claim(
    apis: &Apis,
    stable: &Deployment,
    state: &CanaryState,
    read: &Stored,
    resume: bool,
) -> Result<Stored> {
    let name = stable.metadata.name.clone().unwrap_or_default();
    let read_version = read.version().map(str::to_string);
    apis.claim(stable, state, |found| match &found.state {
        Some(s) if !resume && !s.phase.is_terminal() => Err(already_running(s, &name)),
        _ if resume && found.version() != read_version.as_deref() => Err(Error::Usage(format!(
            "the canary of deployment/{name} changed while this --resume started ({}): \
                     see `kubectl posthog canary status deployment/{name}`",
            found.describe()
        ))),
        _ => Ok(()),
    })
    .await
}

/// How a run's end is reported: the event for the people notified (a release aborted by its
/// analysis or pods, or a failed promotion, is a P1; the other ends are worth a look; a canary
/// left in place on an interrupt sends none), and why the report is incomplete, if it is.
pub struct End {
    pub event: Option<(EventKind, Severity)>,
    pub incomplete: Option<Incomplete>,
}

impl End {
    /// The event of the end, with the report's verdict, findings and outcome.
    pub fn event(
        &self,
        report: &Report,
        target: EventTarget,
        now: jiff::Timestamp,
    ) -> Option<Event> {
        let (kind, severity) = self.event?;
        let summary = report.verdict.summary.clone();
        let outcome = report.details["outcome"].as_str().unwrap_or("");
        let event = Event::new(kind, severity, target, summary, now);
        Some(event.findings(&report.findings).fact("outcome", outcome))
    }
}

/// The event of a new canary's start, with the images, the step count and the stable's
/// revision at the time (so the history survives a later renumbering).
pub fn started_event(
    name: &str,
    state: &CanaryState,
    stable_revision: String,
    target: &EventTarget,
    now: jiff::Timestamp,
) -> Event {
    let images = objects::images_text(&state.images);
    Event::new(
        EventKind::CanaryStarted,
        Severity::P4,
        target.clone(),
        format!("canary of {images} started on deployment/{name}"),
        now,
    )
    .fact("image", images)
    .fact("steps", state.steps.len().to_string())
    .fact("stable-image", objects::images_text(&state.stable_images))
    .fact("stable-revision", stable_revision)
}

pub fn end(outcome: &Outcome) -> End {
    let event = match outcome {
        Outcome::Promoted => Some((EventKind::CanaryPromoted, Severity::P4)),
        Outcome::PromotionFailed(_) => Some((EventKind::CanaryPromotionFailed, Severity::P1)),
        Outcome::Aborted {
            kind: AbortKind::Analysis | AbortKind::Health,
            ..
        } => Some((EventKind::CanaryAborted, Severity::P1)),
        Outcome::Aborted { .. } | Outcome::Failed { .. } | Outcome::Superseded(_) => {
            Some((EventKind::CanaryAborted, Severity::P3))
        }
        Outcome::Interrupted { abort: Some(_) } => Some((EventKind::CanaryAborted, Severity::P3)),
        Outcome::Interrupted { abort: None } => None,
    };
    let incomplete = match outcome {
        // Prometheus failing is not a verdict on the release: exit 3, as for any remote failure.
        Outcome::Aborted {
            kind: AbortKind::Inconclusive {
                infrastructure: true,
            },
            ..
        } => Some(Incomplete::Unavailable),
        // Superseded: another process holds the canary now; exit 1, never success.
        Outcome::Promoted
        | Outcome::Aborted { .. }
        | Outcome::PromotionFailed(_)
        | Outcome::Superseded(_) => None,
        Outcome::Interrupted { .. } => Some(Incomplete::Interrupted),
        Outcome::Failed { error, .. } => Some(match error.exit() {
            Exit::Usage => Incomplete::Input,
            Exit::Interrupted => Incomplete::Interrupted,
            _ => Incomplete::Unavailable,
        }),
    };
    End { event, incomplete }
}

impl super::driver::Driver<'_> {
    /// The first lines of the view: the stable as read at the start (never a false zero) and,
    /// on a resume, where the canary stands.
    pub fn announce(&self, resume: bool) {
        let stable = (
            ops::ready_replicas(&self.stable),
            ops::current_replicas(&self.stable),
        );
        self.view.pods(None, Some(stable));
        if resume {
            self.view.event(&format!(
                "resuming the canary of deployment/{} at step {}/{} ({})",
                self.name,
                self.state.step + 1,
                self.state.steps.len(),
                self.state.phase.label()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_decides_the_event_and_the_exit() {
        let e = end(&Outcome::Promoted);
        assert_eq!(e.event, Some((EventKind::CanaryPromoted, Severity::P4)));
        assert!(e.incomplete.is_none());
        let e = end(&Outcome::Interrupted { abort: None });
        assert!(e.event.is_none());
        assert_eq!(e.incomplete, Some(Incomplete::Interrupted));
        let e = end(&Outcome::Superseded("taken over".into()));
        assert_eq!(e.event, Some((EventKind::CanaryAborted, Severity::P3)));
        assert!(e.incomplete.is_none(), "superseded is a failure, exit 1");
        let e = end(&Outcome::Failed {
            error: Error::Usage("bad".into()),
            abort: None,
        });
        assert_eq!(e.incomplete, Some(Incomplete::Input));
    }
}
