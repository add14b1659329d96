//! Telling people: `--notify NAME` sends a command's events to the destinations the config
//! file's `notify:` section declares — a Slack incoming webhook, a Slack bot
//! (`chat.postMessage`, updates threaded under the first post), PagerDuty Events API v2
//! (`trigger` / `resolve` on one dedup key per incident), a generic JSON webhook.
//!
//! The API a command uses:
//!
//! ```ignore
//! let notifier = Notifier::connect(&config.notify, &["incidents".into()], Some(cluster), &env, dry_run).await?;
//! notifier.send(Event::new(EventKind::CanaryAborted, Severity::P1, target, "…", now)).await;
//! let report = notifier.attach(report);   // report.notifications + a finding per failed delivery
//! ```
//!
//! `send` never fails and never changes the command's outcome: a delivery that fails becomes a
//! `notify.delivery` warning in the report. Credentials come from an env var or a Secret, are
//! never printed (error text is scrubbed of them; `Notifier::secrets` gives them to a redactor),
//! and never appear in a URL shown anywhere.

pub mod delivery;
pub mod message;
mod report;
mod send;
pub mod threads;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::notify::{DestinationKind, NotifyConfig};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::report::{Notification, NotificationOutcome, Report, Severity};

pub use delivery::Secrets;
pub use message::Filter;
pub use report::{NotifyDetails, delivery_findings, notify_report};

/// The default Slack Web API and PagerDuty Events API bases.
pub const SLACK_API: &str = "https://slack.com/api";
pub const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com";

/// One resolved destination: where, with which credential, for which events.
#[derive(Debug)]
pub struct Destination {
    pub name: String,
    pub filter: Filter,
    pub timeout: Duration,
    pub(crate) target: Target,
}

/// Where a destination's messages go. The strings are credentials (never shown).
pub(crate) enum Target {
    SlackWebhook {
        url: String,
    },
    SlackBot {
        api: String,
        token: String,
        channel: String,
    },
    PagerDuty {
        events: String,
        routing_key: String,
    },
    Webhook {
        url: String,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Target {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Target::SlackWebhook { .. } => "slack-webhook",
            Target::SlackBot { .. } => "slack-bot",
            Target::PagerDuty { .. } => "pagerduty",
            Target::Webhook { .. } => "webhook",
        }
    }
}

/// Sends events to the chosen destinations and remembers what became of each.
pub struct Notifier {
    destinations: Vec<Destination>,
    commander: Option<String>,
    dry_run: bool,
    secrets: Secrets,
    /// Built only when a destination is chosen (so `Notifier::none()` needs no TLS set-up).
    client: Option<reqwest::Client>,
    /// Slack threads by (destination, incident key): the first post's `ts`.
    threads: Mutex<HashMap<(String, String), String>>,
    sent: Mutex<Vec<Notification>>,
    /// Pause before the first retry (shorter in tests).
    first_pause: Duration,
    /// Threads kept in the cluster across runs (absent without a cluster).
    store: Option<threads::ThreadStore>,
    /// Writes a Kubernetes Event on the Deployment for each rollout event (see
    /// [`Notifier::recording`]); absent unless asked for.
    recorder: Option<crate::kube::EventRecorder>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("destinations", &self.destinations)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier that sends nothing (no `--notify`).
    pub fn none() -> Self {
        Notifier {
            destinations: Vec::new(),
            commander: None,
            dry_run: false,
            secrets: Secrets::default(),
            client: None,
            threads: Mutex::new(HashMap::new()),
            sent: Mutex::new(Vec::new()),
            first_pause: Duration::from_millis(500),
            store: None,
            recorder: None,
        }
    }

