//! Starting or resuming a canary: args → read the stable and its Lease → decide the run
//! ([`launch::decide`]) → check every query → claim the canary (one conditional write decides
//! between two runs) → drive it → the outcome as the report.

use super::{RunArgs, connect};
use crate::canary::driver::{Driver, Record};
use crate::canary::launch::{self, Request};
use crate::canary::objects::ImageArg;
use crate::canary::report::{self, ReportInput};
use crate::canary::resolve;
use crate::canary::settings::{self, SavedOptions};
use crate::canary::source::MetricSource;
use crate::canary::view::LiveView;
use crate::cmd::notify_args::event_target;
use crate::cmd::{Ctx, TargetRef};
use crate::error::{Error, Result};
use crate::report::Report;

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
    let images: Vec<ImageArg> = run
        .image
        .iter()
        .map(|raw| ImageArg::parse(raw).map_err(Error::Usage))
        .collect::<Result<_>>()?;
    let (apis, report_target) = connect(ctx, target).await?;
    let name = target.name.clone();
    let (stable, stored, hpas) =
        tokio::try_join!(apis.get(&name), apis.read_stored(&name), async {
            // A resumed canary keeps the shape it was planned with.
            match run.resume {
                true => Ok(Vec::new()),
                false => apis.autoscalers().await,
            }
        })?;
    let now = ctx.now();
    let request = Request {
        name: &name,
        images: &images,
        resume: run.resume,
        force: run.force,
        strict_weights: run.strict_weights,
    };
    let (state, mut settings, plan_notes) = launch::decide(
        request,
        &run.flags(),
        &config.canary,
        &stable,
        stored.state.clone(),
        &hpas,
        now,
    )?;

    let (source, prometheus_url) = match source {
        Some(source) => (source, None),
        None => prometheus_source(ctx, &run, &state.options).await?,
    };
    // The P1 guard reads as often as Prometheus scrapes, unless told (or resumed with) a pace.
    if settings.guard_interval.is_none() {
        settings.guard_interval = source.scrape_interval().await;
    }
    let bound = settings::bind_metrics(&settings, &apis.namespace, &name, &state.canary_name, &[])
        .map_err(Error::Input)?;
    let source_name = source.describe();
    // Every query is checked before the first change to the cluster.
    let mut notes = plan_notes;
    notes.extend(launch::check_queries(source.as_ref(), &bound, run.dry_run).await?);
    for note in &notes {
        ctx.ui.event(&format!("note: {note}"));
    }
    // `-v`: the plan the run follows, as decided.
    tracing::info!(
        "{}",
        launch::plan_line(&name, &state, &settings, &source_name)
    );
    if run.dry_run {
        let input = ReportInput {
            target: report_target,
            state: &state,
            settings: &settings,
            bound: &bound,
            record: &Record::default(),
            source: &source_name,
            now,
        };
        return Ok(report::plan_report(&input, &notes));
    }
    if !run.resume {
        resolve::preconditions(&stable, &name)?;
    }
    // An unknown destination or an unset credential is refused before anything changes.
    // Each event is also a Kubernetes Event on the stable, for the cluster's history.
    let notifier = run
        .notify
        .notifier(ctx, false)
        .await?
        .recording(ctx.cluster().await?);
    let event_target = event_target(&report_target);

    let state = launch::driven_by_this_run(
        state,
        &settings,
        prometheus_url.as_deref(),
        &stable,
        run.resume,
    );
    // From here on the cluster changes: first of all, record the plan where anyone can find it.
    let _interrupts_handled_by_the_driver = ctx.interrupt.take_over();
    let stored = launch::claim(&apis, &stable, &state, &stored, run.resume).await?;
    if !run.resume {
        let revision = crate::kube::events::revision_of(&stable.metadata);
        let started = launch::started_event(&name, &state, revision, &event_target, ctx.now());
        notifier.send(started).await;
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
        record: Record::default(),
        stable,
        stored,
        resumed_late: false,
        notifier: &notifier,
        event_target: event_target.clone(),
    };
    driver.announce(run.resume);
    let outcome = Box::pin(driver.run()).await;
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
    let end = launch::end(&outcome);
    if let Some(event) = end.event(&report, event_target, ctx.now()) {
        notifier.send(event).await;
    }
    let report = notifier.attach(report);
    Ok(match end.incomplete {
        Some(why) => {
            if matches!(outcome, crate::canary::driver::Outcome::Failed { .. }) {
                ctx.ui.event(&format!("error: {}", report.verdict.summary));
            }
            report.incomplete(why)
        }
        None => report,
    })
}

/// The Prometheus the analysis reads: the flag, `PROMETHEUS_URL`, the config, or the URL a
/// resumed run saved. A dry run without one prints the plan, saying the queries were not
/// validated; a real run refuses to start.
async fn prometheus_source(
    ctx: &Ctx,
    run: &RunArgs,
    saved: &serde_json::Value,
) -> Result<(Box<dyn MetricSource>, Option<String>)> {
    let saved_url = serde_json::from_value::<SavedOptions>(saved.clone())
        .ok()
        .and_then(|s| s.prometheus_url);
    let prometheus = ctx
        .prometheus(run.prometheus_url.as_deref(), saved_url.as_deref())
        .await?;
    match prometheus {
        Some(prometheus) => {
            let url = prometheus.url().to_string();
            let source = crate::canary::prometheus_source::PrometheusSource { prometheus };
            Ok((Box::new(source), Some(url)))
        }
        None if run.dry_run => Ok((Box::new(crate::canary::source::Unconfigured), None)),
        None => Err(Error::Usage(
            "the canary's analysis needs Prometheus: pass --prometheus-url URL \
             (or set PROMETHEUS_URL, or prometheus.url in kubectl-posthog.yaml)"
                .into(),
        )),
    }
}
