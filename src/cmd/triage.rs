//! `kubectl posthog triage`: the incident runbook's quick triage and decision tree.
//!
//! Fetch (status page, health endpoint, error rates, log error lines, pods — at once) → decide
//! (`evidence::triage::decide`) → act only with `--apply` and a confirmation (the env-var
//! actions; never key rotation) → report.

use std::io::IsTerminal;

use clap::Args;

use crate::cmd::notify_args::{NotifyArgs, event_target};
use crate::cmd::sources::SourceArgs;
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::evidence::apply::{Applied, ApplyPlan, plan, send};
use crate::evidence::gather;
use crate::evidence::notify_events::triage_event;
use crate::evidence::settings::Settings;
use crate::evidence::triage::decide;
use crate::evidence::triage_report::triage_report;
use crate::evidence::workload::fetch_workload;
use crate::report::{FailOn, Report, ReportTarget};

const AFTER_HELP: &str = "\
The runbook's quick triage, all at once: the PostHog status page (filtered to the region the
Deployment sends to), the integration's health endpoint, 401/403, 429 and 5xx per minute over the
last 5 minutes from Prometheus (or estimated from log lines without one), recent error lines in
the pods' logs, and pod health (ready, restarts, OOMKilled). Then the decision tree:
  PostHog API returning errors? yes → status page incident? yes → PostHog-side incident
                                                          no  → our integration
                                no  → our service healthy?   yes → resolved or intermittent
                                                          no  → our infrastructure
with the severity (P1-P4, the runbook's definitions and the checklist's alert table) and the
runbook's immediate actions as the exact commands for this Deployment.

It changes nothing unless asked: --apply sets the suggested env vars (RATE_LIMIT_MODE=queue,
POSTHOG_FALLBACK=true) on every container, like `kubectl set env`, after a confirmation (a prompt,
or --yes). Key rotation is never applied: it needs a new key only a person can get.

Examples:
  kubectl posthog triage deployment/posthog-integration -n prod
  kubectl posthog triage --prometheus-url http://prometheus.monitoring:9090 -o json
  kubectl posthog triage --apply --yes --dry-run

Exit codes:
  0    the severity found is below --fail-on (default p2)
  1    the severity found is at or above --fail-on
  2    usage or configuration error, or the Deployment (or namespace) does not exist
  3    the cluster could not be read (the Deployment, its pods)
  130  interrupted";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct TriageArgs {
    #[command(flatten)]
    pub target: TargetArg,

    #[command(flatten)]
    pub sources: SourceArgs,

    /// Exit 1 when the severity found is at or above this
    #[arg(long, value_enum, default_value_t = FailOn::P2, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// Perform the suggested env-var actions (RATE_LIMIT_MODE=queue, POSTHOG_FALLBACK=true)
    /// after a confirmation; never rotates keys
    #[arg(long)]
    pub apply: bool,

    /// Confirm --apply without a prompt (for CI)
    #[arg(long, short = 'y', requires = "apply")]
    pub yes: bool,

    /// With --apply: show the change without sending it (and --notify's messages unsent)
    #[arg(long, requires = "apply")]
    pub dry_run: bool,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

impl TriageArgs {
    /// What `demo` runs: the default Deployment, suggestions only (no `--apply`).
    pub fn for_demo(sources: SourceArgs) -> Self {
        TriageArgs {
            target: TargetArg {
                target: crate::cmd::DEFAULT_DEPLOYMENT.to_string(),
            },
            sources,
            fail_on: FailOn::P2,
            apply: false,
            yes: false,
            dry_run: false,
            notify: NotifyArgs::default(),
        }
    }
}

pub async fn run(args: TriageArgs, ctx: &Ctx) -> Result<Report> {
    let target = args.target.parse()?;
    let config = ctx.config()?;
    let settings = Settings::new(
        &config.evidence,
        &config.posthog,
        config.canary.naming(),
        ctx.global.request_timeout,
    )?;
    let prometheus = ctx
        .prometheus(args.sources.prometheus_url.as_deref(), None)
        .await?;
    let notifier = args.notify.notifier(ctx, args.dry_run).await?;
    let cluster = ctx.cluster().await?;
    let spinner = ctx.ui.spinner(&format!("triage {target}"));
    let workload = fetch_workload(cluster, &target.name).await?;
    let connections = gather::connect(
        &settings,
        cluster,
        &workload,
        &args.sources.flags(),
        prometheus,
    )?;
    let facts = gather::fetch_triage(
        cluster,
        &workload,
        &settings,
        &connections,
        args.sources.health_url.as_deref(),
        ctx.now(),
    )
    .await?;
    spinner.finish_and_clear();
    let outcome = decide(&facts, &settings.evidence.thresholds);
    for step in &outcome.path {
        tracing::info!(
            "triage decision: {} {:?} because {}",
            step.question,
            step.answer,
            step.because
        );
    }
    tracing::info!(
        "triage lands on {:?} ({:?}): {}",
        outcome.branch,
        outcome.severity,
        outcome.conclusion
    );

    let applied = match args.apply {
        true => {
            apply(
                &args,
                ctx,
                &plan(&outcome, &workload.deployment, &cluster.namespace),
            )
            .await?
        }
        false => Vec::new(),
    };
    let report = triage_report(
        ReportTarget::deployment(
            &target.name,
            Some(&cluster.namespace),
            cluster.context.as_deref(),
        ),
        &facts,
        &outcome,
        &settings.evidence.thresholds,
        args.fail_on,
        &applied,
        ctx.now(),
    );
    if notifier.is_active() {
        let event = triage_event(event_target(&report.target), &outcome, &report);
        notifier.send(event).await;
    }
    Ok(notifier.attach(report))
}

/// `--apply`: the plan's one patch, after a confirmation (a prompt, or `--yes`).
async fn apply(args: &TriageArgs, ctx: &Ctx, plan: &ApplyPlan) -> Result<Vec<Applied>> {
    if plan.patch.is_none() {
        if plan.already_set.is_empty() {
            ctx.ui
                .event("--apply: the triage suggests no env-var action; nothing to apply");
        }
        return Ok(plan.already_set.clone());
    }
    if args.dry_run {
        return Ok(plan.dry_run());
    }
    let question = format!(
        "Apply to deployment/{} in namespace {}: {}? This starts a rollout. [y/N] ",
        plan.deployment,
        plan.namespace,
        plan.assignments().join(", ")
    );
    if !args.yes && !confirm(&question).await? {
        return Err(Error::Usage(
            "--apply was not confirmed: nothing changed".to_string(),
        ));
    }
    send(ctx.cluster().await?, plan).await
}

/// Asks on the terminal; without one, `--yes` is required.
async fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "--apply needs a confirmation: pass --yes when stdin is not a terminal".to_string(),
        ));
    }
    eprint!("{question}");
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| Error::io("read the confirmation", std::io::Error::other(e)))?
    .map_err(|e| Error::io("read the confirmation", e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
