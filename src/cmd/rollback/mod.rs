//! `kubectl posthog rollback`: the checklist's "Immediate Rollback" (`kubectl rollout undo` then
//! `kubectl rollout status`) as one command — recover from a canary, undo exactly like kubectl,
//! wait through a watch with a progress bar, optionally check health — and `rollback history`.

use std::time::Duration;

use clap::{Args, Subcommand};
use url::Url;

use crate::canary::objects::ImageArg;
use crate::cmd::notify_args::event_target;
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::kube::Apps;
use crate::report::{Report, Severity, VerdictResult};
use crate::rollback::details::RollbackDetails;
use crate::rollback::run;
use crate::rollout::findings;
use crate::rollout::wait::{self, WaitOutcome};

mod output;
mod revisions;

use output::{dry_run, report, wait_with_progress};
use revisions::run_history;

const EXAMPLES: &str = "\
Examples:
  # Roll back to the previous revision and wait up to 5m for it
  kubectl posthog rollback deployment/posthog-integration

  # Choose a revision, look at what would change, then roll back to it
  kubectl posthog rollback history deployment/posthog-integration
  kubectl posthog rollback deployment/posthog-integration --to-revision 3 --dry-run
  kubectl posthog rollback deployment/posthog-integration --to-revision 3

  # Check the health endpoint once the rollout completed
  kubectl posthog rollback posthog-integration --health-url https://app.example.com/health

  # A deploy workflow's cleanup: undo only what a canary of this image left unfinished
  kubectl posthog rollback posthog-integration --only-canary-of app=ghcr.io/acme/app:2.0

A canary of the Deployment in progress or left behind is aborted first (the stable track back at
full capacity, the canary Deployment removed). Exit 0 when the rollout completed, 1 when kubectl
would refuse the undo or the rollout failed (progress deadline, crash-looping pods, --timeout).";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
pub struct RollbackArgs {
    #[command(subcommand)]
    pub command: Option<RollbackCommand>,

    #[command(flatten)]
    pub target: TargetArg,

    /// The revision to roll back to (see `rollback history`); default: the previous revision
    #[arg(long, value_name = "N")]
    pub to_revision: Option<i64>,

    /// How long to wait for the rollout to complete, e.g. 90s or 10m
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::config::duration::duration_arg)]
    pub timeout: Duration,

    /// Return right after the patch instead of waiting for the rollout
    #[arg(long)]
    pub no_wait: bool,

    /// After the rollout completed, GET this URL and check the checklist's health shape
    #[arg(long, value_name = "URL")]
    pub health_url: Option<Url>,

    /// Print the pod-template diff between the current and the target revision; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Act only on what a canary of this image left unfinished (a canary Deployment running it, a
    /// canary of it not finished, a failed promotion of it); otherwise change nothing and exit 0.
    /// For a workflow's cleanup step, so an error before the canary started rolls nothing back
    #[arg(long, value_name = "[CONTAINER=]IMAGE")]
    pub only_canary_of: Option<String>,

    #[command(flatten)]
    pub notify: crate::cmd::notify_args::NotifyArgs,
}

