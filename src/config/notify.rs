//! The `notify:` section of the configuration file: where `--notify NAME` sends events. Every
//! credential (a webhook URL, a bot token, a routing key) is a reference to an environment
//! variable or a Secret key, never a value: the file cannot hold one in clear.
//!
//! ```yaml
//! notify:
//!   commander: "@oncall"                  # the Slack template's "Incident commander" line
//!   destinations:
//!     incidents:                          # --notify incidents
//!       slack:
//!         webhookUrl: { env: SLACK_WEBHOOK_URL }
//!       events: ["canary.*", rollback.failed, triage.result]   # default: every event
//!       minSeverity: p2                   # default p4: everything
//!       timeout: 10s                      # every attempt and retry together
//!     incidents-thread:
//!       slack:
//!         botToken: { secret: { name: notify, key: slack-bot-token } }
//!         channel: C0123456789            # chat.postMessage; updates thread under the first post
//!     pager:
//!       pagerduty:
//!         routingKey: { secret: { name: notify, key: pagerduty-routing-key } }
//!     audit:
//!       webhook:
//!         url: { env: AUDIT_WEBHOOK_URL }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::SeverityName;
use super::prometheus::CredentialRef;

/// The `notify:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyConfig {
    /// The runbook template's `Incident commander: @[name]` line (omitted when unset).
    pub commander: Option<String>,
    /// Destinations by the name `--notify NAME` uses.
    pub destinations: BTreeMap<String, DestinationConfig>,
}

/// One destination: exactly one of `slack`, `pagerduty`, `webhook`, and what it receives.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationConfig {
    pub slack: Option<SlackConfig>,
    pub pagerduty: Option<PagerDutyConfig>,
    pub webhook: Option<WebhookConfig>,
    /// Event names or families (`canary.aborted`, `canary.*`, `*`); empty: every event.
    pub events: Vec<String>,
    /// The least severe problem or progress event delivered (`p1`…`p4`, default `p4`).
    /// Recoveries (promoted, rollback done, resolved) always pass: they close what was opened.
    pub min_severity: Option<SeverityName>,
    /// The longest one delivery may take, retries included (default `10s`).
    pub timeout: Option<String>,
}

/// Slack: an incoming webhook, or a bot token and channel (`chat.postMessage`, threaded).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    pub webhook_url: Option<Credential>,
    pub bot_token: Option<Credential>,
    /// The channel ID (or name) a bot posts to.
    pub channel: Option<String>,
    /// The Web API base (default `https://slack.com/api`), for a proxy or a test.
    pub api_url: Option<String>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub routing_key: Credential,
    /// The Events API base (default `https://events.pagerduty.com`), for a proxy or a test.
    pub events_url: Option<String>,
}

/// A generic JSON webhook: the event as JSON, POSTed to a URL that is itself a credential.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: Credential,
}

/// A credential of the section: a reference (`{ env: VAR }`, `{ secret: { name, key } }`). A
/// value written in the file is read too, only so that validation can refuse it naming its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    Ref(CredentialRef),
    Written,
}

impl Default for Credential {
    fn default() -> Self {
        Credential::Ref(CredentialRef::default())
    }
}

impl Credential {
    pub fn reference(&self) -> Option<&CredentialRef> {
        match self {
            Credential::Ref(reference) => Some(reference),
            Credential::Written => None,
        }
    }
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Credential;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("{ env: VAR } or { secret: { name, key } }")
            }
            // The value itself is dropped at once: it is never kept, shown or used.
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Credential, E> {
                Ok(Credential::Written)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Credential, A::Error> {
                CredentialRef::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Credential::Ref)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The destination's kind, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    SlackWebhook,
    SlackBot,
    PagerDuty,
    Webhook,
}

