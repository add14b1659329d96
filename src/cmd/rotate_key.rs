//! `kubectl posthog rotate-key`: replace the PostHog project key a Deployment reads from its
//! Secret, safely (validated first, the old value kept, one key patched under the Secret's
//! resourceVersion, every reader restarted and verified, reverted on failure).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cmd::notify_args::{NotifyArgs, event_target};
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::report::{Report, ReportTarget, Severity};
use crate::rotate::report::rotation_report;
use crate::rotate::rotation::Result_;
use crate::rotate::{Inputs, rotate};

const AFTER_HELP: &str = "\
The new key is never an argument (it would stay in shell history and the process list): it is
read from an environment variable (--from-env), a file (--from-file), or stdin.

  1. finds the Secret and key the Deployment reads names.apiKeyEnv (POSTHOG_API_KEY) from, and
     every other Deployment in the namespace reading the same key;
  2. validates the new key with PostHog (POST /flags?v=2 on the host the Deployment sends to):
     refuses a key PostHog rejects, a personal phx_ key, or the key already in use;
  3. keeps the old value in NAME-previous (label kubectl-posthog/previous-of=NAME, owned by the
     Secret), then patches only that key of the Secret under its resourceVersion;
  4. restarts each reader like `kubectl rollout restart` and waits like `kubectl rollout status`;
  5. verifies: the rollouts complete, --health-url reports posthog.connected and, with
     Prometheus (--prometheus-url, $PROMETHEUS_URL or prometheus.url), the restarted pods get no
     401/403 over --verify-window (30s); on failure the old key is restored and the readers
     restarted again (--no-revert leaves the new key).
Interrupted (even by kill -9)? `rotate-key --resume` finishes from the Secret's
kubectl-posthog/rotation annotation: a rotation under way resumes at the restarts with the key
the Secret holds (no key needed), a revert under way is finished. Running the same command
again does the same.

Examples:
  POSTHOG_NEW_KEY=phc_… kubectl posthog rotate-key deployment/posthog-integration -n prod --from-env POSTHOG_NEW_KEY
  kubectl posthog rotate-key --from-file new-key.txt --dry-run
  pass show posthog/prod | kubectl posthog rotate-key --health-url http://posthog-integration.prod/health

Exit codes:
  0    rotated and verified (or --dry-run)
  1    refused (nothing changed), or verification failed (reverted unless --no-revert)
  2    usage error (no key given, the Deployment reads no key from a Secret)
  3    the cluster or PostHog could not be reached";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// Read the new key from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with = "from_file")]
    pub from_env: Option<String>,

    /// Read the new key from this file (first line)
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,

    /// The PostHog host to validate against (default: the Deployment's POSTHOG_HOST)
    #[arg(long, value_name = "URL")]
    pub posthog_host: Option<String>,

    /// The integration's health endpoint, which must report posthog.connected after the restart
    #[arg(long, value_name = "URL")]
    pub health_url: Option<url::Url>,

    /// How long each rollout may take
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Show the plan with masked keys; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// On a failed verification, leave the new key in place instead of restoring the old one
    #[arg(long)]
    pub no_revert: bool,

    /// Prometheus, to check that the restarted pods get no 401/403 over --verify-window
    /// (else $PROMETHEUS_URL, else prometheus.url in the config)
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// With Prometheus: how long the restarted pods serve before their 401/403 are counted
    /// (any fails the rotation, which is then reverted)
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = crate::config::duration::duration_arg)]
    pub verify_window: Duration,

    /// Finish an interrupted rotation (or revert) from the Secret's state annotation; the new
    /// key is then optional
    #[arg(long)]
    pub resume: bool,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

pub async fn run(args: RotateKeyArgs, ctx: &Ctx) -> Result<Report> {
    let target = args.target.parse()?;
    // Resuming needs no key (the Secret holds it); stdin is not read for one then.
    let new_key = match args.resume && args.from_env.is_none() && args.from_file.is_none() {
        true => String::new(),
        false => read_key(&args)?,
    };
    let config = ctx.config()?;
    let notifier = args.notify.notifier(ctx, args.dry_run).await?;
    let cluster = ctx.cluster().await?;
    let auth_check = ctx
        .prometheus(args.prometheus_url.as_deref(), None)
        .await?
        .map(|prometheus| crate::rotate::rotation::AuthCheck {
            prometheus,
            naming: crate::prometheus::alert_table::Naming::from_config(&config.canary),
            window: args.verify_window,
        });
    let spinner = ctx
        .ui
        .spinner(&format!("rotating the PostHog key of {target}"));
    let rotation = rotate(
        cluster,
        &Inputs {
            deployment: target.name.clone(),
            api_key_env: config.names.api_key_env.clone(),
            host_env: config.names.host_env.clone(),
            new_key,
            posthog_host: args.posthog_host.clone(),
            health_url: args.health_url.clone(),
            rollout_timeout: args.timeout,
            remote_timeout: ctx
                .global
                .request_timeout
                .unwrap_or(Duration::from_secs(10)),
            dry_run: args.dry_run,
            revert: !args.no_revert,
            resume: args.resume,
            auth_check,
            now: ctx.now(),
        },
    )
    .await?;
    spinner.finish_and_clear();
    let report = rotation_report(
        ReportTarget::deployment(
            &target.name,
            Some(&cluster.namespace),
            cluster.context.as_deref(),
        ),
        &rotation,
        ctx.now(),
    );
    let kind = match rotation.result {
        Result_::Rotated => Some(EventKind::KeyRotated),
        Result_::Reverted | Result_::FailedNotReverted | Result_::RevertFailed => {
            Some(EventKind::KeyRotationFailed)
        }
        Result_::Refused | Result_::DryRun => None,
    };
    if let Some(kind) = kind {
        let event = Event::new(
            kind,
            Severity::P1,
            event_target(&report.target),
            report.verdict.summary.clone(),
            ctx.now(),
        )
        .fact("secret", format!("{}/{}", rotation.secret, rotation.key))
        .fact("deployments", rotation.readers.join(", "));
        notifier.send(event).await;
    }
    Ok(notifier.attach(report))
}

/// The new key from the environment, a file or stdin; never from an argument.
fn read_key(args: &RotateKeyArgs) -> Result<String> {
    let key = match (&args.from_env, &args.from_file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| Error::Usage(format!("--from-env {var}: the variable is not set")))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--from-file {}: {e}", path.display())))?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                eprint!("New PostHog project key: ");
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io("read the new key from stdin", e))?;
            text
        }
    };
    let key = key.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(Error::Usage(
            "no new key: give --from-env VAR, --from-file PATH, or the key on stdin".to_string(),
        ));
    }
    Ok(key)
}
