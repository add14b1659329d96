//! `kubectl posthog demo`: the whole flow against an embedded simulated cluster, so a newcomer
//! sees every command work with one command and nothing installed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::ctx::Ctx;
use crate::demo::{DEPLOYMENT, Demo, NAMESPACE};
use crate::error::{Exit, Result};

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

    if args.keep {
        section(ctx, "cluster kept running")?;
        ctx.write_stdout(&format!(
            "Try:  KUBECONFIG={kubeconfig} kubectl get deploy,rs,pods\n      \
             KUBECONFIG={kubeconfig} kubectl posthog preflight\n\
             Press Ctrl-C to stop.\n"
        ))?;
        ctx.interrupt.take_over();
        ctx.interrupt.wait().await;
    }
    demo.sim.shutdown().await;
    Ok(Exit::Success)
}

fn section(ctx: &Ctx, title: &str) -> Result<()> {
    ctx.write_stdout(&format!(
        "\n{}\n",
        ctx.out_styles.bold(&format!("== {title}"))
    ))
}
