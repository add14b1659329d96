//! `kubectl posthog rollback`: the checklist's "Immediate Rollback" (`kubectl rollout undo` then
//! `kubectl rollout status`) as one command — recover from a canary, undo exactly like kubectl,
//! wait through a watch with a progress bar, optionally check health — and `rollback history`.

use std::time::Duration;

use clap::{Args, Subcommand};
use url::Url;

use crate::annotations::ROLLBACK_ANNOTATION;
use crate::canary::objects::ImageArg;
use crate::cmd::notify_args::event_target;
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::kube::Apps;
use crate::report::{Finding, Report, Severity, Status, Step, VerdictResult};
use crate::rollback::dry_run;
use crate::rollback::findings::{
    canary_finding, earlier_rollback_finding, unreadable_canary_finding,
};
use crate::rollback::guard::{self, Guard};
use crate::rollback::intent::{self, Resume, RollbackIntent};
use crate::rollback::recover::{self};
use crate::rollout::apply::{self, Fetched, RolloutError};
use crate::rollout::findings;
use crate::rollout::undo::{self, HASH_LABEL, UndoAction};
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

pub(super) async fn fetch(apis: &Apps, name: &str) -> Result<Fetched> {
    apply::fetch(&apis.deployments, &apis.replica_sets, &apis.namespace, name)
        .await
        .map_err(|e| e.into_error(&apis.server))
}

pub(super) fn rollout_error(apis: &Apps) -> impl Fn(RolloutError) -> Error + '_ {
    |e| e.into_error(&apis.server)
}

