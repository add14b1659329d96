//! `kubectl posthog demo`: the whole flow against an embedded simulated cluster, so a newcomer
//! sees every command work with one command and nothing installed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::canary::sim_source::SimSource;
use crate::ctx::Ctx;
use crate::demo::{BAD_IMAGE, DEPLOYMENT, Demo, GOOD_IMAGE, NAMESPACE, STABLE_IMAGE};
use crate::error::{Error, Exit, Result};
use crate::evidence::gather::SourceArgs;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl posthog demo\n  kubectl posthog demo --keep --kubeconfig-out /tmp/demo.kubeconfig"
)]
pub struct DemoArgs {
    /// Leave the simulated cluster running after the walk-through, until Ctrl-C, so you can try
    /// kubectl and kubectl posthog against it
    #[arg(long)]
    pub keep: bool,

    /// Write the simulated cluster's kubeconfig here (default: a temporary file)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,

    /// Where the evidence bundle (incident-posthog-integration-<UTC>.tar.gz) is written
    /// (default: the system's temporary directory)
    #[arg(long, value_name = "DIR")]
    pub bundle_dir: Option<PathBuf>,
}

pub async fn run(args: DemoArgs, ctx: &Ctx) -> Result<Exit> {
    let demo = Demo::start(args.kubeconfig_out.as_deref()).await?;
    let kubeconfig = demo.kubeconfig.display().to_string();
    section(ctx, "simulated cluster")?;
    ctx.write_stdout(&format!(
        "API server {} (namespace {NAMESPACE}), seeded with deployment/{DEPLOYMENT}: 3 replicas, \
         Secret posthog-secrets, Service, probes, PodDisruptionBudget.\n\
         Point kubectl at it:  export KUBECONFIG={kubeconfig}\n",
        demo.sim.url()
    ))?;
    let spinner = ctx
        .ui
        .spinner("waiting for deployment/posthog-integration to become available");
    demo.wait_ready(Duration::from_secs(30)).await?;
    spinner.finish_and_clear();
    ctx.ui
        .event("deployment/posthog-integration: 3 of 3 replicas available");

    let on_demo = ctx.with_global(demo.global(&ctx.global));
    let mut surprises = Vec::new();
    let bundle_dir = args.bundle_dir.clone().unwrap_or_else(std::env::temp_dir);
    walk_through(ctx, &on_demo, &demo, &bundle_dir, &mut surprises).await?;

    section(ctx, "summary")?;
    if surprises.is_empty() {
        ctx.write_stdout(
            "Every step did what it should: preflight found the gaps, the broken release was \
             stopped by its canary, the good one was promoted, rollback restored the previous \
             revision, and the evidence bundle holds the incident's record.\n",
        )?;
    } else {
        ctx.write_stdout(&format!(
            "Unexpected outcomes:\n  {}\n",
            surprises.join("\n  ")
        ))?;
    }

    if args.keep {
        section(ctx, "cluster kept running")?;
        ctx.write_stdout(&format!(
            "Try:  KUBECONFIG={kubeconfig} kubectl get deploy,rs,pods\n      \
             KUBECONFIG={kubeconfig} kubectl posthog preflight\n\
             Press Ctrl-C to stop.\n"
        ))?;
        let _handled_here = ctx.interrupt.take_over();
        ctx.interrupt.wait().await;
    }
    demo.sim.shutdown().await;
    if surprises.is_empty() {
        Ok(Exit::Success)
    } else {
        Ok(Exit::VerdictFailed)
    }
}

