//! `kubectl posthog canary`: the checklist's gradual rollout (10 % → 50 % → 100 %) done for real
//! on a plain Deployment, judged by Prometheus between steps, aborted on its own.
//!
//! Thin: resolve flags/config/state → fetch the stable → plan and validate (pure + read-only) →
//! drive (`canary::driver`) → report.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::canary::analysis::{Comparison, OnInconclusive, Policy};
use crate::canary::driver::{AbortKind, Driver, Outcome, Record};
use crate::canary::objects::{self, ImageArg};
use crate::canary::ops::{self, Apis};
use crate::canary::plan::{self, Pause};
use crate::canary::report::{self, ReportInput};
use crate::canary::settings::{self, OnInterrupt, SavedOptions, Settings};
use crate::canary::source::{MetricSource, SourceError};
use crate::canary::state::{self, CanaryState, Phase, STATE_VERSION};
use crate::canary::{CanaryConfig, config_duration, control, view::LiveView};
use crate::cli::{TargetArg, TargetRef};
use crate::ctx::Ctx;
use crate::error::{Error, Exit, Result};
use crate::report::ReportTarget;
use crate::rollout::status::rollout_status;

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
(websockets, gRPC streams) are not rebalanced. Exit codes: 0 promoted, 1 aborted (analysis or pod
health), 3 Prometheus or the cluster failed, 130 interrupted (after the safe abort).";

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
    /// Where a canary stands: phase, step, weight, ready counts, last analysis
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

    /// Judge the canary against the stable instead of absolute limits: breach above
    /// stable × FACTOR (and each metric's floor)
    #[arg(long, value_name = "FACTOR", num_args = 0..=1, default_missing_value = "1.5")]
    pub compare_stable: Option<f64>,

    /// Prometheus HTTP API base URL (or prometheus.url in the config file)
    #[arg(long, value_name = "URL", env = "PROMETHEUS_URL")]
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

pub async fn run(args: CanaryArgs, ctx: &Ctx) -> Result<Exit> {
    run_with_source(args, ctx, None).await
}

