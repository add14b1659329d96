//! kubectl-posthog: the PostHog production checklist and incident runbook as kubectl commands.
//!
//! Data flows one way: the cluster and remote services → facts → pure decisions → actions and a
//! [`report::Report`] → a renderer. `main.rs` only parses and calls [`run`].

pub mod annotations;
pub mod canary;
pub mod checks;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod error;
pub mod event;
pub mod evidence;
pub mod github;
pub mod http;
pub mod http_log;
pub mod interrupt;
pub mod kube;
#[cfg(test)]
mod layering;
pub mod notify;
pub mod posthog;
pub mod prometheus;
pub mod redact;
pub mod render;
pub mod report;
pub mod rollback;
pub mod rollout;
pub mod rotate;
pub mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clock::SystemClock;
use cmd::{Cli, Command, Ctx};
use error::{Error, Exit, Result};
use interrupt::Interrupt;
use report::Report;
use ui::{Styles, Ui};

/// Runs a parsed command line to completion and returns the documented exit code.
pub fn run(cli: Cli) -> ExitCode {
    let global = cli.global.clone();
    init_tracing(global.verbose);
    // reqwest is built without a default crypto provider so that only ring is compiled in;
    // a second install (tests calling run twice) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let out_styles = Styles::from_env(global.color, std::io::stdout().is_terminal());
    let err_styles = Styles::from_env(global.color, std::io::stderr().is_terminal());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let draw = Ui::should_draw(
        global.no_progress,
        global.output == render::Format::Table,
        std::io::stderr().is_terminal(),
        ci,
    );
    let ui = Ui::new(draw, err_styles);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!(
                "{} cannot start the async runtime: {e}",
                err_styles.error_prefix()
            );
            return Exit::Unavailable.into();
        }
    };

    let (interrupt_tx, interrupt) = Interrupt::new();
    let ctx = Ctx::new(
        global,
        Box::new(std::io::stdout()),
        out_styles,
        ui,
        Arc::new(SystemClock),
        interrupt,
    );
    watch_signals(interrupt_tx, ctx.interrupt.clone());
    let result = runtime.block_on(async {
        let command = dispatch(cli.command, &ctx);
        tokio::pin!(command);
        tokio::select! {
            result = &mut command => result,
            () = ctx.interrupt.wait() => {
                if ctx.interrupt.is_taken_over() {
                    command.await
                } else {
                    Err(Error::Interrupted)
                }
            }
        }
    });
    // A Deployment the API server does not have, seen deep inside a command: worded once, with
    // the namespace, the context and close names.
    let result = match (result, ctx.connected_cluster()) {
        (Err(error @ Error::DeploymentNotFound { .. }), Some(cluster)) => {
            Err(runtime.block_on(kube::explain_not_found(cluster, error)))
        }
        (result, _) => result,
    };
    // Do not wait for stray tasks (watches, servers) once the answer is known.
    runtime.shutdown_background();
    ui::terminal::restore();
    let result = result.and_then(|report| {
        if let Some(report) = &report {
            ctx.show(report)?;
            publish(&ctx, report)?;
        }
        Ok(report)
    });
    match &result {
        // `| head` closed stdout: end quietly, as kubectl does; the exit code (3) says so.
        Err(error) if error.is_closed_stdout() => {}
        Err(error) => {
            let line = error.one_line();
            eprintln!("{} {line}", err_styles.error_prefix());
            // In a job the error is also an annotation, so it shows on the run's page.
            if ctx.global.github.enabled() {
                eprintln!("{}", github::workflow::error(&line));
            }
        }
        Ok(_) => {}
    }
    error::exit_code(&result).into()
}

/// `kubectl-posthog __complete WORD…`: completion candidates in cobra's format, for kubectl's
/// plugin completion (`kubectl_complete-posthog`) and the shell scripts. Handled before clap,
/// so words such as `--context` are completed rather than parsed.
pub fn complete(words: &[String]) -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Exit::Unavailable.into();
    };
    let text = runtime.block_on(cmd::complete::candidates(words));
    runtime.shutdown_background();
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
    Exit::Success.into()
}

