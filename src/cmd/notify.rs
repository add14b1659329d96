//! `kubectl posthog notify`: the runbook's "Communicate Status" step — post an incident update
//! (or its resolution) to the destinations of the config file's `notify:` section, with the
//! runbook's Slack template filled in, the same PagerDuty dedup key the other commands use, and
//! the same thread.

use clap::Args;

use crate::cmd::notify_args::{NotifyArgs, event_target};
use crate::cmd::{Ctx, TargetArg};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::notify::notify_report;
use crate::report::{Report, ReportTarget, Severity};

const AFTER_HELP: &str = "\
Destinations are declared in the config file; credentials come from an env var or a Secret:
  notify:
    commander: \"@oncall\"
    destinations:
      incidents: { slack: { webhookUrl: { env: SLACK_WEBHOOK_URL } }, minSeverity: p2 }
      pager:     { pagerduty: { routingKey: { secret: { name: notify, key: routing-key } } } }

Updates of one Deployment's incident share PagerDuty's dedup_key and the Slack bot's thread, so
`--resolved` closes the alert a canary abort or a triage opened.

Examples:
  kubectl posthog notify --notify incidents --notify pager -n prod --severity p1 \\
      --summary '401s from every pod since 10:42' --impact 'no events ingested' \\
      --action 'rotating the project key' --next-update '11:15 UTC'
  kubectl posthog notify --notify pager --acknowledge --summary 'on it: @alice'
  kubectl posthog notify --notify pager --resolved --summary 'key rotated, events flowing'
  kubectl posthog notify --notify incidents --dry-run -o json

Exit codes:
  0    delivered to every destination (or skipped by its filter, or --dry-run)
  1    a delivery failed (each is a finding with the receiver's answer)
  2    usage or configuration error (an unknown destination, a credential not set)
  3    a Secret holding a credential could not be read";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct NotifyCommandArgs {
    #[command(flatten)]
    pub target: TargetArg,

    #[command(flatten)]
    pub notify: NotifyArgs,

    /// The incident's severity (P1 complete outage … P4 no user impact)
    #[arg(long, value_enum, default_value_t = Severity::P2)]
    pub severity: Severity,

    /// What happened or what is going on, one line
    #[arg(long, value_name = "TEXT")]
    pub summary: String,

    /// The template's Impact line (default: the severity's definition)
    #[arg(long, value_name = "TEXT")]
    pub impact: Option<String>,

    /// The template's Current action line (default: the summary)
    #[arg(long = "action", value_name = "TEXT")]
    pub current_action: Option<String>,

    /// The template's Next update line (default: within the severity's response time)
    #[arg(long, value_name = "TEXT")]
    pub next_update: Option<String>,

    /// A link to the run, the bundle or a dashboard
    #[arg(long, value_name = "URL")]
    pub link: Option<String>,

    /// Names the incident when several are open on one Deployment (part of the dedup key)
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,

    /// The incident is over: Slack RESOLVED, PagerDuty resolve
    #[arg(long, conflicts_with = "acknowledge")]
    pub resolved: bool,

    /// Someone is on it: PagerDuty acknowledge (stops escalation), Slack MONITORING
    #[arg(long)]
    pub acknowledge: bool,

    /// Show each message that would be sent, send nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(args: NotifyCommandArgs, ctx: &Ctx) -> Result<Report> {
    if args.notify.notify.is_empty() {
        return Err(Error::Usage(
            "notify needs at least one --notify NAME (a destination under notify.destinations)"
                .to_string(),
        ));
    }
    let target = args.target.parse()?;
    let notifier = args.notify.notifier(ctx, args.dry_run).await?;
    let cluster = ctx.cluster().await?;
    let report_target = ReportTarget::deployment(
        &target.name,
        Some(&cluster.namespace),
        cluster.context.as_deref(),
    );
    let kind = match (args.resolved, args.acknowledge) {
        (true, _) => EventKind::IncidentResolved,
        (_, true) => EventKind::IncidentAcknowledged,
        _ => EventKind::IncidentUpdate,
    };
    let mut event = Event::new(
        kind,
        args.severity,
        event_target(&report_target),
        &args.summary,
        ctx.now(),
    );
    if kind == EventKind::IncidentUpdate {
        // A person posting an update is in an incident: it opens (or keeps open) the alert.
        event = event.phase(crate::event::Phase::Problem);
    }
    event.impact = args.impact;
    event.current_action = args.current_action;
    event.next_update = args.next_update;
    event.link = args.link;
    event.incident = args.incident;
    notifier.send(event.clone()).await;
    Ok(notify_report(
        report_target,
        &event,
        notifier.notifications(),
        ctx.now(),
    ))
}