/// For `demo`: runs `kubectl posthog canary ARGV…` with the given metric source instead of
/// Prometheus (e.g. `canary::sim_source::SimSource` over the embedded simulator).
pub async fn run_in_demo(ctx: &Ctx, argv: &[&str], source: Box<dyn MetricSource>) -> Result<Exit> {
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
) -> Result<Exit> {
    match args.action {
        Some(CanaryAction::Status(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let name = target.name.clone();
            let report = control::status(&apis, &name, target, ctx.clock.as_ref()).await?;
            ctx.emit(&report)
        }
        Some(CanaryAction::Promote(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let (state, alive) = control::promote(&apis, &target.name, ctx.clock.as_ref()).await?;
            let mut line = format!(
                "promote requested for deployment/{} at step {}/{}",
                target.name,
                state.step + 1,
                state.steps.len()
            );
            if !alive {
                line.push_str(&format!(
                    "; no process drives it now: `kubectl posthog canary --resume deployment/{}` continues past this pause",
                    target.name
                ));
            }
            ctx.write_stdout(&format!("{line}\n"))?;
            Ok(Exit::Success)
        }
        Some(CanaryAction::Abort(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let ui = ctx.ui.clone();
            let summary =
                control::abort(&apis, &target.name, a.timeout, ctx.clock.as_ref(), &|l| {
                    ui.event(l)
                })
                .await?;
            ctx.emit(&control::abort_report(target, &summary, ctx.now()))
        }
        None => start(*args.run, &args.target.parse()?, ctx, source).await,
    }
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
) -> Result<Exit> {
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
    let stable = apis.get(&name).await?;
    let (existing, _) = state::read_annotations(stable.metadata.annotations.as_ref())
        .map_err(|e| Error::Input(format!("deployment/{name}: {e}")))?;
    let now = ctx.now();

    let (state, settings) = if run.resume {
        let state = resumable(existing, &name, now, run.force)?;
        let saved: SavedOptions = serde_json::from_value(state.options.clone()).map_err(|e| {
            Error::Input(format!(
                "the canary state on deployment/{name} lacks its options: {e}"
            ))
        })?;
        let mut settings = resolve(&run, &config.canary, Some(&saved), &stable)?;
        settings.steps = state.steps.clone();
        (state, settings)
    } else {
        if let Some(s) = existing.as_ref().filter(|s| !s.phase.is_terminal()) {
            return Err(Error::Usage(format!(
                "a canary is already {} on deployment/{name} (step {}/{}, {}): \
                 use `canary --resume`, `canary status` or `canary abort`",
                s.phase.label(),
                s.step + 1,
                s.steps.len(),
                s.images.values().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let settings = resolve(&run, &config.canary, None, &stable)?;
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
        };
        (state, settings)
    };

    let prometheus_url = run
        .prometheus_url
        .clone()
        .or_else(|| {
            serde_json::from_value::<SavedOptions>(state.options.clone())
                .ok()
                .and_then(|s| s.prometheus_url)
        })
        .or_else(|| config.prometheus.url.clone());
    let source: Box<dyn MetricSource> = match source {
        Some(source) => source,
        None => {
            let url = prometheus_url.clone().ok_or_else(|| {
                Error::Usage(
                    "the canary's analysis needs Prometheus: pass --prometheus-url URL \
                     (or set PROMETHEUS_URL, or prometheus.url in kubectl-posthog.yaml)"
                        .into(),
                )
            })?;
            let cluster = ctx.cluster().await?;
            let auth = crate::prometheus::resolve_auth(&config.prometheus, Some(cluster), &|k| {
                std::env::var(k).ok()
            })
            .await?;
            let prometheus =
                crate::prometheus::Prometheus::new(&url, &auth, config.prometheus.timeout()?)?;
            Box::new(crate::prometheus::PrometheusSource { prometheus })
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
        ctx.emit(&report::plan_report(&input, &notes))?;
        return Ok(Exit::Success);
    }
    if !run.resume {
        preconditions(&stable, &name)?;
    }

    let mut state = state;
    state.options = serde_json::to_value(settings.saved(prometheus_url.as_deref()))
        .unwrap_or(serde_json::Value::Null);
    state.driver = state::driver_id();
    state.interval_secs = settings.interval.as_secs().max(1);
    // From here on the cluster changes: first of all, record the plan where anyone can find it.
    ctx.interrupt.take_over();
    let stable = apis.write_state(&name, &state).await?;
    let mut driver = Driver {
        apis: apis.clone(),
        name: name.clone(),
        settings: &settings,
        bound: bound.clone(),
        canary_pods: Vec::new(),
        source: source.as_ref(),
        clock: ctx.clock.clone(),
        view: LiveView::new(&ctx.ui, state.steps.len(), &settings.metrics),
        interrupt: ctx.interrupt.clone(),
        state,
        record: std::mem::take(&mut record),
        stable,
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
    ctx.emit(&report)?;
    Ok(match outcome {
        Outcome::Promoted => Exit::Success,
        Outcome::Aborted {
            kind: AbortKind::Inconclusive {
                infrastructure: true,
            },
            ..
        } => Exit::Unavailable,
        Outcome::Aborted { .. } | Outcome::PromotionFailed(_) => Exit::VerdictFailed,
        Outcome::Interrupted { .. } => Exit::Interrupted,
        Outcome::Failed(error) => {
            ctx.ui.event(&format!("error: {error}"));
            error.exit()
        }
    })
}

/// A canary that can be resumed: recorded, not finished, and not driven by a live process.
fn resumable(
    state: Option<CanaryState>,
    name: &str,
    now: jiff::Timestamp,
    force: bool,
) -> Result<CanaryState> {
    let state = state.ok_or_else(|| {
        Error::Usage(format!(
            "no canary is recorded on deployment/{name}: nothing to resume"
        ))
    })?;
    if state.phase.is_terminal() {
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} already ended ({}): nothing to resume",
            state.phase.label()
        )));
    }
    if state::is_driven(&state, now) && !force {
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} is driven by {} (heartbeat {}s ago): \
             use `canary status`, or --force to take over",
            state.driver,
            now.duration_since(state.heartbeat).as_secs()
        )));
    }
    Ok(state)
}

