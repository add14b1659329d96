//! What a rollback shows: the wait drawn as a progress bar, the dry run, and the report.

use std::time::Duration;

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::kube::Apps;
use crate::report::{Finding, Preface, Report, ReportTarget, Verdict};
use crate::rollback::details::RollbackDetails;
use crate::rollback::dry_run;
use crate::rollback::recover;
use crate::rollback::run::{Acted, Plan};
use crate::rollout::apply::Fetched;
use crate::rollout::findings;
use crate::rollout::progress::RolloutProgress;
use crate::rollout::wait::{self, WaitOutcome};

/// The wait, drawn as a progress bar; Ctrl-C says how to resume without undoing twice.
pub(super) async fn wait_with_progress(
    ctx: &Ctx,
    apis: &Apps,
    name: &str,
    acted: &Acted,
    timeout: Duration,
) -> Result<WaitOutcome> {
    let mut progress = RolloutProgress::new(&ctx.ui, name);
    let _interrupts_handled_here = ctx.interrupt.take_over();
    let waited = wait::wait(
        &apis.deployments,
        &apis.pods,
        name,
        acted.patched.as_ref(),
        acted.target_pods.as_deref(),
        timeout,
        |d, s| progress.update(d, s),
    );
    let outcome = tokio::select! {
        outcome = waited => outcome,
        () = ctx.interrupt.wait() => {
            progress.finish();
            // Re-running plain `rollback` would undo the rollback: point at the idempotent form.
            if let Some(revision) = acted.resume_revision {
                ctx.ui.event(&format!(
                    "the rollback (to revision {revision}) was applied; to keep waiting run: \
                     kubectl posthog rollback deployment/{name} (it finishes this rollback, it does not undo it)"
                ));
            }
            return Err(Error::Interrupted);
        }
    };
    progress.finish();
    outcome.map_err(|e| e.into_error(&apis.server))
}

pub(super) fn dry_run(
    ctx: &Ctx,
    apis: &Apps,
    name: &str,
    fetched: &Fetched,
    plan: Plan,
    to_revision: Option<i64>,
) -> Report {
    let recovery = plan.recovery.as_ref();
    let heartbeat_age = recovery.and_then(|r| recover::heartbeat_age(r, ctx.now()));
    let planned = dry_run::plan(name, fetched, recovery, heartbeat_age, to_revision);
    let preface = (!planned.diff.is_empty()).then(|| Preface {
        table: format!("{}\n", planned.diff),
        markdown: format!("```diff\n{}```\n\n", planned.diff),
        only: false,
    });
    let details = RollbackDetails {
        dry_run: true,
        diff: Some(planned.diff),
        canary: plan.recovery.clone(),
        undo: planned.undo,
        failing_pods: None,
    };
    let mut all = plan.findings;
    all.extend(planned.findings);
    let report = report(ctx, apis, name, all, Some(details));
    match preface {
        Some(preface) => report.with_preface(preface),
        None => report,
    }
}

pub(super) fn report(
    ctx: &Ctx,
    apis: &Apps,
    name: &str,
    findings: Vec<Finding>,
    details: Option<RollbackDetails>,
) -> Report {
    let (result, summary) = findings::verdict(&findings);
    let verdict = Verdict::decided(result, summary, &findings);
    let context = ctx.global.context.clone();
    let target = ReportTarget::deployment(name, Some(&apis.namespace), context.as_deref());
    let report = Report::new("rollback", target, verdict, findings, ctx.now());
    match details {
        Some(details) => report.with_details(&details),
        None => report,
    }
}