/// Runs the command. `None`: the command wrote its own output (a completion script).
async fn dispatch(command: Command, ctx: &Ctx) -> Result<Option<Report>> {
    let report = match command {
        Command::Preflight(args) => cmd::preflight::run(*args, ctx).await?,
        Command::Canary(args) => cmd::canary::run(args, ctx).await?,
        Command::Rollback(args) => cmd::rollback::run(args, ctx).await?,
        Command::Triage(args) => cmd::triage::run(args, ctx).await?,
        Command::Evidence(args) => cmd::evidence::run(args, ctx).await?,
        Command::RotateKey(args) => cmd::rotate_key::run(args, ctx).await?,
        Command::Notify(args) => cmd::notify::run(args, ctx).await?,
        Command::Demo(args) => cmd::demo::run(args, ctx).await?,
        Command::Completion(args) => {
            cmd::completion::run(args, ctx)?;
            return Ok(None);
        }
    };
    Ok(Some(report))
}

/// In GitHub Actions mode: the job summary, outputs, annotations and comments. They never
/// change the exit code.
fn publish(ctx: &Ctx, report: &Report) -> Result<()> {
    let flags = &ctx.global.github;
    if !flags.enabled() {
        return Ok(());
    }
    let github_env = github::GithubEnv::from_process();
    let cwd = std::env::current_dir().map_err(|e| Error::io("read the working directory", e))?;
    github::publish(
        report,
        &flags.publish_options(),
        &github_env,
        &cwd,
        &mut std::io::stderr(),
    )?;
    Ok(())
}

/// How long a command with nothing to clean up has to end by itself after the first signal
/// before the process exits anyway (a read that blocks the command's thread: `-f -` on a pipe
/// nobody writes to).
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Signals are watched on a thread of their own, so a command that blocks every runtime thread
/// still hears them.
fn watch_signals(tx: tokio::sync::watch::Sender<bool>, interrupt: Interrupt) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(forward_signals(tx, interrupt));
        });
    if let Err(e) = spawned {
        eprintln!("cannot watch for SIGINT/SIGTERM: {e}");
    }
}

/// First SIGINT/SIGTERM: tell the command (a canary aborts safely); a command that has nothing
/// to clean up ends, within [`INTERRUPT_GRACE`] even if it is stuck. Second: exit at once.
async fn forward_signals(tx: tokio::sync::watch::Sender<bool>, interrupt: Interrupt) {
    let mut received = 0;
    loop {
        if wait_for_signal().await.is_err() {
            return;
        }
        received += 1;
        if received > 1 {
            eprintln!("interrupted again: exiting without waiting for cleanup");
            ui::terminal::restore();
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
        let _ = tx.send(true);
        if !interrupt.is_taken_over() {
            tokio::select! {
                () = tokio::time::sleep(INTERRUPT_GRACE) => {}
                r = wait_for_signal() => if r.is_err() { return },
            }
            if !interrupt.is_taken_over() {
                eprintln!("error: interrupted");
                ui::terminal::restore();
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        // Failures reach the user as the one-line error; library ERROR lines would repeat them.
        0 => "off,kubectl_posthog=warn",
        // -v decisions and changes, -vv every HTTP request, -vvv headers and bodies. Libraries
        // (tower, hyper, kube) stay quiet: KUBECTL_POSTHOG_LOG asks for them.
        1 => "off,kubectl_posthog=info",
        2 => "off,kubectl_posthog=debug",
        _ => "off,kubectl_posthog=trace",
    };
    let asked = tracing_subscriber::EnvFilter::try_from_env("KUBECTL_POSTHOG_LOG").ok();
    // Library lines say whose they are.
    let targets = verbose > 1 || asked.is_some();
    let filter = asked.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(targets)
        .try_init();
}