pub async fn run(args: RollbackArgs, ctx: &Ctx) -> Result<Report> {
    if let Some(RollbackCommand::History(history)) = args.command {
        return run_history(history, ctx).await;
    }
    let name = args.target.parse()?.name;
    let apis = connect(ctx).await?;
    let (fetched, stored) = tokio::try_join!(fetch(&apis, &name), async {
        // An unreadable canary record is reported (and refuses the guard), not an outage.
        match apis.read_stored(&name).await {
            Ok(stored) => Ok(Ok(stored)),
            Err(Error::Input(problem)) => Ok(Err(problem)),
            Err(e) => Err(e),
        }
    })?;
    // Every canary this tool starts records its state in the stable's Lease before creating the
    // canary Deployment, so without one there is no canary to look for.
    let has_canary_state = stored.as_ref().map_or(true, |s| s.state.is_some());
    let canary = match has_canary_state {
        true => {
            apis.get_opt(&crate::canary::objects::canary_name(&name))
                .await?
        }
        false => None,
    };
    let recorded = stored
        .as_ref()
        .map(|s| s.state.as_ref())
        .map_err(String::as_str);
    let intent = stored
        .as_ref()
        .ok()
        .and_then(|s| s.annotation(ROLLBACK_ANNOTATION))
        .and_then(RollbackIntent::decode);
    if let Some(raw) = &args.only_canary_of {
        let wanted = ImageArg::parse(raw)
            .map_err(|e| Error::Usage(e.replace("--image", "--only-canary-of")))?;
        let (status, why) =
            match guard::only_canary_of(&fetched.deployment, recorded, canary.as_ref(), &wanted) {
                Guard::Proceed(why) => {
                    ctx.ui.event(&format!("rolling back: {why}"));
                    (None, why)
                }
                Guard::NothingToUndo(why) => (Some(Status::Pass), why),
                Guard::Unknown(why) => (Some(Status::Warn), why),
            };
        if let Some(status) = status {
            let finding = Finding::new(
                "rollback.only-canary-of",
                Step::Rollout,
                Severity::P2,
                status,
                "Only what a canary of the image left unfinished is rolled back",
            )
            .measured(why);
            return Ok(report(
                ctx,
                &apis,
                &name,
                vec![finding],
                serde_json::Value::Null,
            ));
        }
    }
    let mut findings = Vec::new();
    let recovery = match recorded {
        Ok(state) => recover::plan_recovery(&fetched.deployment, state, canary.as_ref(), ctx.now()),
        Err(problem) => {
            findings.push(unreadable_canary_finding(problem));
            None
        }
    };
    // An earlier rollback that did not finish (a lost answer, a kill): finish that one.
    let resume = match args.to_revision {
        Some(_) => Resume::Fresh,
        None => intent::decide(
            intent.as_ref(),
            undo::current_hash(&fetched.deployment, &fetched.replica_sets).as_deref(),
        ),
    };
    let mut undo_needed = dry_run::undo_needed(recovery.as_ref(), args.to_revision);
    let mut to_revision = args.to_revision.unwrap_or(0);
    match &resume {
        Resume::Applied(earlier) => {
            undo_needed = false;
            findings.push(earlier_rollback_finding(&name, earlier));
        }
        Resume::NotApplied(earlier) => to_revision = earlier.to_revision,
        Resume::Fresh => {}
    }
    if args.dry_run {
        return Ok(dry_run(
            ctx,
            &apis,
            &name,
            &fetched,
            recovery.as_ref(),
            args.to_revision,
            findings,
        ));
    }

    // An unknown destination or an unset credential is refused before anything changes.
    // Each event is also a Kubernetes Event on the Deployment (issue 18).
    let notifier = args
        .notify
        .notifier(ctx, false)
        .await?
        .recording(ctx.cluster().await?);
    let mut first = Some(fetched.clone());
    if let Some(recovery) = &recovery {
        let ui = ctx.ui.clone();
        let on_event = move |line: &str| ui.event(line);
        let done = recover::recover(
            &apis,
            &name,
            recovery,
            args.timeout,
            ctx.clock.as_ref(),
            &on_event,
        )
        .await?;
        findings.push(canary_finding(
            recovery,
            Some(&done),
            recover::heartbeat_age(recovery, ctx.now()),
        ));
        // Our own writes changed the Deployment: decide the undo on a fresh read.
        first = None;
    }

    let mut resume_revision = undo::revision_of(fetched.deployment.metadata.annotations.as_ref());
    let mut undo_details = serde_json::Value::Null;
    // The target's pod-template-hash, and the Deployment the PATCH answered (the wait starts there).
    let mut intent_written = None;
    // The Lease as this run last wrote it: the next write starts from it.
    let mut lease = None;
    let (target_hash, patched) = if undo_needed {
        let fetched_now = match first.take() {
            Some(fetched) => fetched,
            None => fetch(&apis, &name).await?,
        };
        // Recorded before the PATCH, so that a re-run after a lost answer finishes this rollback.
        if let Ok(plan) = undo::undo_patch(
            &fetched_now.deployment,
            &fetched_now.replica_sets,
            to_revision,
        ) && matches!(plan.action, UndoAction::Patch { .. })
        {
            let record = RollbackIntent {
                from_revision: plan.current_revision,
                from_hash: undo::current_hash(&fetched_now.deployment, &fetched_now.replica_sets),
                to_revision: plan.target_revision,
                to_hash: plan.target_hash.clone(),
                at: ctx.now(),
                by: crate::canary::state::driver_id(),
                done: false,
            };
            let known = stored.as_ref().ok().filter(|_| recovery.is_none()).cloned();
            lease = Some(
                apis.write_annotation(
                    &fetched_now.deployment,
                    known,
                    ROLLBACK_ANNOTATION,
                    Some(record.encode()),
                )
                .await?,
            );
            intent_written = Some(record);
        }
        let first = Some(fetched_now);
        match apply::undo(
            &apis.deployments,
            &apis.replica_sets,
            &apis.namespace,
            &name,
            to_revision,
            first,
        )
        .await
        {
            Ok(outcome) => {
                findings.push(findings::undo_finding(
                    &outcome.plan,
                    outcome.conflicts,
                    false,
                ));
                undo_details = findings::undo_details(
                    &outcome.plan,
                    outcome.conflicts,
                    outcome.patched.is_some(),
                );
                if matches!(outcome.plan.action, UndoAction::Patch { .. }) {
                    resume_revision = Some(outcome.plan.resulting_revision);
                    ctx.ui.event(&format!(
                        "deployment.apps/{name} rolled back to revision {}",
                        outcome.plan.target_revision
                    ));
                }
                (outcome.plan.target_hash, outcome.patched)
            }
            Err(RolloutError::Undo(refusal)) => {
                findings.push(findings::refusal_finding(&name, &refusal));
                return Ok(report(ctx, &apis, &name, findings, serde_json::Value::Null));
            }
            Err(e) => {
                let error = rollout_error(&apis)(e);
                return Err(match (&intent_written, error) {
                    (Some(_), Error::Cluster(message)) => Error::Cluster(format!(
                        "{message}; the rollback may have been applied all the same: run \
                         `kubectl posthog rollback deployment/{name}` again, it finds the \
                         rollback recorded and finishes it instead of undoing twice"
                    )),
                    (_, error) => error,
                });
            }
        }
    } else if let Resume::Applied(earlier) = &resume {
        intent_written = Some(earlier.clone());
        (earlier.to_hash.clone(), None)
    } else {
        findings.push(findings::stable_kept_finding(resume_revision));
        (
            undo::current_hash(&fetched.deployment, &fetched.replica_sets),
            None,
        )
    };

    let mut details = serde_json::json!({"canary": recovery, "undo": undo_details});
    // The rollback target's pods: the Deployment's selector plus the target's hash.
    let target_pods = undo::selector_of(&fetched.deployment)
        .ok()
        .zip(target_hash)
        .map(|(selector, hash)| format!("{selector},{HASH_LABEL}={hash}"));
    if !args.no_wait {
        let outcome = wait_with_progress(
            ctx,
            &apis,
            &name,
            patched.as_ref(),
            target_pods,
            args.timeout,
            resume_revision,
        )
        .await?;
        findings.push(findings::wait_finding(&name, &outcome));
        if let (WaitOutcome::Complete(_), Some(mut record)) = (&outcome, intent_written.take()) {
            record.done = true;
            let known = lease.take().or_else(|| stored.as_ref().ok().cloned());
            apis.write_annotation(
                &fetched.deployment,
                known,
                ROLLBACK_ANNOTATION,
                Some(record.encode()),
            )
            .await?;
        }
        if let WaitOutcome::PodsFailing { problems } = &outcome {
            details["failingPods"] = serde_json::json!(problems);
        }
        if let (WaitOutcome::Complete(_), Some(url)) = (&outcome, &args.health_url) {
            findings.push(findings::health_finding(
                url.as_str(),
                wait::probe_health(url).await,
            ));
        }
    }
    let report = report(ctx, &apis, &name, findings, details);
    let (kind, severity) = match report.verdict.result {
        VerdictResult::Fail => (EventKind::RollbackFailed, Severity::P1),
        _ => (EventKind::RollbackDone, Severity::P4),
    };
    let mut event = Event::new(
        kind,
        severity,
        event_target(&report.target),
        report.verdict.summary.clone(),
        ctx.now(),
    )
    .findings(&report.findings);
    // The revision numbers as they are now: a later undo renumbers them (issue 18 item 2).
    for (fact, key) in [
        ("from-revision", "fromRevision"),
        ("to-revision", "toRevision"),
        ("revision", "resultingRevision"),
    ] {
        if let Some(n) = report.details["undo"][key].as_u64() {
            event = event.fact(fact, n.to_string());
        }
    }
    notifier.send(event).await;
    Ok(notifier.attach(report))
}