    /// Resolves the destinations named by `--notify` from the config section: an unknown name
    /// or a credential that cannot be read is a usage/config error before anything runs.
    pub async fn connect(
        config: &NotifyConfig,
        names: &[String],
        cluster: Option<&crate::kube::Cluster>,
        env: &dyn Fn(&str) -> Option<String>,
        dry_run: bool,
    ) -> Result<Notifier> {
        let mut notifier = Notifier::none();
        notifier.dry_run = dry_run;
        notifier.commander = config.commander.clone();
        notifier.store = cluster.map(|c| threads::ThreadStore::new(c.client.clone()));
        if !names.is_empty() {
            // reqwest is built without a default crypto provider; a second install is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            // No redirects: a receiver that redirects a POST would have the message (and its
            // routing key) sent somewhere the config file never named; a 3xx is reported.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Remote(format!("start the HTTP client for --notify: {e}")))?;
            notifier.client = Some(client);
        }
        if let Some(ms) = env("KUBECTL_POSTHOG_NOTIFY_RETRY_MS").and_then(|v| v.parse().ok()) {
            // Tests shorten the backoff; the policy (what is retried) is unchanged.
            notifier.first_pause = Duration::from_millis(ms);
        }
        for name in names {
            if notifier.destinations.iter().any(|d| &d.name == name) {
                continue;
            }
            let Some(entry) = config.destinations.get(name) else {
                let known: Vec<&str> = config.destinations.keys().map(String::as_str).collect();
                return Err(Error::Usage(format!(
                    "--notify {name}: no such destination in the config file's notify.destinations ({})",
                    if known.is_empty() {
                        "none declared".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let key = format!("notify.destinations.{name}");
            let kind = entry.kind(name).map_err(Error::Input)?;
            let timeout = entry
                .timeout()
                .map_err(|why| Error::Input(format!("{key}.timeout {why}")))?;
            let read = |credential: &'_ crate::config::notify::Credential, what: String| {
                let reference = credential.reference().cloned().unwrap_or_default();
                async move { crate::kube::resolve_credential(&reference, &what, cluster, env).await }
            };
            let target = match kind {
                DestinationKind::SlackWebhook => {
                    let slack = entry.slack.as_ref().expect("kind() checked");
                    let reference = slack.webhook_url.as_ref().expect("kind() checked");
                    Target::SlackWebhook {
                        url: read(reference, format!("{key}.slack.webhookUrl")).await?,
                    }
                }
                DestinationKind::SlackBot => {
                    let slack = entry.slack.as_ref().expect("kind() checked");
                    let reference = slack.bot_token.as_ref().expect("kind() checked");
                    Target::SlackBot {
                        api: slack
                            .api_url
                            .clone()
                            .unwrap_or_else(|| SLACK_API.to_string()),
                        token: read(reference, format!("{key}.slack.botToken")).await?,
                        channel: slack.channel.clone().unwrap_or_default(),
                    }
                }
                DestinationKind::PagerDuty => {
                    let pagerduty = entry.pagerduty.as_ref().expect("kind() checked");
                    Target::PagerDuty {
                        events: pagerduty
                            .events_url
                            .clone()
                            .unwrap_or_else(|| PAGERDUTY_EVENTS.to_string()),
                        routing_key: read(
                            &pagerduty.routing_key,
                            format!("{key}.pagerduty.routingKey"),
                        )
                        .await?,
                    }
                }
                DestinationKind::Webhook => {
                    let webhook = entry.webhook.as_ref().expect("kind() checked");
                    Target::Webhook {
                        url: read(&webhook.url, format!("{key}.webhook.url")).await?,
                    }
                }
            };
            match &target {
                Target::SlackWebhook { url } | Target::Webhook { url } => notifier.secrets.add(url),
                Target::SlackBot { token, .. } => notifier.secrets.add(token),
                Target::PagerDuty { routing_key, .. } => notifier.secrets.add(routing_key),
            }
            notifier.destinations.push(Destination {
                name: name.clone(),
                filter: Filter {
                    events: entry.events.clone(),
                    min_severity: entry
                        .min_severity
                        .map(Severity::from)
                        .unwrap_or(Severity::P4),
                },
                timeout,
                target,
            });
        }
        Ok(notifier)
    }

    /// Also records every canary and rollback event as a Kubernetes Event on its Deployment
    /// (with or without `--notify`), so one call emits both. Never for a dry run: the commands
    /// return their plan before they build a notifier.
    pub fn recording(mut self, cluster: &crate::kube::Cluster) -> Self {
        self.recorder = crate::kube::EventRecorder::new(cluster);
        self
    }

    /// Whether any destination was chosen.
    pub fn is_active(&self) -> bool {
        !self.destinations.is_empty()
    }

    /// The credentials in use, for a redactor (the evidence bundle's) to know them.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Offers `event` to every destination, one after the other, each within its timeout.
    /// Never fails: what happened is kept for [`Notifier::attach`].
    pub async fn send(&self, event: Event) {
        if let Some(recorder) = &self.recorder {
            recorder.record(&event).await;
        }
        for destination in &self.destinations {
            let notification = self.offer(destination, &event).await;
            match notification.outcome {
                NotificationOutcome::Failed => tracing::warn!(
                    destination = %destination.name,
                    event = event.kind.name(),
                    "notification not delivered: {}",
                    notification.detail.as_deref().unwrap_or("")
                ),
                _ => tracing::info!(
                    destination = %destination.name,
                    event = event.kind.name(),
                    outcome = ?notification.outcome,
                    "notification"
                ),
            }
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(notification);
            }
        }
    }

    /// What was sent so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The report with `notifications` filled in and one `notify.delivery` warning per failed
    /// delivery. The verdict's result (and so the exit code) is unchanged; its counts include
    /// the warnings.
    pub fn attach(&self, mut report: Report) -> Report {
        let notifications = self.notifications();
        report.findings.extend(delivery_findings(&notifications));
        report.verdict.counts = crate::report::Counts::of(&report.findings);
        report.notifications.extend(notifications);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, EventTarget};
    use crate::report::Status;

    /// A command without `--notify` (and a unit test of canary or rollback) builds this: it must
    /// need no TLS provider, send nothing, and leave the report as it was.
    #[tokio::test]
    async fn none_sends_nothing_and_leaves_the_report_alone() {
        let notifier = Notifier::none();
        assert!(!notifier.is_active());
        let at: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let target = EventTarget {
            namespace: "prod".into(),
            deployment: "d".into(),
            context: None,
        };
        notifier
            .send(Event::new(
                EventKind::CanaryAborted,
                Severity::P1,
                target,
                "x",
                at,
            ))
            .await;
        let report = crate::report::tests::sample_report();
        assert_eq!(notifier.attach(report.clone()), report);
    }

    #[test]
    fn a_failed_delivery_is_a_warning_not_a_verdict() {
        let failed = Notification {
            destination: "pager".into(),
            kind: "pagerduty".into(),
            event: "canary.aborted".into(),
            outcome: NotificationOutcome::Failed,
            attempts: 3,
            detail: Some("PagerDuty answered HTTP 429".into()),
            message: None,
        };
        let report = crate::report::tests::sample_report();
        let result = report.verdict.result;
        let mut notifier = Notifier::none();
        notifier.sent = Mutex::new(vec![failed]);
        let attached = notifier.attach(report);
        assert_eq!(attached.verdict.result, result);
        let finding = attached.findings.last().unwrap();
        assert_eq!(
            (finding.id.as_str(), finding.status),
            ("notify.delivery", Status::Warn)
        );
        assert_eq!(
            attached.verdict.counts,
            crate::report::Counts::of(&attached.findings)
        );
    }
}
