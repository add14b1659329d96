//! `kubectl posthog demo`: the whole flow against an embedded simulated cluster, so a newcomer
//! sees every command work with one command and nothing installed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

mod cluster;

pub use cluster::{BAD_IMAGE, DEPLOYMENT, Demo, GOOD_IMAGE, NAMESPACE, STABLE_IMAGE};

use crate::canary::sim_source::SimSource;
use crate::cmd::Ctx;
use crate::cmd::sources::SourceArgs;
use crate::error::{Error, Exit, Result, report_exit};
use crate::report::{
    Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

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

/// The walk-through narrates on stdout between the commands' own reports; with `-o json|yaml`
/// the narration goes to stderr and stdout holds one document: the demo's own report, a finding
/// per step.
pub async fn run(args: DemoArgs, ctx: &Ctx) -> Result<Report> {
    let demo = Demo::start(args.kubeconfig_out.as_deref()).await?;
    let kubeconfig = demo.kubeconfig.display().to_string();
    section(ctx, "simulated cluster")?;
    say(
        ctx,
        &format!(
            "API server {} (namespace {NAMESPACE}), seeded with deployment/{DEPLOYMENT}: 3 replicas, \
             Secret posthog-secrets, Service, probes, PodDisruptionBudget.\n\
             Point kubectl at it:  export KUBECONFIG={kubeconfig}\n",
            demo.sim.url()
        ),
    )?;
    if !args.keep {
        say(
            ctx,
            "To try a canary of your own afterwards, run `kubectl posthog demo --keep`: the end \
             of the walk-through then says how.\n",
        )?;
    }
    let spinner = ctx
        .ui
        .spinner("waiting for deployment/posthog-integration to become available");
    demo.wait_ready(Duration::from_secs(30)).await?;
    spinner.finish_and_clear();
    ctx.ui
        .event("deployment/posthog-integration: 3 of 3 replicas available");

    let on_demo = ctx.with_global(demo.global(&ctx.global));
    let bundle_dir = args.bundle_dir.clone().unwrap_or_else(std::env::temp_dir);
    let steps = walk_through(ctx, &on_demo, &demo, &bundle_dir).await?;

    let surprises: Vec<&Finding> = steps.iter().filter(|f| f.status != Status::Pass).collect();
    let (result, summary) = if surprises.is_empty() {
        (
            VerdictResult::Pass,
            "Every step did what it should: preflight found the gaps, the broken release was \
             stopped by its canary, the good one was promoted, rollback restored the previous \
             revision, and the evidence bundle holds the incident's record."
                .to_string(),
        )
    } else {
        (
            VerdictResult::Fail,
            format!(
                "Unexpected outcomes: {}",
                surprises
                    .iter()
                    .map(|f| format!("{}: {}", f.title, f.measured.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    };
    section(ctx, "summary")?;
    let verdict = Verdict::decided(result, summary, &steps);
    let target = ReportTarget::deployment(DEPLOYMENT, Some(NAMESPACE), Some("simcluster"));
    let report = Report::new("demo", target, verdict, steps, ctx.now());

    // Ctrl-C is how a kept demo ends: the normal end, exit by the walk-through's verdict.
    // Taken over before saying so, so a Ctrl-C right after the line is that normal end, and held
    // until this function returns: dropped any earlier (while the simulator shuts down), the
    // run's own interrupt branch would see the Ctrl-C with nobody handling it and exit 130.
    let _handled_here = args.keep.then(|| ctx.interrupt.take_over());
    if args.keep {
        let prometheus_yml = demo.write_prometheus_config()?;
        let dir = prometheus_yml
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        say(
            ctx,
            &format!(
                "\n== cluster kept running\n\
                 Try:  KUBECONFIG={kubeconfig} kubectl get deploy,rs,pods\n      \
                 KUBECONFIG={kubeconfig} kubectl posthog preflight\n\
                 A canary of your own needs Prometheus; the simulator serves its pods' metrics for it:\n      \
                 prometheus --config.file={yml} --storage.tsdb.path={dir}/prometheus-data --web.listen-address=127.0.0.1:9090 &\n      \
                 KUBECONFIG={kubeconfig} kubectl posthog canary deploy/{DEPLOYMENT} --image {GOOD_IMAGE} \\\n          \
                 --prometheus-url http://127.0.0.1:9090 --pause 30s --interval 5s --window 30s\n\
                 ({BAD_IMAGE} fails with 5xx: its canary aborts.)\n\
                 Press Ctrl-C to stop.\n",
                yml = prometheus_yml.display()
            ),
        )?;
        ctx.interrupt.wait().await;
    }
    demo.sim.shutdown().await;
    Ok(report)
}

/// Each command as a user would run it against the demo cluster, with the outcome it should
/// have: one finding per step, passing when the command ended as expected.
async fn walk_through(
    ctx: &Ctx,
    on_demo: &Ctx,
    demo: &Demo,
    bundle_dir: &std::path::Path,
) -> Result<Vec<Finding>> {
    let target = format!("deployment/{DEPLOYMENT}");
    let mut steps = Vec::new();
    let mut expect = |id: &str, title: &str, report: &Report, want: Exit| -> Result<()> {
        show(on_demo, report)?;
        let got = report_exit(report);
        let status = if got == want {
            Status::Pass
        } else {
            Status::Fail
        };
        steps.push(
            Finding::new(
                &format!("demo.{id}"),
                Step::Rollout,
                Severity::P4,
                status,
                title,
            )
            .measured(format!("exit {}: {}", got.code(), report.verdict.summary))
            .expected(format!("exit {}", want.code())),
        );
        Ok(())
    };

    section(
        ctx,
        &format!("1/6  kubectl posthog preflight {target} --offline"),
    )?;
    say(
        ctx,
        "The checklist against the live Deployment (PostHog's own APIs are skipped: the demo is offline).\n\n",
    )?;
    let mut preflight = crate::cmd::preflight::PreflightArgs::new(&target);
    preflight.offline = true;
    let report = crate::cmd::preflight::run(preflight, on_demo).await?;
    expect(
        "preflight",
        "preflight finds the seeded gaps",
        &report,
        Exit::VerdictFailed,
    )?;

    section(
        ctx,
        &format!("2/6  kubectl posthog canary {target} --image {BAD_IMAGE}"),
    )?;
    say(
        ctx,
        "A release whose PostHog calls fail with 5xx: the analysis aborts it and restores the stable.\n\n",
    )?;
    let report = demo_canary(on_demo, demo, &target, BAD_IMAGE, "20s").await?;
    expect(
        "canary-broken",
        "the broken release's canary is aborted",
        &report,
        Exit::VerdictFailed,
    )?;

    section(
        ctx,
        &format!("3/6  kubectl posthog canary {target} --image {GOOD_IMAGE}"),
    )?;
    say(
        ctx,
        "A healthy release: 34% → 100%, analysed between steps, then promoted.\n\n",
    )?;
    let report = demo_canary(on_demo, demo, &target, GOOD_IMAGE, "10s").await?;
    expect(
        "canary-healthy",
        "the healthy release's canary is promoted",
        &report,
        Exit::Success,
    )?;

    section(ctx, &format!("4/6  kubectl posthog rollback {target}"))?;
    say(
        ctx,
        &format!(
            "Undo the promotion exactly like `kubectl rollout undo`, and wait like `kubectl rollout status` (back to {STABLE_IMAGE}).\n\n"
        ),
    )?;
    let mut rollback = crate::cmd::rollback::RollbackArgs::new(&target);
    rollback.timeout = Duration::from_secs(60);
    let report = crate::cmd::rollback::run(rollback, on_demo).await?;
    expect(
        "rollback",
        "rollback restores the previous revision",
        &report,
        Exit::Success,
    )?;
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
    say(
        ctx,
        "The runbook's quick triage and decision tree. No Prometheus in the demo: rates come from the logs.\n\
         PostHog's status page is asked for real; offline, it is reported as not checked.\n\n",
    )?;
    let triage = crate::cmd::triage::TriageArgs::for_demo(SourceArgs::default());
    let report = crate::cmd::triage::run(triage, on_demo).await?;
    expect(
        "triage",
        "triage after the rollback finds nothing blocking",
        &report,
        Exit::Success,
    )?;

    section(
        ctx,
        &format!("6/6  kubectl posthog evidence {target} --since 1h"),
    )?;
    say(
        ctx,
        "The incident bundle: logs, events, history, postmortem, redacted and checksummed.\n\n",
    )?;
    let evidence = crate::cmd::evidence::EvidenceArgs::for_demo(
        bundle_dir.to_path_buf(),
        SourceArgs::default(),
    );
    let report = crate::cmd::evidence::run(evidence, on_demo).await?;
    expect(
        "evidence",
        "the evidence bundle is written",
        &report,
        Exit::Success,
    )?;
    Ok(steps)
}

/// `canary TARGET --image IMAGE --steps 34,100 --pause PAUSE`, analysed every 2 s over a 10 s
/// window on the simulator's own request counters.
async fn demo_canary(
    ctx: &Ctx,
    demo: &Demo,
    target: &str,
    image: &str,
    pause: &str,
) -> Result<Report> {
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

/// A step's own report, for people; JSON and YAML keep stdout for the demo's one document.
fn show(ctx: &Ctx, report: &Report) -> Result<()> {
    if ctx.global.output.is_machine_readable() {
        return Ok(());
    }
    ctx.show(report)
}

/// Narration: on stdout between the reports, on stderr when stdout is JSON or YAML.
fn say(ctx: &Ctx, text: &str) -> Result<()> {
    if ctx.global.output.is_machine_readable() {
        eprint!("{text}");
        Ok(())
    } else {
        ctx.write_stdout(text)
    }
}

fn section(ctx: &Ctx, title: &str) -> Result<()> {
    say(
        ctx,
        &format!("\n{}\n", ctx.out_styles.bold(&format!("== {title}"))),
    )
}
