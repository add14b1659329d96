//! `kubectl posthog evidence`: the runbook's evidence collection as one redacted, checksummed
//! bundle — `incident-<name>-<UTC timestamp>.tar.gz`, or a directory with `--out-dir`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cmd::notify_args::{NotifyArgs, event_target};
use crate::cmd::sources::SourceArgs;
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::evidence::bundle::Bundle;
use crate::evidence::bundle_report::evidence_report;
use crate::evidence::collect::{CollectInputs, collect};
use crate::evidence::gather;
use crate::evidence::notify_events::bundle_event;
use crate::evidence::redact::SecretValue;
use crate::evidence::settings::Settings;
use crate::evidence::workload::fetch_workload;
use crate::report::{Report, ReportTarget};

const AFTER_HELP: &str = "\
Collects, in one bundle: the logs of every pod of the Deployment and its canary (NAME-canary),
and of previous containers after restarts, over --since (streamed to disk, redacted on the way);
the Deployment, ReplicaSets and pods as YAML (managedFields stripped), events, rollout history,
HPA and PDB; the referenced Secrets by name and key name only; Prometheus range queries for the
checklist's alert metrics and a chart of them with rollout revisions marked; the PostHog status
page and health endpoint; triage.md, postmortem.md and communication.md filled in from the
runbook's templates; and manifest.json listing every file with its size, SHA-256 and redaction
count, the tool version, the cluster context, the query windows and every source that could not
be collected. A missing source is recorded and the bundle is still produced.

Redacted before anything is written: PostHog keys of every shape (shown as phx_…1234), bearer
and basic credentials, passwords in URLs, password=/secret=/token= values, and the values of the
Secrets the Deployment references, wherever they appear.

Examples:
  kubectl posthog evidence deployment/posthog-integration -n prod --since 1h
  kubectl posthog evidence --out-dir ./incident --prometheus-url http://prometheus.monitoring:9090
  tar -xzf incident-posthog-integration-20261122T104500Z.tar.gz && cd incident-posthog-integration-20261122T104500Z && sha256sum -c <(jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json)

Exit codes:
  0    the bundle was written (sources that could not be collected are listed in it)
  2    usage error (a bad --since, a non-empty --out-dir, an existing archive), or the
       Deployment (or namespace) does not exist
  3    the cluster could not be read (the Deployment), or the bundle could not be written
  130  interrupted";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct EvidenceArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// How far back logs, events and metrics go, e.g. 30m, 1h, 6h (default: from 15 minutes
    /// before the first evidence of the problem in the last 6h, else 1h; the report says which)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,

    /// Write the bundle as a directory here (created; must be empty) instead of a .tar.gz
    #[arg(long, value_name = "DIR", conflicts_with = "archive_dir")]
    pub out_dir: Option<PathBuf>,

    /// Directory for incident-<name>-<UTC timestamp>.tar.gz (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,

    /// Log streams read at once (default: evidence.logConcurrency, else 8)
    #[arg(long, value_name = "N")]
    pub max_log_requests: Option<usize>,

    #[command(flatten)]
    pub sources: SourceArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

impl EvidenceArgs {
    /// What `demo` runs at the end: the default Deployment over the last hour, the archive
    /// written to `archive_dir`; `sources` as for the command line (status page, Prometheus).
    pub fn for_demo(archive_dir: PathBuf, sources: SourceArgs) -> Self {
        EvidenceArgs {
            target: TargetArg {
                target: crate::cmd::DEFAULT_DEPLOYMENT.to_string(),
            },
            since: Some("1h".to_string()),
            out_dir: None,
            archive_dir: Some(archive_dir),
            max_log_requests: None,
            sources,
            notify: NotifyArgs::default(),
        }
    }
}