impl RollbackArgs {
    /// Defaults for a target, as the demo calls it: previous revision, wait 5m.
    pub fn new(target: &str) -> Self {
        RollbackArgs {
            command: None,
            target: TargetArg {
                target: target.to_string(),
            },
            to_revision: None,
            timeout: Duration::from_secs(300),
            no_wait: false,
            health_url: None,
            dry_run: false,
            only_canary_of: None,
            notify: Default::default(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RollbackCommand {
    /// List the revisions with their images, change-cause, age and which one runs now
    History(HistoryArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl posthog rollback history deployment/posthog-integration\n  kubectl posthog rollback history web -o json"
)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

/// The rollback's APIs, in the target's namespace: the one workload access layer.
pub(super) async fn connect(ctx: &Ctx) -> Result<Apps> {
    let cluster = ctx.cluster().await?;
    Ok(Apps::new(
        cluster.client.clone(),
        &cluster.namespace,
        &cluster.server,
    ))
}

/// args → observe → decide → act (recover the canary, undo) → wait → Report.
pub async fn run(args: RollbackArgs, ctx: &Ctx) -> Result<Report> {
    if let Some(RollbackCommand::History(history)) = args.command {
        return run_history(history, ctx).await;
    }
    let name = args.target.parse()?.name;
    let only_canary_of = match &args.only_canary_of {
        Some(raw) => Some(
            ImageArg::parse(raw)
                .map_err(|e| Error::Usage(e.replace("--image", "--only-canary-of")))?,
        ),
        None => None,
    };
    let apis = connect(ctx).await?;
    let observed = run::observe(&apis, &name).await?;
    if let Some(wanted) = &only_canary_of {
        match run::only_canary_of(&observed, wanted) {
            (Some(finding), _) => return Ok(report(ctx, &apis, &name, vec![finding], None)),
            (None, why) => ctx.ui.event(&format!("rolling back: {why}")),
        }
    }
    let plan = run::decide(&observed, args.to_revision, ctx.now());
    if args.dry_run {
        return Ok(dry_run(
            ctx,
            &apis,
            &name,
            &observed.fetched,
            plan,
            args.to_revision,
        ));
    }

    // An unknown destination or an unset credential is refused before anything changes.
    // Each event is also a Kubernetes Event on the Deployment, for the cluster's history.
    let notifier = args
        .notify
        .notifier(ctx, false)
        .await?
        .recording(ctx.cluster().await?);
    let ui = ctx.ui.clone();
    let on_event = move |line: &str| ui.event(line);
    let clock = ctx.clock.as_ref();
    let mut acted = run::act(
        &apis,
        &name,
        &observed,
        plan,
        args.timeout,
        clock,
        &on_event,
    )
    .await?;
    let mut details = RollbackDetails {
        canary: acted.recovery.clone(),
        undo: acted.undo.clone(),
        ..RollbackDetails::default()
    };
    if !acted.refused && !args.no_wait {
        let outcome = wait_with_progress(ctx, &apis, &name, &acted, args.timeout).await?;
        acted.findings.push(findings::wait_finding(&name, &outcome));
        if let WaitOutcome::Complete(_) = &outcome {
            run::mark_done(&apis, &observed, &mut acted).await?;
        }
        if let WaitOutcome::PodsFailing { problems } = &outcome {
            details.failing_pods = Some(problems.clone());
        }
        if let (WaitOutcome::Complete(_), Some(url)) = (&outcome, &args.health_url) {
            let health = wait::probe_health(url).await;
            acted
                .findings
                .push(findings::health_finding(url.as_str(), health));
        }
    }
    let undo = details.undo.clone();
    let report = report(ctx, &apis, &name, acted.findings, Some(details));
    // kubectl's refusal changed nothing: no Event, no notification (as `rollout undo` writes none).
    if acted.refused {
        return Ok(report);
    }
    let (kind, severity) = match report.verdict.result {
        VerdictResult::Fail => (EventKind::RollbackFailed, Severity::P1),
        _ => (EventKind::RollbackDone, Severity::P4),
    };
    let event = Event::new(
        kind,
        severity,
        event_target(&report.target),
        report.verdict.summary.clone(),
        ctx.now(),
    );
    let mut event = event.findings(&report.findings);
    // The revision numbers as they are now: a later undo renumbers them.
    if let Some(undo) = undo {
        let facts = [
            ("from-revision", undo.from_revision),
            ("to-revision", Some(undo.to_revision)),
            ("revision", undo.resulting_revision),
        ];
        for (fact, n) in facts {
            if let Some(n) = n {
                event = event.fact(fact, n.to_string());
            }
        }
    }
    notifier.send(event).await;
    Ok(notifier.attach(report))
}
