//! Offering one event to one destination: the filter, the dry run, then the destination's own
//! request and how its answers are read (Slack webhook: `200 ok`; Slack Web API: `{"ok":true,
//! "ts"}`; PagerDuty: `202 {"status":"success"}`; a webhook: any 2xx).

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use super::delivery::{Answer, Policy, deliver, retry_after, short};
use super::message::{left_out, pagerduty_event, slack_message, webhook_body};
use super::{Destination, Notifier, Target, threads};
use crate::event::{Event, Phase};
use crate::report::{Notification, NotificationOutcome};

impl Notifier {
    pub(super) async fn offer(&self, destination: &Destination, event: &Event) -> Notification {
        let mut notification = Notification {
            destination: destination.name.clone(),
            kind: destination.target.kind().to_string(),
            event: event.kind.name().to_string(),
            outcome: NotificationOutcome::Skipped,
            attempts: 0,
            detail: None,
            message: None,
        };
        if let Some(why) = left_out(&destination.filter, event) {
            notification.detail = Some(why);
            return notification;
        }
        let thread_key = (destination.name.clone(), event.incident_key());
        let commander = self.commander.as_deref();
        let body = match &destination.target {
            Target::SlackWebhook { .. } => slack_message(event, commander),
            Target::SlackBot { channel, .. } => {
                let mut body = slack_message(event, commander);
                body["channel"] = json!(channel);
                if let Some(ts) = self.thread(&thread_key, &event.target.namespace).await {
                    body["thread_ts"] = json!(ts);
                    // The resolution is also shown in the channel, under the first post.
                    if event.phase == Phase::Recovered {
                        body["reply_broadcast"] = json!(true);
                    }
                }
                body
            }
            Target::PagerDuty { routing_key, .. } => match pagerduty_event(event, routing_key) {
                Some(body) => body,
                None => {
                    notification.detail = Some(
                        "PagerDuty is paged for problems and their resolution, not for progress"
                            .to_string(),
                    );
                    return notification;
                }
            },
            Target::Webhook { .. } => webhook_body(event, commander),
        };
        if self.dry_run {
            notification.outcome = NotificationOutcome::DryRun;
            notification.message = Some(masked(body, &self.secrets));
            return notification;
        }
        let Some(client) = &self.client else {
            notification.outcome = NotificationOutcome::Failed;
            notification.detail = Some("no HTTP client".to_string());
            return notification;
        };
        let policy = Policy {
            timeout: destination.timeout,
            first_pause: self.first_pause,
            deduplicated: matches!(destination.target, Target::PagerDuty { .. }),
        };
        let outcome = match &destination.target {
            Target::SlackWebhook { url } => {
                deliver(
                    || client.post(url).json(&body),
                    slack_webhook_answer,
                    policy,
                    &self.secrets,
                )
                .await
            }
            Target::SlackBot { api, token, .. } => {
                let url = format!("{}/chat.postMessage", api.trim_end_matches('/'));
                deliver(
                    || {
                        client
                            .post(&url)
                            .header(AUTHORIZATION, format!("Bearer {token}"))
                            .header(CONTENT_TYPE, "application/json; charset=utf-8")
                            .body(body.to_string())
                    },
                    slack_api_answer,
                    policy,
                    &self.secrets,
                )
                .await
            }
            Target::PagerDuty { events, .. } => {
                let url = format!("{}/v2/enqueue", events.trim_end_matches('/'));
                deliver(
                    || client.post(&url).json(&body),
                    pagerduty_answer,
                    policy,
                    &self.secrets,
                )
                .await
            }
            Target::Webhook { url } => {
                deliver(
                    || client.post(url).json(&body),
                    webhook_answer,
                    policy,
                    &self.secrets,
                )
                .await
            }
        };
        notification.attempts = outcome.attempts;
        match outcome.result {
            Ok(accepted) => {
                notification.outcome = NotificationOutcome::Sent;
                if let Target::SlackBot { .. } = destination.target {
                    self.remember_thread(
                        thread_key,
                        &accepted,
                        event.phase,
                        &event.target.namespace,
                    )
                    .await;
                }
                notification.detail = Some(accepted).filter(|a| !a.is_empty());
            }
            Err(why) => {
                notification.outcome = NotificationOutcome::Failed;
                notification.detail = Some(why);
            }
        }
        notification
    }

    async fn thread(&self, key: &(String, String), namespace: &str) -> Option<String> {
        if let Some(ts) = self.threads.lock().ok()?.get(key).cloned() {
            return Some(ts);
        }
        let store = self.store.as_ref()?;
        match store.get(namespace, &threads::key(&key.0, &key.1)).await {
            Ok(Some(ts)) => {
                // Known from here on, so a reply does not replace it.
                if let Ok(mut threads) = self.threads.lock() {
                    threads.insert(key.clone(), ts.clone());
                }
                Some(ts)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(
                    "cannot read the Slack thread from configmap {namespace}/{}: {e}",
                    threads::CONFIG_MAP
                );
                None
            }
        }
    }

    /// The first post of an incident starts its thread; a resolution ends it, so the next
    /// incident on the same target starts a new one.
    async fn remember_thread(
        &self,
        key: (String, String),
        accepted: &str,
        phase: Phase,
        namespace: &str,
    ) {
        let Some(ts) = accepted.strip_prefix("ts ") else {
            return;
        };
        let stored = threads::key(&key.0, &key.1);
        let change = match self.threads.lock() {
            Ok(mut threads) => match phase {
                Phase::Recovered => threads.remove(&key).map(|_| None).or(Some(None)),
                _ if threads.contains_key(&key) => None,
                _ => {
                    threads.insert(key, ts.to_string());
                    Some(Some(ts.to_string()))
                }
            },
            Err(_) => None,
        };
        if let (Some(value), Some(store)) = (change, &self.store)
            && let Err(e) = store.set(namespace, &stored, value.as_deref()).await
        {
            tracing::warn!(
                "cannot keep the Slack thread in configmap {namespace}/{}: {e}",
                threads::CONFIG_MAP
            );
        }
    }
}

