//! Starting or resuming a canary: resolve the run from flags, the config and the recorded
//! state, check every query, claim the canary (one conditional write decides between two runs),
//! then drive it and turn the outcome into the report.

use super::{RunArgs, connect};
use crate::canary::driver::{AbortKind, Driver, Outcome, Record};
use crate::canary::objects::{self, ImageArg};
use crate::canary::ops::{self};
use crate::canary::report::{self, ReportInput};
use crate::canary::resolve;
use crate::canary::settings::{self, SavedOptions};
use crate::canary::source::{MetricSource, SourceError};
use crate::canary::state::{self, CanaryState, Phase, STATE_VERSION};
use crate::canary::view::LiveView;
use crate::cmd::notify_args::event_target;
use crate::cmd::{Ctx, TargetRef};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::report::Severity;
use crate::report::{Incomplete, Report};

pub(super) async fn start(
    run: RunArgs,
    target: &TargetRef,
    ctx: &Ctx,
    source: Option<Box<dyn MetricSource>>,
) -> Result<Report> {
    let config = ctx.config()?;
    if !run.resume && run.image.is_empty() {
        return Err(Error::Usage(
            "--image [CONTAINER=]IMAGE is required to start a canary (or --resume to continue one)"
                .into(),
        ));
    }
    let images_args: Vec<ImageArg> = run
        .image
        .iter()
        .map(|raw| ImageArg::parse(raw).map_err(Error::Usage))
        .collect::<Result<_>>()?;
    let (apis, report_target) = connect(ctx, target).await?;
    let name = target.name.clone();
    let (stable, stored) = tokio::try_join!(apis.get(&name), apis.read_stored(&name))?;
    let existing = stored.state.clone();
    let now = ctx.now();

    let (state, settings) = if run.resume {
        let state = resolve::resumable(existing, &name, now, run.force)?;
        let saved: SavedOptions = serde_json::from_value(state.options.clone()).map_err(|e| {
            Error::Input(format!(
                "the canary state on deployment/{name} lacks its options: {e}"
            ))
        })?;
        let mut settings = resolve::resolve(&run.flags(), &config.canary, Some(&saved), &stable)?;
        settings.steps = state.steps.clone();
        (state, settings)
    } else {
        if let Some(s) = existing.as_ref().filter(|s| !s.phase.is_terminal()) {
            return Err(already_running(s, &name));
        }
        let settings = resolve::resolve(&run.flags(), &config.canary, None, &stable)?;
        let images = objects::resolve_images(&stable, &images_args).map_err(Error::Usage)?;
        let stable_images = objects::template_images(&stable);
        if images.iter().all(|(c, i)| stable_images.get(c) == Some(i)) {
            return Err(Error::Usage(format!(
                "deployment/{name} already runs {}: nothing to roll out",
                images.values().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let state = CanaryState {
            version: STATE_VERSION,
            phase: Phase::Progressing,
            step: 0,
            steps: settings.steps.clone(),
            images,
            stable_images,
            stable_replicas: ops::current_replicas(&stable),
            canary_name: objects::canary_name(&name),
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
        };
        (state, settings)
    };

    let saved_url = serde_json::from_value::<SavedOptions>(state.options.clone())
        .ok()
        .and_then(|s| s.prometheus_url);
    let (source, prometheus_url): (Box<dyn MetricSource>, Option<String>) = match source {
        Some(source) => (source, None),
        None => {
            let prometheus = ctx
                .prometheus(run.prometheus_url.as_deref(), saved_url.as_deref())
                .await?;
            match prometheus {
                Some(prometheus) => {
                    let url = prometheus.url().to_string();
                    (
                        Box::new(crate::canary::prometheus_source::PrometheusSource { prometheus }),
                        Some(url),
                    )
                }
                // A dry run prints the plan and the queries anyway, saying they were not validated.
                None if run.dry_run => (Box::new(crate::canary::source::Unconfigured), None),
                None => {
                    return Err(Error::Usage(
                        "the canary's analysis needs Prometheus: pass --prometheus-url URL \
                         (or set PROMETHEUS_URL, or prometheus.url in kubectl-posthog.yaml)"
                            .into(),
                    ));
                }
            }
        }
    };
    let bound = settings::bind_metrics(&settings, &apis.namespace, &name, &state.canary_name, &[])
        .map_err(Error::Input)?;
    let source_name = source.describe();

    // Every query is checked before the first change to the cluster.
    let mut notes = Vec::new();
    match settings::validate(source.as_ref(), &bound).await {
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
        Err(SourceError::Unavailable(m)) if run.dry_run => {
            notes.push(format!("queries not validated: {m}"));
        }
        Err(SourceError::Unavailable(m)) => {
            return Err(Error::Remote(format!(
                "cannot validate the canary's queries: {m}; nothing was changed"
            )));
        }
    }
    for note in &notes {
        ctx.ui.event(&format!("note: {note}"));
    }
    // `-v`: the plan the run follows, as decided.
    tracing::info!(
        "canary plan for deployment/{name}: {}; interval {}, window {}, metrics from {source_name}",
        state
            .steps
            .iter()
            .map(|s| format!(
                "{}% ({} canary + {} stable)",
                s.weight, s.canary_replicas, s.stable_replicas
            ))
            .collect::<Vec<_>>()
            .join(" → "),
        humantime::format_duration(settings.interval),
        humantime::format_duration(settings.window),
    );
    let mut record = Record::default();
    if run.dry_run {
        let input = ReportInput {
            target: report_target,
            state: &state,
            settings: &settings,
            bound: &bound,
            record: &record,
            source: &source_name,
            now,
        };
        return Ok(report::plan_report(&input, &notes));
    }
    if !run.resume {
        resolve::preconditions(&stable, &name)?;
    }
    // An unknown destination or an unset credential is refused before anything changes.
    // Each event is also a Kubernetes Event on the stable (issue 18), for the cluster's history.
    let notifier = run
        .notify
        .notifier(ctx, false)
        .await?
        .recording(ctx.cluster().await?);
    let event_target = event_target(&report_target);

    let mut state = state;
    state.options = serde_json::to_value(settings.saved(prometheus_url.as_deref()))
        .unwrap_or(serde_json::Value::Null);
    state.driver = state::driver_id();
    state.released = false;
    state.interval_secs = settings.interval.as_secs().max(1);
    // From here on the cluster changes: first of all, record the plan where anyone can find it.
    let _interrupts_handled_by_the_driver = ctx.interrupt.take_over();
    if !run.resume {
        state.stable_generation = stable.metadata.generation;
    }
    // The claim is one conditional write: of two runs started at the same moment, the API
    // server lets exactly one create (or take over) the Lease; the other is refused here.
    let read_version = stored.version().map(str::to_string);
    let resume = run.resume;
    let stored = apis
        .claim(&stable, &state, |found| match &found.state {
            Some(s) if !resume && !s.phase.is_terminal() => Err(already_running(s, &name)),
            _ if resume && found.version() != read_version.as_deref() => {
                Err(Error::Usage(format!(
                    "the canary of deployment/{name} changed while this --resume started ({}): \
                     see `kubectl posthog canary status deployment/{name}`",
                    found.describe()
                )))
            }
            _ => Ok(()),
        })
        .await?;
    if !run.resume {
        notifier
            .send(
                Event::new(
                    EventKind::CanaryStarted,
                    Severity::P4,
                    event_target.clone(),
                    format!(
                        "canary of {} started on deployment/{name}",
                        objects::images_text(&state.images)
                    ),
                    ctx.now(),
                )
                .fact("image", objects::images_text(&state.images))
                .fact("steps", state.steps.len().to_string())
                .fact("stable-image", objects::images_text(&state.stable_images))
                .fact(
                    "stable-revision",
                    crate::kube::events::revision_of(&stable.metadata),
                ),
            )
            .await;
    }
    let mut driver = Driver {
        apis: apis.clone(),
        name: name.clone(),
        settings: &settings,
        bound: bound.clone(),
        canary_pods: Vec::new(),
        measured_in_step: Default::default(),
        source: source.as_ref(),
        clock: ctx.clock.clone(),
        view: LiveView::new(&ctx.ui, state.steps.len(), &settings.metrics),
        interrupt: ctx.interrupt.clone(),
        state,
        record: std::mem::take(&mut record),
        stable,
        stored,
        resumed_late: false,
        notifier: &notifier,
        event_target: event_target.clone(),
    };
    if run.resume {
        driver.view.event(&format!(
            "resuming the canary of deployment/{name} at step {}/{} ({})",
            driver.state.step + 1,
            driver.state.steps.len(),
            driver.state.phase.label()
        ));
    }
    let outcome = driver.run().await;
    let input = ReportInput {
        target: report_target,
        state: &driver.state,
        settings: &settings,
        bound: &driver.bound,
        record: &driver.record,
        source: &source_name,
        now: ctx.now(),
    };
    let report = report::outcome_report(&input, &outcome, &notes);
    if let Some((kind, severity)) = outcome_event(&outcome) {
        notifier
            .send(
                Event::new(
                    kind,
                    severity,
                    event_target,
                    report.verdict.summary.clone(),
                    ctx.now(),
                )
                .findings(&report.findings)
                .fact("outcome", report.details["outcome"].as_str().unwrap_or("")),
            )
            .await;
    }
    let report = notifier.attach(report);
    Ok(match outcome {
        // Prometheus failing is not a verdict on the release: exit 3, as for any remote failure.
        Outcome::Aborted {
            kind: AbortKind::Inconclusive {
                infrastructure: true,
            },
            ..
        } => report.incomplete(Incomplete::Unavailable),
        // Superseded: another process holds the canary now; exit 1, never success.
        Outcome::Promoted
        | Outcome::Aborted { .. }
        | Outcome::PromotionFailed(_)
        | Outcome::Superseded(_) => report,
        Outcome::Interrupted { .. } => report.incomplete(Incomplete::Interrupted),
        Outcome::Failed { error, .. } => {
            ctx.ui.event(&format!("error: {}", report.verdict.summary));
            report.incomplete(match error.exit() {
                crate::error::Exit::Usage => Incomplete::Input,
                crate::error::Exit::Interrupted => Incomplete::Interrupted,
                _ => Incomplete::Unavailable,
            })
        }
    })
}

fn already_running(s: &state::CanaryState, name: &str) -> Error {
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

/// The event a canary's end is to the people notified, and how severe: a release aborted by its
/// analysis or pods, or a failed promotion, is a P1; the rest of the ends are worth a look.
fn outcome_event(outcome: &Outcome) -> Option<(EventKind, Severity)> {
    Some(match outcome {
        Outcome::Promoted => (EventKind::CanaryPromoted, Severity::P4),
        Outcome::PromotionFailed(_) => (EventKind::CanaryPromotionFailed, Severity::P1),
        Outcome::Aborted {
            kind: AbortKind::Analysis | AbortKind::Health,
            ..
        } => (EventKind::CanaryAborted, Severity::P1),
        Outcome::Aborted { .. } | Outcome::Failed { .. } | Outcome::Superseded(_) => {
            (EventKind::CanaryAborted, Severity::P3)
        }
        Outcome::Interrupted { abort: Some(_) } => (EventKind::CanaryAborted, Severity::P3),
        Outcome::Interrupted { abort: None } => return None,
    })
}
