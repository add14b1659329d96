//! `kubectl posthog canary`: the checklist's gradual rollout (10 % → 50 % → 100 %) done for real
//! on a plain Deployment, judged by Prometheus between steps, aborted on its own.
//!
//! Thin: resolve flags/config/state → fetch the stable → plan and validate (pure + read-only) →
//! drive (`canary::driver`) → report.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::canary::analysis::OnInconclusive;
use crate::canary::control;
use crate::canary::ops::Apis;
use crate::canary::resolve;
use crate::canary::settings::{OnConflict, OnError, OnInterrupt};
use crate::canary::source::MetricSource;
use crate::cmd::{Ctx, TargetArg, TargetRef};
use crate::error::{Error, Result};
use crate::report::{Report, ReportTarget};

mod start;

use start::start;

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
    #[command(visible_alias = "get")]
    Status(StatusArgs),
    /// End the current pause (or a hold) and go on to the next step
    Promote(PromoteArgs),
    /// Restore the stable at full capacity and remove the canary
    Abort(AbortArgs),
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// Show the canary as a live tree (stable and canary, ReplicaSets, pods, steps, the last
    /// analysis), redrawn as it changes, until it ends or Ctrl-C; then the status as usual
    #[arg(short = 'w', long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// Skip every remaining step and pause and promote now (Argo Rollouts' `promote --full`);
    /// the analysis of the current step still aborts on a breach until the promotion starts
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// How long to wait for the stable to be ready again and the canary's pods to go
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::duration_arg, default_value = "10m")]
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
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::interval_arg)]
    pub interval: Option<Duration>,

    /// The range the queries look back over, `{{window}}` in templates [default: 2m]
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::interval_arg)]
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

    /// How often to read the P1 metrics between analysis rounds, so a P1 breach aborts within
    /// about this long whatever --interval is [default: Prometheus' scrape interval]
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::interval_arg)]
    pub guard_interval: Option<Duration>,

    /// Refuse a plan whose steps come out at the same pod counts (1 replica: 10% and 50% are
    /// both 1 canary + 1 stable) instead of merging them with a warning (exit 2)
    #[arg(long)]
    pub strict_weights: bool,

    /// Prometheus HTTP API base URL [default: $PROMETHEUS_URL, then prometheus.url in the
    /// config file]
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Container restarts of the canary's pods tolerated before aborting [default: 0]
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,

    /// How long the canary's pods may take to be ready at each step
    /// [default: the Deployment's progressDeadlineSeconds, 600s]
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::duration_arg)]
    pub progress_deadline: Option<Duration>,

    /// How long to wait for the stable's rollout at promotion or its restoration at abort
    /// [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::duration_arg)]
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

    #[command(flatten)]
    pub notify: crate::cmd::notify_args::NotifyArgs,
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
            guard_interval: self.guard_interval,
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
            if a.watch {
                watch_tree(ctx, &apis, &name).await?;
            }
            control::status(&apis, &name, target, ctx.clock.as_ref()).await
        }
        Some(CanaryAction::Promote(a)) => {
            let (apis, target) = connect(ctx, &a.target.parse()?).await?;
            let clock = ctx.clock.as_ref();
            let (state, alive) = control::promote(&apis, &target.name, a.full, clock).await?;
            Ok(control::promote_report(
                target,
                &state,
                alive,
                a.full,
                ctx.now(),
            ))
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
        // Boxed: the canary's state machine is large, and a test or the demo may run it on a small stack.
        None => Box::pin(start(*args.run, &args.target.parse()?, ctx, source)).await,
    }
}

pub(super) async fn connect(ctx: &Ctx, target: &TargetRef) -> Result<(Apis, ReportTarget)> {
    let cluster = ctx.cluster().await?;
    let apis = Apis::new(cluster.client.clone(), &cluster.namespace, &cluster.server);
    let report_target = ReportTarget::deployment(
        &target.name,
        Some(&cluster.namespace),
        cluster.context.as_deref(),
    );
    Ok((apis, report_target))
}

/// `canary status --watch`: the tree on stdout, redrawn in place on a terminal (printed again
/// only when an object changed otherwise), until the canary ends or Ctrl-C. With `-o json` or
/// `-o yaml` only the final status is printed.
async fn watch_tree(ctx: &Ctx, apis: &Apis, name: &str) -> Result<()> {
    use std::io::IsTerminal;
    let human = matches!(
        ctx.global.output,
        crate::render::Format::Table | crate::render::Format::Markdown
    );
    let terminal = std::io::stdout().is_terminal();
    let _interrupts_handled_here = ctx.interrupt.take_over();
    let mut last_key = String::new();
    loop {
        let seen = crate::canary::tree::observe(apis, name).await?;
        let key = seen.version_key();
        if human && (terminal || key != last_key) {
            let frame = crate::canary::tree::render(name, &seen, ctx.now(), &ctx.out_styles);
            let clear = if terminal { "\x1b[H\x1b[2J" } else { "" };
            let gap = if terminal || last_key.is_empty() {
                ""
            } else {
                "\n"
            };
            ctx.write_stdout(&format!("{clear}{gap}{frame}"))?;
        }
        last_key = key;
        if seen.ended() {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = ctx.interrupt.wait() => return Ok(()),
        }
    }
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
