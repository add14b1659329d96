//! `--notify NAME`, shared by every command that emits events (`canary`, `rollback`, `triage`,
//! `evidence`, `rotate-key`, `notify`): flatten [`NotifyArgs`] into the command's arguments,
//! build the [`Notifier`] once, send events as they happen, attach the outcome to the report.
//!
//! ```ignore
//! #[command(flatten)]
//! pub notify: NotifyArgs,
//! …
//! let notifier = args.notify.notifier(ctx, args.dry_run).await?;
//! notifier.send(Event::new(EventKind::CanaryStarted, Severity::P4, event_target(&report_target), "…", ctx.now())).await;
//! Ok(notifier.attach(report))
//! ```

use clap::Args;

use crate::cmd::Ctx;
use crate::error::Result;
use crate::event::EventTarget;
use crate::notify::Notifier;
use crate::report::ReportTarget;

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct NotifyArgs {
    /// Send this command's events to a destination declared under notify.destinations in the
    /// config file (Slack, PagerDuty, a webhook); repeatable. A failed delivery is a warning in
    /// the report and never changes the exit code
    #[arg(long = "notify", value_name = "NAME")]
    pub notify: Vec<String>,
}

impl NotifyArgs {
    /// The destinations named, their credentials read (from the environment or a Secret); a
    /// notifier that sends nothing without `--notify`. With `dry_run`, messages are shown in
    /// the report instead of sent.
    pub async fn notifier(&self, ctx: &Ctx, dry_run: bool) -> Result<Notifier> {
        if self.notify.is_empty() {
            return Ok(Notifier::none());
        }
        let config = &ctx.config()?.notify;
        // Every command that notifies acts on a cluster: credentials may be Secrets there, and
        // a Slack bot's threads are kept there between runs.
        let cluster = ctx.cluster().await?;
        Notifier::connect(
            config,
            &self.notify,
            Some(cluster),
            &|k| std::env::var(k).ok(),
            dry_run,
        )
        .await
    }
}

/// The event target for a report's target (a Deployment in a namespace, in a context).
pub fn event_target(target: &ReportTarget) -> EventTarget {
    EventTarget {
        namespace: target
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        deployment: target.name.clone(),
        context: target.context.clone(),
    }
}
