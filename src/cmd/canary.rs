//! `kubectl posthog canary`: the checklist's gradual rollout (10 % → 50 % → 100 %) done for real
//! on a plain Deployment, judged by Prometheus between steps, aborted on its own.
//!
//! Thin: resolve flags/config/state → fetch the stable → plan and validate (pure + read-only) →
//! drive (`canary::driver`) → report.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::canary::analysis::OnInconclusive;
use crate::canary::driver::{AbortKind, Driver, Outcome, Record};
use crate::canary::objects::{self, ImageArg};
use crate::canary::ops::{self, Apis};
use crate::canary::report::{self, ReportInput};
use crate::canary::resolve;
use crate::canary::settings::{self, OnConflict, OnError, OnInterrupt, SavedOptions};
use crate::canary::source::{MetricSource, SourceError};
use crate::canary::state::{self, CanaryState, Phase, STATE_VERSION};
use crate::canary::{control, view::LiveView};
use crate::cmd::{Ctx, TargetArg, TargetRef};
use crate::error::{Error, Result};
use crate::report::{Incomplete, Report, ReportTarget};

const AFTER_HELP: &str = "\
Examples:
  # the checklist's rollout: 10% for 10m, 50% for 5m, then promote; abort on the alert table
  kubectl posthog canary deployment/posthog-integration --image app=ghcr.io/acme/app:2.0 \\
      --prometheus-url http://prometheus.monitoring:9090

  # see the plan, replica counts and the exact PromQL, change nothing
  kubectl posthog canary deploy/web --image ghcr.io/acme/web:2.0 --dry-run

  # wait at 25% until someone runs `canary promote`
  kubectl posthog canary deploy/web --image ghcr.io/acme/web:2.0 --steps 25,100 --pause manual

  # from another terminal or CI job
  kubectl posthog canary status deploy/web
  kubectl posthog canary promote deploy/web
  kubectl posthog canary abort deploy/web
  kubectl posthog canary deploy/web --resume     # continue after Ctrl-C, a cancelled job or a crash

Traffic is split by ready pods behind the Service (no mesh, no controller): long-lived connections
(websockets, gRPC streams) are not rebalanced. If the stable's rollout of the new template fails at
promotion, the stable is rolled back like `kubectl rollout undo`. Exit codes: 0 promoted, 1 aborted
(analysis or pod health, or a failed promotion rolled back), 3 Prometheus or the cluster failed,
130 interrupted (after the safe abort).";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = AFTER_HELP)]
pub struct CanaryArgs {
    #[command(subcommand)]
    pub action: Option<CanaryAction>,

    #[command(flatten)]
    pub target: TargetArg,

    /// Boxed: the run flags are many, the subcommands few (keeps `cli::Command` small).
    #[command(flatten)]
    pub run: Box<RunArgs>,
}

#[derive(Debug, Subcommand)]
pub enum CanaryAction {
    /// Where a canary stands: phase, step, weight, ready counts, last analysis. Exits 0 while
    /// it runs or once promoted, 1 once aborted (so CI can wait on it)
    Status(ControlArgs),
    /// End the current pause (or a hold) and go on to the next step
    Promote(ControlArgs),
    /// Restore the stable at full capacity and remove the canary
    Abort(AbortArgs),
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// How long to wait for the stable to be ready again and the canary's pods to go
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10m")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// The new image, for the only container or as CONTAINER=IMAGE (repeatable)
    #[arg(long, value_name = "[CONTAINER=]IMAGE")]
    pub image: Vec<String>,

    /// Canary weights in percent, ending at 100 [default: 10,50,100]
    #[arg(long, value_name = "WEIGHTS")]
    pub steps: Option<String>,

    /// Pause after each step before 100%: durations, 0, or `manual` to wait for
    /// `canary promote`; one value applies to every step [default: 10m,5m]
    #[arg(long, value_name = "DURATIONS")]
    pub pause: Option<String>,

    /// How often to query the metrics during a pause [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: Option<Duration>,

    /// The range the queries look back over, `{{window}}` in templates [default: 2m]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub window: Option<Duration>,

    /// Consecutive breaching readings of a P2 metric that abort (P1 aborts at once) [default: 2]
    #[arg(long, value_name = "N")]
    pub failure_limit: Option<u32>,

    /// Consecutive readings without data before --on-inconclusive applies [default: 3]
    #[arg(long, value_name = "N")]
    pub inconclusive_limit: Option<u32>,

    /// What to do when readings stay inconclusive [default: abort]
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_inconclusive: Option<OnInconclusive>,

    /// What Ctrl-C or SIGTERM does [default: abort]
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_interrupt: Option<OnInterrupt>,

    /// What to do when someone else changes the stable mid-canary (`kubectl set image`,
    /// `kubectl scale`): hold and say so, or abort [default: hold]
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_conflict: Option<OnConflict>,