/// The message as shown by `--dry-run`: the routing key replaced.
fn masked(mut body: Value, secrets: &super::Secrets) -> Value {
    if body.get("routing_key").is_some() {
        body["routing_key"] = json!("[REDACTED]");
    }
    serde_json::from_str(&secrets.scrub(&body.to_string())).unwrap_or(body)
}

fn transient(status: u16, headers: &HeaderMap, what: String) -> Option<Answer> {
    match status {
        429 => Some(Answer::Retry(retry_after(headers), what)),
        500..=599 => Some(Answer::Retry(None, what)),
        _ => None,
    }
}

/// Incoming webhooks answer `200 ok`, or 400 `invalid_payload`/`no_text`, 403
/// `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`, 429.
pub(crate) fn slack_webhook_answer(status: u16, headers: &HeaderMap, body: &str) -> Answer {
    let what = format!("Slack answered HTTP {status} {}", short(body));
    if (200..300).contains(&status) {
        return Answer::Accepted(String::new());
    }
    transient(status, headers, what.trim_end().to_string())
        .unwrap_or_else(|| Answer::Rejected(what.trim_end().to_string()))
}

/// The Web API answers HTTP 200 with `{"ok":false,"error":…}` for its errors, 429 when rate
/// limited. Accepted: `ts <ts>` (the thread to post updates under).
pub(crate) fn slack_api_answer(status: u16, headers: &HeaderMap, body: &str) -> Answer {
    if let Some(answer) = transient(
        status,
        headers,
        format!("Slack answered HTTP {status} {}", short(body)),
    ) {
        return answer;
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    match parsed {
        Some(v) if v["ok"] == json!(true) => {
            Answer::Accepted(format!("ts {}", v["ts"].as_str().unwrap_or("")))
        }
        Some(v) if v["error"] == json!("ratelimited") => {
            Answer::Retry(retry_after(headers), "Slack answered ratelimited".into())
        }
        Some(v) => Answer::Rejected(format!(
            "Slack answered HTTP {status} error {}",
            v["error"].as_str().unwrap_or("(none given)")
        )),
        None => Answer::Rejected(format!(
            "Slack answered HTTP {status} with no JSON: {}",
            short(body)
        )),
    }
}

/// Events API v2: 202 `{"status":"success","dedup_key":…}`; 400 invalid event; 429 back off.
pub(crate) fn pagerduty_answer(status: u16, headers: &HeaderMap, body: &str) -> Answer {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .map(|v| {
            let errors = v["errors"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            format!("{} {errors}", v["message"].as_str().unwrap_or(""))
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| short(body));
    if status == 202 {
        let key = parsed
            .as_ref()
            .and_then(|v| v["dedup_key"].as_str())
            .unwrap_or("");
        return Answer::Accepted(format!("dedup_key {key}"));
    }
    let what = format!("PagerDuty answered HTTP {status} {message}")
        .trim_end()
        .to_string();
    transient(status, headers, what.clone()).unwrap_or(Answer::Rejected(what))
}

pub(crate) fn webhook_answer(status: u16, headers: &HeaderMap, body: &str) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Accepted(String::new());
    }
    let what = format!("the webhook answered HTTP {status} {}", short(body))
        .trim_end()
        .to_string();
    transient(status, headers, what.clone()).unwrap_or(Answer::Rejected(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(r) = retry {
            h.insert(reqwest::header::RETRY_AFTER, r.parse().unwrap());
        }
        h
    }

    #[test]
    fn answers_are_read_as_each_api_documents_them() {
        assert_eq!(
            slack_webhook_answer(200, &headers(None), "ok"),
            Answer::Accepted(String::new())
        );
        assert_eq!(
            slack_webhook_answer(400, &headers(None), "invalid_payload"),
            Answer::Rejected("Slack answered HTTP 400 invalid_payload".into())
        );
        assert_eq!(
            slack_webhook_answer(429, &headers(Some("2")), "rate_limited"),
            Answer::Retry(
                Some(std::time::Duration::from_secs(2)),
                "Slack answered HTTP 429 rate_limited".into()
            )
        );
        assert_eq!(
            slack_api_answer(
                200,
                &headers(None),
                r#"{"ok":true,"channel":"C1","ts":"1700000000.000100"}"#
            ),
            Answer::Accepted("ts 1700000000.000100".into())
        );
        assert_eq!(
            slack_api_answer(
                200,
                &headers(None),
                r#"{"ok":false,"error":"channel_not_found"}"#
            ),
            Answer::Rejected("Slack answered HTTP 200 error channel_not_found".into())
        );
        assert_eq!(
            pagerduty_answer(
                202,
                &headers(None),
                r#"{"status":"success","message":"Event processed","dedup_key":"k"}"#
            ),
            Answer::Accepted("dedup_key k".into())
        );
        assert_eq!(
            pagerduty_answer(400, &headers(None), r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#),
            Answer::Rejected("PagerDuty answered HTTP 400 Event object is invalid Length of 'routing_key' is incorrect (should be 32 characters)".into())
        );
        assert!(matches!(
            pagerduty_answer(429, &headers(None), ""),
            Answer::Retry(None, _)
        ));
        assert!(matches!(
            webhook_answer(503, &headers(None), ""),
            Answer::Retry(None, _)
        ));
        assert!(matches!(
            webhook_answer(204, &headers(None), ""),
            Answer::Accepted(_)
        ));
    }
}