impl DestinationConfig {
    /// The kind, or why the entry is not one (`key: why`).
    pub fn kind(&self, name: &str) -> Result<DestinationKind, String> {
        let key = format!("notify.destinations.{name}");
        let kinds = [
            self.slack.is_some(),
            self.pagerduty.is_some(),
            self.webhook.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!(
                "{key}: give exactly one of `slack`, `pagerduty` or `webhook`"
            ));
        }
        if let Some(slack) = &self.slack {
            return match (&slack.webhook_url, &slack.bot_token, &slack.channel) {
                (Some(url), None, None) => {
                    credential(&format!("{key}.slack.webhookUrl"), url)?;
                    Ok(DestinationKind::SlackWebhook)
                }
                (None, Some(token), Some(channel)) if !channel.trim().is_empty() => {
                    credential(&format!("{key}.slack.botToken"), token)?;
                    Ok(DestinationKind::SlackBot)
                }
                (None, Some(_), _) => Err(format!(
                    "{key}.slack.channel: a bot token posts to a channel; write its ID, e.g. C0123456789"
                )),
                _ => Err(format!(
                    "{key}.slack: give either `webhookUrl`, or `botToken` and `channel`"
                )),
            };
        }
        if let Some(pagerduty) = &self.pagerduty {
            credential(
                &format!("{key}.pagerduty.routingKey"),
                &pagerduty.routing_key,
            )?;
            return Ok(DestinationKind::PagerDuty);
        }
        if let Some(webhook) = &self.webhook {
            credential(&format!("{key}.webhook.url"), &webhook.url)?;
        }
        Ok(DestinationKind::Webhook)
    }

    /// The delivery deadline.
    pub fn timeout(&self) -> Result<std::time::Duration, String> {
        match &self.timeout {
            None => Ok(std::time::Duration::from_secs(10)),
            Some(raw) => humantime::parse_duration(raw.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{raw:?}: write a duration such as 10s")),
        }
    }
}

fn credential(key: &str, credential: &Credential) -> Result<(), String> {
    let Credential::Ref(reference) = credential else {
        return Err(format!(
            "{key}: a credential is never written in the file; write {{ env: VAR }} or {{ secret: {{ name, key }} }}"
        ));
    };
    match (&reference.env, &reference.secret) {
        (Some(env), None) if !env.trim().is_empty() => Ok(()),
        (None, Some(secret)) if !secret.name.is_empty() && !secret.key.is_empty() => Ok(()),
        _ => Err(format!(
            "{key}: give exactly one of `env: VAR` or `secret: {{name, key}}` (a credential is never written in the file)"
        )),
    }
}

/// Every problem in the section, the first one as `key: why`.
pub fn validate(config: &NotifyConfig) -> Result<(), String> {
    for (name, destination) in &config.destinations {
        let key = format!("notify.destinations.{name}");
        destination.kind(name)?;
        for (i, pattern) in destination.events.iter().enumerate() {
            if !crate::event::EventKind::is_pattern(pattern) {
                let names: Vec<&str> = crate::event::EventKind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect();
                return Err(format!(
                    "{key}.events[{i}] {pattern:?}: not an event; write one of {} or a family such as canary.*",
                    names.join(", ")
                ));
            }
        }
        destination
            .timeout()
            .map_err(|why| format!("{key}.timeout {why}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn every_kind_parses() {
        let config = Config::parse(
            "notify:
  commander: '@oncall'
  destinations:
    a: {slack: {webhookUrl: {env: SLACK_URL}}, events: ['canary.*'], minSeverity: p2}
    b: {slack: {botToken: {secret: {name: n, key: t}}, channel: C01}}
    c: {pagerduty: {routingKey: {env: PD}}, timeout: 3s}
    d: {webhook: {url: {env: HOOK}}}
",
        )
        .unwrap();
        assert_eq!(config.notify.destinations.len(), 4);
        assert_eq!(
            config.notify.destinations["c"].timeout().unwrap(),
            std::time::Duration::from_secs(3)
        );
    }

    #[test]
    fn mistakes_are_refused_naming_the_key() {
        for (text, key) in [
            (
                "notify: {destinations: {a: {slack: {webhookUrl: 'https://hooks.slack.com/x'}}}}",
                "notify.destinations.a.slack.webhookUrl: a credential is never written in the file",
            ),
            (
                "notify: {destinations: {a: {slack: {webhookUrl: {env: X}}, pagerduty: {routingKey: {env: Y}}}}}",
                "notify.destinations.a: give exactly one",
            ),
            (
                "notify: {destinations: {a: {slack: {botToken: {env: X}}}}}",
                "notify.destinations.a.slack.channel",
            ),
            (
                "notify: {destinations: {a: {pagerduty: {routingKey: {}}}}}",
                "notify.destinations.a.pagerduty.routingKey",
            ),
            (
                "notify: {destinations: {a: {webhook: {url: {env: X}}, events: [canary.abort]}}}",
                "notify.destinations.a.events[0] \"canary.abort\"",
            ),
            (
                "notify: {destinations: {a: {webhook: {url: {env: X}}, timeout: soon}}}",
                "notify.destinations.a.timeout",
            ),
            (
                "notify: {destinations: {a: {pagerduty: {routingKey: {env: X}, key: R0123}}}}",
                "key",
            ),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