    /// What to do when the cluster keeps failing the run (an API error retries did not get
    /// past): restore the stable and remove the canary, or leave it for `--resume`
    /// [default: abort]
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_error: Option<OnError>,

    /// Judge the canary against the stable instead of absolute limits: breach above
    /// stable × FACTOR (and each metric's floor)
    #[arg(long, value_name = "FACTOR", num_args = 0..=1, default_missing_value = "1.5")]
    pub compare_stable: Option<f64>,

    /// Prometheus HTTP API base URL [default: $PROMETHEUS_URL, then prometheus.url in the
    /// config file]
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Container restarts of the canary's pods tolerated before aborting [default: 0]
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,

    /// How long the canary's pods may take to be ready at each step
    /// [default: the Deployment's progressDeadlineSeconds, 600s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub progress_deadline: Option<Duration>,

    /// How long to wait for the stable's rollout at promotion or its restoration at abort
    /// [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,

    /// Print the plan (steps, replica counts, queries with arguments filled in); change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Continue the canary recorded on the Deployment (after Ctrl-C, a cancelled job, a crash)
    #[arg(long, conflicts_with_all = ["image", "steps", "pause"])]
    pub resume: bool,

    /// With --resume: take over even though another process's heartbeat is recent
    #[arg(long, requires = "resume")]
    pub force: bool,
}

impl RunArgs {
    fn flags(&self) -> resolve::RunFlags {
        resolve::RunFlags {
            steps: self.steps.clone(),
            pause: self.pause.clone(),
            interval: self.interval,
            window: self.window,
            failure_limit: self.failure_limit,
            inconclusive_limit: self.inconclusive_limit,
            on_inconclusive: self.on_inconclusive,
            on_interrupt: self.on_interrupt,
            on_conflict: self.on_conflict,
            on_error: self.on_error,
            compare_stable: self.compare_stable,
            max_restarts: self.max_restarts,
            progress_deadline: self.progress_deadline,
            timeout: self.timeout,
        }
    }
}

pub async fn run(args: CanaryArgs, ctx: &Ctx) -> Result<Report> {
    run_with_source(args, ctx, None).await
}

/// For `demo`: runs `kubectl posthog canary ARGV…` with the given metric source instead of
/// Prometheus (e.g. `canary::sim_source::SimSource` over the embedded simulator).
pub async fn run_in_demo(
    ctx: &Ctx,
    argv: &[&str],
    source: Box<dyn MetricSource>,
) -> Result<Report> {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CanaryArgs,
    }
    let wrapper = Wrapper::try_parse_from(std::iter::once("canary").chain(argv.iter().copied()))
        .map_err(|e| Error::Usage(e.to_string()))?;
    run_with_source(wrapper.args, ctx, Some(source)).await
}

pub async fn run_with_source(
    args: CanaryArgs,
    ctx: &Ctx,
    source: Option<Box<dyn MetricSource>>,
) -> Result<Report> {
    match args.action {
        Some(CanaryAction::Status(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let name = target.name.clone();
            control::status(&apis, &name, target, ctx.clock.as_ref()).await
        }
        Some(CanaryAction::Promote(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let (state, alive) = control::promote(&apis, &target.name, ctx.clock.as_ref()).await?;
            Ok(control::promote_report(target, &state, alive, ctx.now()))
        }
        Some(CanaryAction::Abort(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let ui = ctx.ui.clone();
            let summary =
                control::abort(&apis, &target.name, a.timeout, ctx.clock.as_ref(), &|l| {
                    ui.event(l)
                })
                .await?;
            Ok(control::abort_report(target, &summary, ctx.now()))
        }
        None => start(*args.run, &args.target.parse()?, ctx, source).await,
    }
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

async fn connect(ctx: &Ctx, target: &TargetRef) -> Result<(Apis, ReportTarget)> {
    let cluster = ctx.cluster().await?;
    let apis = Apis::new(cluster.client.clone(), &cluster.namespace, &cluster.server);
    let report_target = ReportTarget::deployment(
        &target.name,
        Some(&cluster.namespace),
        cluster.context.as_deref(),
    );
    Ok((apis, report_target))
}

async fn start(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_and_the_target_parse() {
        #[derive(Parser)]
        struct W {
            #[command(flatten)]
            args: CanaryArgs,
        }
        let w = W::try_parse_from(["c", "status", "deploy/web"]).unwrap();
        assert!(
            matches!(w.args.action, Some(CanaryAction::Status(ref a)) if a.target.target == "deploy/web")
        );
        let w =
            W::try_parse_from(["c", "deploy/web", "--image", "a:2", "--compare-stable"]).unwrap();
        assert!(w.args.action.is_none());
        assert_eq!(w.args.target.target, "deploy/web");
        assert_eq!(w.args.run.compare_stable, Some(1.5));
        assert!(W::try_parse_from(["c", "web", "--resume", "--image", "a:2"]).is_err());
        assert!(W::try_parse_from(["c", "web", "--force"]).is_err());
    }
}