/// Each command as a user would run it against the demo cluster, with the outcome it should have.
async fn walk_through(
    ctx: &Ctx,
    on_demo: &Ctx,
    demo: &Demo,
    bundle_dir: &std::path::Path,
    surprises: &mut Vec<String>,
) -> Result<()> {
    let target = format!("deployment/{DEPLOYMENT}");
    let mut expect = |step: &str, got: Exit, want: Exit| {
        if got != want {
            surprises.push(format!(
                "{step}: exit {} (expected {})",
                got.code(),
                want.code()
            ));
        }
    };

    section(
        ctx,
        &format!("1/6  kubectl posthog preflight {target} --offline"),
    )?;
    ctx.write_stdout(
        "The checklist against the live Deployment (PostHog's own APIs are skipped: the demo is offline).\n\n",
    )?;
    let mut preflight = crate::cmd::preflight::PreflightArgs::new(&target);
    preflight.offline = true;
    let exit = crate::cmd::preflight::run(preflight, on_demo).await?;
    expect("preflight", exit, Exit::VerdictFailed);

    section(
        ctx,
        &format!("2/6  kubectl posthog canary {target} --image {BAD_IMAGE}"),
    )?;
    ctx.write_stdout("A release whose PostHog calls fail with 5xx: the analysis aborts it and restores the stable.\n\n")?;
    let exit = demo_canary(on_demo, demo, &target, BAD_IMAGE, "20s").await?;
    expect("canary of the broken release", exit, Exit::VerdictFailed);

    section(
        ctx,
        &format!("3/6  kubectl posthog canary {target} --image {GOOD_IMAGE}"),
    )?;
    ctx.write_stdout("A healthy release: 34% → 100%, analysed between steps, then promoted.\n\n")?;
    let exit = demo_canary(on_demo, demo, &target, GOOD_IMAGE, "10s").await?;
    expect("canary of the healthy release", exit, Exit::Success);

    section(ctx, &format!("4/6  kubectl posthog rollback {target}"))?;
    ctx.write_stdout(&format!(
        "Undo the promotion exactly like `kubectl rollout undo`, and wait like `kubectl rollout status` (back to {STABLE_IMAGE}).\n\n"
    ))?;
    let mut rollback = crate::cmd::rollback::RollbackArgs::new(&target);
    rollback.timeout = Duration::from_secs(60);
    let exit = crate::cmd::rollback::run(rollback, on_demo).await?;
    expect("rollback", exit, Exit::Success);
    let image = demo
        .sim
        .get("apps/v1", "Deployment", Some(NAMESPACE), DEPLOYMENT)
        .and_then(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        });
    if image.as_deref() != Some(STABLE_IMAGE) {
        return Err(Error::Cluster(format!(
            "after the rollback the Deployment runs {image:?}, not {STABLE_IMAGE}"
        )));
    }

    section(ctx, &format!("5/6  kubectl posthog triage {target}"))?;
    ctx.write_stdout(
        "The runbook's quick triage and decision tree. No Prometheus in the demo: rates come from the logs.\n\
         PostHog's status page is asked for real; offline, it is reported as not checked.\n\n",
    )?;
    let triage = crate::cmd::triage::TriageArgs::for_demo(SourceArgs::default());
    let exit = crate::cmd::triage::run(triage, on_demo).await?;
    expect("triage after the rollback", exit, Exit::Success);

    section(
        ctx,
        &format!("6/6  kubectl posthog evidence {target} --since 1h"),
    )?;
    ctx.write_stdout(
        "The incident bundle: logs, events, history, postmortem, redacted and checksummed.\n\n",
    )?;
    let evidence = crate::cmd::evidence::EvidenceArgs::for_demo(
        bundle_dir.to_path_buf(),
        SourceArgs::default(),
    );
    let exit = crate::cmd::evidence::run(evidence, on_demo).await?;
    expect("evidence", exit, Exit::Success);
    Ok(())
}

/// `canary TARGET --image IMAGE --steps 34,100 --pause PAUSE`, analysed every 2 s over a 10 s
/// window on the simulator's own request counters.
async fn demo_canary(
    ctx: &Ctx,
    demo: &Demo,
    target: &str,
    image: &str,
    pause: &str,
) -> Result<Exit> {
    crate::cmd::canary::run_in_demo(
        ctx,
        &[
            target,
            "--image",
            image,
            "--steps",
            "34,100",
            "--pause",
            pause,
            "--interval",
            "2s",
            "--window",
            "10s",
        ],
        Box::new(SimSource::new(demo.sim.clone())),
    )
    .await
}

fn section(ctx: &Ctx, title: &str) -> Result<()> {
    ctx.write_stdout(&format!(
        "\n{}\n",
        ctx.out_styles.bold(&format!("== {title}"))
    ))
}