pub async fn run(args: EvidenceArgs, ctx: &Ctx) -> Result<Report> {
    let target = args.target.parse()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
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
    let notifier = args.notify.notifier(ctx, false).await?;
    let cluster = ctx.cluster().await?;
    let now = ctx.now();
    let spinner = ctx.ui.spinner(&format!("collecting evidence for {target}"));
    let workload = fetch_workload(cluster, &target.name).await?;
    let bundle = match &args.out_dir {
        Some(dir) => Bundle::directory(dir)?,
        None => {
            let dir = args
                .archive_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("."));
            Bundle::archive(&dir.join(archive_name(&target.name, now)), now)?
        }
    };
    let connections = gather::connect(
        &settings,
        cluster,
        &workload,
        &args.sources.flags(),
        prometheus,
    )?;
    let (since, since_text, since_note) = match (since, &args.since) {
        (Some(since), Some(raw)) => (since, raw.clone(), None),
        _ => {
            let chosen = crate::evidence::window::incident_since(
                &cluster.namespace,
                &workload,
                &connections,
                &settings,
                now,
            )
            .await;
            ctx.ui.event(&chosen.note);
            (chosen.since, chosen.text, Some(chosen.note))
        }
    };
    let mut secrets = gather::secrets(cluster, &workload).await;
    // The notify credentials are never in a bundle either, wherever they might turn up.
    for (i, value) in notifier.secrets().values().iter().enumerate() {
        secrets.values.push(SecretValue {
            secret: "notify".to_string(),
            key: format!("credential-{}", i + 1),
            value: value.as_bytes().to_vec(),
        });
    }
    let collected = collect(
        CollectInputs {
            cluster,
            workload: &workload,
            connections: &connections,
            secrets: &secrets,
            settings: &settings,
            health_url: args.sources.health_url.as_deref(),
            since,
            since_text,
            max_log_requests: args
                .max_log_requests
                .unwrap_or_else(|| settings.evidence.log_concurrency())
                .clamp(1, 64),
            now,
        },
        bundle,
    )
    .await?;
    spinner.finish_and_clear();
    let report = evidence_report(
        ReportTarget::deployment(
            &target.name,
            Some(&cluster.namespace),
            cluster.context.as_deref(),
        ),
        &collected,
        now,
    );
    let report = match since_note {
        Some(note) => with_window_finding(report, note),
        None => report,
    };
    if notifier.is_active() {
        notifier
            .send(bundle_event(event_target(&report.target), &report))
            .await;
    }
    Ok(notifier.attach(report))
}

/// The report with how the window was chosen when `--since` was not given.
fn with_window_finding(mut report: Report, note: String) -> Report {
    use crate::report::{Finding, Severity, Status, Step};
    report.findings.push(
        Finding::new(
            "evidence.window",
            Step::Documentation,
            Severity::P4,
            Status::Pass,
            "Window chosen from the incident",
        )
        .measured(note),
    );
    report.verdict.counts = crate::report::Counts::of(&report.findings);
    report
}

/// `incident-<name>-<UTC timestamp>.tar.gz`, the timestamp without colons so it is a safe name.
pub fn archive_name(deployment: &str, now: jiff::Timestamp) -> String {
    format!(
        "incident-{deployment}-{}.tar.gz",
        now.strftime("%Y%m%dT%H%M%SZ")
    )
}

fn parse_since(raw: &str) -> Result<Duration> {
    crate::config::duration::parse_bounded(
        raw,
        Duration::from_secs(60),
        crate::config::duration::MAX_DURATION,
    )
    .map_err(|e| Error::Usage(format!("--since {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_arguments_parse_like_the_command_line() {
        use clap::Parser;
        let parsed = crate::cmd::Cli::try_parse_from([
            "kubectl-posthog",
            "evidence",
            "--since",
            "1h",
            "--archive-dir",
            "/tmp/x",
        ])
        .unwrap();
        let crate::cmd::Command::Evidence(parsed) = parsed.command else {
            panic!("not evidence")
        };
        let demo = EvidenceArgs::for_demo(PathBuf::from("/tmp/x"), SourceArgs::default());
        assert_eq!(format!("{parsed:?}"), format!("{demo:?}"));
    }

    #[test]
    fn archive_names_are_utc_and_filesystem_safe() {
        let now: jiff::Timestamp = "2026-11-22T10:45:07Z".parse().unwrap();
        assert_eq!(
            archive_name("posthog-integration", now),
            "incident-posthog-integration-20261122T104507Z.tar.gz"
        );
    }

    #[test]
    fn since_must_be_a_duration_of_a_minute_or_more() {
        assert_eq!(parse_since("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_since("90m").unwrap(), Duration::from_secs(5400));
        for bad in ["soon", "30s", ""] {
            assert_eq!(parse_since(bad).unwrap_err().exit().code(), 2, "{bad}");
        }
    }
}