/// Refuses to start from a stable that is not a sound baseline.
fn preconditions(stable: &k8s_openapi::api::apps::v1::Deployment, name: &str) -> Result<()> {
    let spec = stable.spec.as_ref();
    if spec.and_then(|s| s.paused) == Some(true) {
        return Err(Error::Usage(format!(
            "deployment/{name} is paused: resume it (`kubectl rollout resume deployment/{name}`) first"
        )));
    }
    if ops::current_replicas(stable) == 0 {
        return Err(Error::Usage(format!(
            "deployment/{name} has 0 replicas: a canary needs traffic to judge"
        )));
    }
    let status = rollout_status(stable);
    if !status.is_complete() {
        return Err(Error::Usage(format!(
            "deployment/{name} is not fully rolled out ({}): wait for `kubectl rollout status deployment/{name}` first",
            status.message(name)
        )));
    }
    Ok(())
}

/// Flags win, then the saved options of a resumed canary, then the config file, then defaults.
fn resolve(
    run: &RunArgs,
    config: &CanaryConfig,
    saved: Option<&SavedOptions>,
    stable: &k8s_openapi::api::apps::v1::Deployment,
) -> Result<Settings> {
    let input = |e: String| Error::Input(e);
    let usage = |e: String| Error::Usage(e);
    let weights = match (&run.steps, &config.steps) {
        (Some(raw), _) => plan::parse_steps(raw).map_err(usage)?,
        (None, Some(list)) => plan::parse_steps(
            &list
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .map_err(|e| input(format!("canary.steps: {e}")))?,
        (None, None) => plan::DEFAULT_STEPS.to_vec(),
    };
    let pauses: Vec<Pause> = match (&run.pause, &config.pauses) {
        (Some(raw), _) => plan::parse_pauses(raw, &weights).map_err(usage)?,
        (None, Some(list)) => plan::parse_pauses(&list.join(","), &weights)
            .map_err(|e| input(format!("canary.pauses: {e}")))?,
        // The checklist watches the first step 10 minutes and each later one 5.
        (None, None) => (0..weights.len().saturating_sub(1))
            .map(|i| plan::DEFAULT_PAUSES[usize::from(i > 0)])
            .collect(),
    };
    let duration = |flag: Option<Duration>,
                    saved: Option<u64>,
                    key: &str,
                    conf: &Option<String>,
                    default: Duration|
     -> Result<Duration> {
        if let Some(d) = flag {
            return Ok(d);
        }
        if let Some(secs) = saved {
            return Ok(Duration::from_secs(secs));
        }
        match conf {
            Some(raw) => config_duration(key, raw).map_err(input),
            None => Ok(default),
        }
    };
    let interval = duration(
        run.interval,
        saved.map(|s| s.interval_secs),
        "interval",
        &config.interval,
        Duration::from_secs(30),
    )?;
    if interval.is_zero() {
        return Err(usage("--interval must be more than 0".into()));
    }
    let window = duration(
        run.window,
        saved.map(|s| s.window_secs),
        "window",
        &config.window,
        Duration::from_secs(120),
    )?;
    let base = saved.map(|s| s.policy).unwrap_or_else(|| config.policy());
    let policy = Policy {
        failure_limit: run.failure_limit.unwrap_or(base.failure_limit),
        inconclusive_limit: run.inconclusive_limit.unwrap_or(base.inconclusive_limit),
        on_inconclusive: run.on_inconclusive.unwrap_or(base.on_inconclusive),
    };
    let factor = run
        .compare_stable
        .or_else(|| saved.and_then(|s| s.comparison.map(|c| c.factor)))
        .or(config.compare_factor);
    if factor.is_some_and(|f| !(f.is_finite() && f > 0.0)) {
        return Err(usage(
            "--compare-stable FACTOR must be a positive number".into(),
        ));
    }
    let deadline = stable
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(600);
    let surge = surge_allowed(stable);
    let replicas = saved
        .map(|_| 0)
        .unwrap_or_else(|| ops::current_replicas(stable));
    Ok(Settings {
        steps: plan::plan_steps(replicas, &weights, &pauses, surge),
        interval,
        window,
        policy,
        comparison: factor.map(|factor| Comparison { factor }),
        metrics: config.metrics().map_err(input)?,
        naming: config.naming(),
        max_restarts: run
            .max_restarts
            .or(saved.map(|s| s.max_restarts))
            .unwrap_or(0),
        on_interrupt: run
            .on_interrupt
            .or(saved.map(|s| s.on_interrupt))
            .unwrap_or_default(),
        ready_timeout: run
            .progress_deadline
            .or(saved.map(|s| Duration::from_secs(s.ready_timeout_secs)))
            .unwrap_or(Duration::from_secs(deadline)),
        timeout: run
            .timeout
            .or(saved.map(|s| Duration::from_secs(s.timeout_secs)))
            .unwrap_or(Duration::from_secs(600)),
    })
}

/// One extra pod is allowed unless the Deployment's rolling update forbids any surge.
fn surge_allowed(stable: &k8s_openapi::api::apps::v1::Deployment) -> bool {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let surge = stable
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref());
    !matches!(surge, Some(IntOrString::Int(0)))
        && !matches!(surge, Some(IntOrString::String(s)) if s == "0%" || s == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable(replicas: i32, surge: serde_json::Value) -> k8s_openapi::api::apps::v1::Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": surge}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_the_checklists_rollout() {
        let s = resolve(
            &RunArgs::default(),
            &CanaryConfig::default(),
            None,
            &stable(10, "25%".into()),
        )
        .unwrap();
        let weights: Vec<u32> = s.steps.iter().map(|s| s.weight).collect();
        assert_eq!(weights, [10, 50, 100]);
        assert_eq!(s.steps[0].pause, Some(Pause::For(Duration::from_secs(600))));
        assert_eq!(s.steps[1].pause, Some(Pause::For(Duration::from_secs(300))));
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 9)
        );
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.policy.failure_limit, 2);
        assert_eq!(s.on_interrupt, OnInterrupt::Abort);
        assert_eq!(s.ready_timeout, Duration::from_secs(600));
    }

    #[test]
    fn flags_beat_saved_options_beat_config() {
        let config = CanaryConfig {
            interval: Some("10s".into()),
            failure_limit: Some(4),
            ..CanaryConfig::default()
        };
        let saved = SavedOptions {
            interval_secs: 7,
            window_secs: 60,
            policy: Policy {
                failure_limit: 3,
                ..Policy::default()
            },
            comparison: None,
            max_restarts: 1,
            on_interrupt: OnInterrupt::Leave,
            ready_timeout_secs: 30,
            timeout_secs: 40,
            prometheus_url: None,
        };
        let s = resolve(&RunArgs::default(), &config, None, &stable(4, 1.into())).unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit),
            (Duration::from_secs(10), 4)
        );
        let s = resolve(
            &RunArgs::default(),
            &config,
            Some(&saved),
            &stable(4, 1.into()),
        )
        .unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit, s.on_interrupt),
            (Duration::from_secs(7), 3, OnInterrupt::Leave)
        );
        let run = RunArgs {
            interval: Some(Duration::from_secs(2)),
            failure_limit: Some(1),
            ..RunArgs::default()
        };
        let s = resolve(&run, &config, Some(&saved), &stable(4, 1.into())).unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit),
            (Duration::from_secs(2), 1)
        );
    }

    #[test]
    fn zero_surge_keeps_the_total_at_the_replica_count() {
        assert!(!surge_allowed(&stable(2, 0.into())));
        assert!(!surge_allowed(&stable(2, "0%".into())));
        assert!(surge_allowed(&stable(2, "25%".into())));
        let run = RunArgs {
            steps: Some("33".into()),
            pause: Some("0".into()),
            ..RunArgs::default()
        };
        let s = resolve(&run, &CanaryConfig::default(), None, &stable(2, 0.into())).unwrap();
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 1)
        );
        let s = resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).unwrap();
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 2)
        );
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let run = RunArgs {
            steps: Some("50,10".into()),
            ..RunArgs::default()
        };
        let err = resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).unwrap_err();
        assert_eq!(err.exit().code(), 2);
        let run = RunArgs {
            compare_stable: Some(-1.0),
            ..RunArgs::default()
        };
        assert!(resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).is_err());
    }

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
