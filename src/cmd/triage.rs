//! `kubectl posthog triage`: the incident runbook's quick triage and decision tree.
//!
//! Fetch (status page, health endpoint, error rates, log error lines, pods — at once) → decide
//! (`evidence::triage::decide`) → act only with `--apply` and a confirmation (the env-var
//! actions; never key rotation) → report.

use std::io::IsTerminal;

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};

use crate::cmd::sources::SourceArgs;
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::evidence::actions::{EnvChange, env_patch};
use crate::evidence::gather;
use crate::evidence::redact::Redactor;
use crate::evidence::triage::{TriageOutcome, decide};
use crate::evidence::triage_report::{Applied, triage_report};
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
  2    usage or configuration error
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

    /// With --apply: show the change without sending it
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
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
        }
    }
}

pub async fn run(args: TriageArgs, ctx: &Ctx) -> Result<Report> {
    let target = args.target.parse()?;
    let config = ctx.config()?;
    let cluster = ctx.cluster().await?;
    let spinner = ctx.ui.spinner(&format!("triage {target}"));
    let workload = fetch_workload(cluster, &target.name).await?;
    let connections = gather::connect(
        ctx.global.request_timeout,
        config,
        cluster,
        &workload,
        &args.sources.flags(),
        ctx.prometheus(args.sources.prometheus_url.as_deref(), None)
            .await?,
    )
    .await?;
    let queries =
        gather::triage_queries(config, cluster, &workload, config.evidence.triage_window()?)?;
    let secrets = gather::secrets(cluster, &workload).await;
    let (redactor, _) = Redactor::new(&secrets.values);
    let facts = gather::triage_facts(
        cluster,
        &workload,
        gather::TriageInputs {
            connections: &connections,
            secrets: &secrets,
            redactor: &redactor,
            config: &config.evidence,
            health_url: args.sources.health_url.as_deref(),
            queries: &queries,
            now: ctx.now(),
        },
    )
    .await?;
    spinner.finish_and_clear();
    let outcome = decide(&facts, &config.evidence.thresholds);

    let applied = if args.apply {
        apply(&args, ctx, &workload.deployment, &outcome).await?
    } else {
        Vec::new()
    };
    let report = triage_report(
        ReportTarget::deployment(
            &target.name,
            Some(&cluster.namespace),
            cluster.context.as_deref(),
        ),
        &facts,
        &outcome,
        &config.evidence.thresholds,
        args.fail_on,
        &applied,
        ctx.now(),
    );
    Ok(report)
}

/// The env-var actions, after a confirmation: one strategic merge patch for all of them.
async fn apply(
    args: &TriageArgs,
    ctx: &Ctx,
    deployment: &Deployment,
    outcome: &TriageOutcome,
) -> Result<Vec<Applied>> {
    let cluster = ctx.cluster().await?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let mut changes: Vec<EnvChange> = Vec::new();
    let mut applied = Vec::new();
    for action in &outcome.actions {
        let Some(change) = &action.env else { continue };
        if changes.contains(change) || applied.iter().any(|a: &Applied| a.env == change.name) {
            continue;
        }
        if action.already_done {
            applied.push(Applied {
                env: change.name.to_string(),
                result: "already-set",
                detail: format!("{}={} on every container", change.name, change.value),
            });
        } else {
            changes.push(change.clone());
        }
    }
    let spec = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref());
    let Some(patch) = spec.and_then(|spec| env_patch(spec, &changes)) else {
        if applied.is_empty() {
            ctx.ui
                .event("--apply: the triage suggests no env-var action; nothing to apply");
        }
        return Ok(applied);
    };
    let assignments: Vec<String> = changes
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    let describe = format!(
        "kubectl set env deployment/{name} -n {} {}",
        cluster.namespace,
        assignments.join(" ")
    );
    if args.dry_run {
        for change in &changes {
            applied.push(Applied {
                env: change.name.to_string(),
                result: "dry-run",
                detail: format!("would send the strategic merge patch {patch} ({describe})"),
            });
        }
        return Ok(applied);
    }
    let question = format!(
        "Apply to deployment/{name} in namespace {}: {}? This starts a rollout. [y/N] ",
        cluster.namespace,
        assignments.join(", ")
    );
    if !args.yes && !confirm(&question).await? {
        return Err(Error::Usage(
            "--apply was not confirmed: nothing changed".to_string(),
        ));
    }
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = PatchParams {
        field_manager: Some("kubectl-posthog".to_string()),
        ..PatchParams::default()
    };
    let patched = api
        .patch(&name, &params, &Patch::Strategic(&patch))
        .await
        .map_err(|e| {
            crate::kube::api_error(
                &format!("patch deployment {}/{name}", cluster.namespace),
                &cluster.server,
                e,
            )
        })?;
    let generation = patched.metadata.generation.unwrap_or_default();
    for change in &changes {
        applied.push(Applied {
            env: change.name.to_string(),
            result: "applied",
            detail: format!(
                "{}={} on every container (generation {generation}); follow the rollout with \
                 `kubectl rollout status deployment/{name} -n {}`",
                change.name, change.value, cluster.namespace
            ),
        });
    }
    Ok(applied)
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
