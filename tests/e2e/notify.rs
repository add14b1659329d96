//! `--notify` and `kubectl posthog notify` against the Slack, PagerDuty and webhook stand-ins
//! (documented request and response shapes, their errors included) on the simulated cluster:
//! the runbook's Slack template, PagerDuty trigger then resolve on one dedup key, a bot's
//! thread kept across runs, the events filter, retries within the timeout, a dead destination
//! as a finding with the exit code unchanged, and no credential anywhere in any output.

use std::time::Duration;

use serde_json::Value;

use crate::standins::notify::{BOT_TOKEN, CHANNEL, Fault, NotifyStandIn, ROUTING_KEY};
use crate::standins::posthog::{Behaviour, PostHogStandIn, healthy_summary};
use crate::support::Run;
use crate::triage::{Incident, PrometheusStandIn, Rates, healthy};

const DEDUP_KEY: &str = "kubectl-posthog/simcluster/prod/posthog-integration";

/// The config file: one destination of each kind, credentials from env vars (and the routing
/// key from a Secret), the stand-in's API bases.
fn config(stand_in: &NotifyStandIn, extra: &str) -> String {
    format!(
        r#"notify:
  commander: "@oncall"
  destinations:
    slack:
      slack: {{ webhookUrl: {{ env: TEST_SLACK_WEBHOOK }} }}
      timeout: 5s
    bot:
      slack: {{ botToken: {{ env: TEST_SLACK_BOT_TOKEN }}, channel: {CHANNEL}, apiUrl: "{api}" }}
    pager:
      pagerduty: {{ routingKey: {{ secret: {{ name: notify-credentials, key: routing-key }} }}, eventsUrl: "{url}" }}
    hook:
      webhook: {{ url: {{ env: TEST_WEBHOOK }} }}
    dead:
      webhook: {{ url: {{ env: TEST_DEAD_WEBHOOK }} }}
      timeout: 2s
{extra}"#,
        api = stand_in.slack_api(),
        url = stand_in.url(),
    )
}

struct Setup {
    incident: Incident,
    stand_in: NotifyStandIn,
    dead: String,
}

impl Setup {
    async fn start() -> Setup {
        Setup::with_config("").await
    }

    async fn with_config(extra: &str) -> Setup {
        let incident = Incident::start(healthy(), 2, true).await;
        let stand_in = NotifyStandIn::start().await;
        let b64 = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        incident
            .sim
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: notify-credentials, namespace: prod}}\ntype: Opaque\ndata:\n  routing-key: {}\n",
                b64(ROUTING_KEY)
            ))
            .expect("the notify Secret");
        std::fs::write(
            incident.dir.path().join("kubectl-posthog.yaml"),
            config(&stand_in, extra),
        )
        .unwrap();
        // A URL on which nothing listens, with a secret path of its own.
        let dead = format!("{}/hook/DeadHookSecret42", crate::standins::dead_url());
        Setup {
            incident,
            stand_in,
            dead,
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let (slack, hook) = (
            self.stand_in.slack_webhook_url(),
            self.stand_in.webhook_url(),
        );
        self.incident
            .run_with_env(
                args,
                &[
                    ("TEST_SLACK_WEBHOOK", &slack),
                    ("TEST_SLACK_BOT_TOKEN", BOT_TOKEN),
                    ("TEST_WEBHOOK", &hook),
                    ("TEST_DEAD_WEBHOOK", &self.dead),
                    ("KUBECTL_POSTHOG_NOTIFY_RETRY_MS", "100"),
                ],
            )
            .await
    }

    /// Every credential this setup plants.
    fn secrets(&self) -> Vec<String> {
        vec![
            self.stand_in.slack_webhook_url(),
            "PlantedWebhookSecret42xyz".to_string(),
            "PlantedGenericSecret42abc".to_string(),
            "DeadHookSecret42".to_string(),
            ROUTING_KEY.to_string(),
            BOT_TOKEN.to_string(),
            "PlantedBotTokenSecret42".to_string(),
        ]
    }

    fn assert_no_secret(&self, what: &str, text: &str) {
        for secret in self.secrets() {
            assert!(
                !text.contains(&secret),
                "{what} shows a credential ({secret}):\n{text}"
            );
        }
    }
}

fn json_of(run: &Run) -> Value {
    crate::support::report_json(&run.stdout)
}

fn notifications(report: &Value) -> Vec<Value> {
    report["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn outcome_of(report: &Value, destination: &str) -> (String, u64, String) {
    let n = notifications(report)
        .into_iter()
        .find(|n| n["destination"] == destination)
        .unwrap_or_else(|| panic!("no notification for {destination}: {report}"));
    (
        n["outcome"].as_str().unwrap_or("").to_string(),
        n["attempts"].as_u64().unwrap_or(0),
        n["detail"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_posts_the_runbook_template_to_slack_and_pagerduty_and_a_later_resolve_closes_the_same_alert()
 {
    let setup = Setup::start().await;
    let out = setup
        .run(&[
            "notify",
            "--notify",
            "slack",
            "--notify",
            "pager",
            "--notify",
            "hook",
            "--severity",
            "p1",
            "--summary",
            "401s from every pod since 10:42",
            "--impact",
            "no events ingested",
            "--action",
            "rotating the project key",
            "--next-update",
            "11:15 UTC",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = json_of(&out);
    for destination in ["slack", "pager", "hook"] {
        assert_eq!(
            outcome_of(&report, destination).0,
            "sent",
            "{destination}: {report}"
        );
    }

    // Slack: the runbook's template as text, and Block Kit the stand-in accepted (200 ok).
    let posts = setup.stand_in.requests_to("/services/");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 200);
    let message = posts[0].json();
    assert_eq!(
        message["text"],
        "🔴 P1 INCIDENT: PostHog Integration\nStatus: INVESTIGATING\nImpact: no events ingested\nCurrent action: rotating the project key\nNext update: 11:15 UTC\nIncident commander: @oncall\nTarget: deployment/posthog-integration -n prod"
    );
    assert_eq!(message["blocks"][0]["type"], "header");

    // PagerDuty: a trigger with the mapped severity and a stable dedup key.
    let events = setup.stand_in.requests_to("/v2/enqueue");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, 202);
    let event = events[0].json();
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["dedup_key"], DEDUP_KEY);
    assert_eq!(
        setup.stand_in.alert(DEDUP_KEY).as_deref(),
        Some("triggered")
    );
    // The webhook gets the event as JSON.
    let hook = setup.stand_in.requests_to("/hook/")[0].json();
    assert_eq!(hook["event"], "incident.update");
    assert_eq!(hook["incidentKey"], DEDUP_KEY);

    // Someone acknowledges it, then a later success, in another run, resolves the same alert.
    let ack = setup
        .run(&[
            "notify",
            "--notify",
            "pager",
            "--acknowledge",
            "--summary",
            "on it",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    assert_eq!(
        setup.stand_in.alert(DEDUP_KEY).as_deref(),
        Some("acknowledged")
    );
    let resolved = setup
        .run(&[
            "notify",
            "--notify",
            "pager",
            "--notify",
            "slack",
            "--resolved",
            "--summary",
            "key rotated, events flowing",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    let events = setup.stand_in.requests_to("/v2/enqueue");
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].json()["event_action"], "acknowledge");
    assert_eq!(events[2].json()["event_action"], "resolve");
    assert_eq!(events[2].json()["dedup_key"], DEDUP_KEY);
    assert_eq!(setup.stand_in.alert(DEDUP_KEY).as_deref(), Some("resolved"));
    let last = setup
        .stand_in
        .requests_to("/services/")
        .pop()
        .unwrap()
        .json();
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .starts_with("✅ RESOLVED: PostHog Integration\nStatus: RESOLVED"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_threads_every_update_of_an_incident_under_its_first_post_across_runs() {
    let setup = Setup::start().await;
    for args in [
        &[
            "notify",
            "--notify",
            "bot",
            "--severity",
            "p2",
            "--summary",
            "429s rising",
        ][..],
        &[
            "notify",
            "--notify",
            "bot",
            "--severity",
            "p2",
            "--summary",
            "queueing enabled",
        ][..],
        &[
            "notify",
            "--notify",
            "bot",
            "--resolved",
            "--summary",
            "rate back to normal",
        ][..],
        &[
            "notify",
            "--notify",
            "bot",
            "--severity",
            "p3",
            "--summary",
            "a new incident",
        ][..],
    ] {
        let out = setup.run(args).await;
        assert_eq!(out.code, 0, "{args:?}: {}\n{}", out.stdout, out.stderr);
    }
    let posts: Vec<Value> = setup
        .stand_in
        .requests_to("/api/chat.postMessage")
        .iter()
        .map(|s| s.json())
        .collect();
    assert_eq!(posts.len(), 4);
    assert!(posts[0].get("thread_ts").is_none(), "{}", posts[0]);
    assert_eq!(posts[1]["thread_ts"], "1764633600.000001");
    assert_eq!(posts[2]["thread_ts"], "1764633600.000001");
    assert_eq!(posts[2]["reply_broadcast"], true);
    // The resolution ended the thread: the next incident starts its own.
    assert!(posts[3].get("thread_ts").is_none(), "{}", posts[3]);
    assert!(
        setup
            .stand_in
            .requests_to("/api/")
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {BOT_TOKEN}")[..]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_destination_receives_only_its_events_at_or_above_its_severity() {
    let setup = Setup::with_config(
        r#"    paged:
      pagerduty: { routingKey: { secret: { name: notify-credentials, key: routing-key } }, eventsUrl: "URL" }
      events: ["triage.*", "incident.resolved"]
      minSeverity: p1
"#,
    )
    .await;
    // The placeholder above is the stand-in's base.
    let path = setup.incident.dir.path().join("kubectl-posthog.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"URL\"", &format!("\"{}\"", setup.stand_in.url()));
    std::fs::write(&path, text).unwrap();

    let out = setup
        .run(&[
            "notify",
            "--notify",
            "paged",
            "--severity",
            "p1",
            "--summary",
            "x",
            "-o",
            "json",
        ])
        .await;
    let (outcome, attempts, detail) = outcome_of(&json_of(&out), "paged");
    assert_eq!((outcome.as_str(), attempts), ("skipped", 0));
    assert!(
        detail.contains("incident.update is not in this destination's events"),
        "{detail}"
    );
    assert!(setup.stand_in.requests_to("/v2/").is_empty());

    let posthog =
        PostHogStandIn::start(Behaviour::default().status_summary(healthy_summary())).await;
    let rates = |auth: f64, rate_limited: f64| Rates {
        auth: Some(auth),
        rate_limited: Some(rate_limited),
        server: Some(0.0),
        p99_ms: Some(80.0),
    };
    // 429s only: P2, below this destination's minSeverity p1.
    let prometheus = PrometheusStandIn::start(rates(0.0, 9.0)).await;
    let status = posthog.status_url();
    let triage = |prom: String| {
        let setup = &setup;
        let status = status.clone();
        async move {
            setup
                .run(&[
                    "triage",
                    "--status-url",
                    &status,
                    "--prometheus-url",
                    &prom,
                    "--notify",
                    "paged",
                    "-o",
                    "json",
                ])
                .await
        }
    };
    let out = triage(prometheus.url.clone()).await;
    let (outcome, _, detail) = outcome_of(&json_of(&out), "paged");
    assert_eq!(outcome, "skipped");
    assert!(
        detail.contains("P2 is below this destination's minSeverity P1"),
        "{detail}"
    );
    assert!(setup.stand_in.requests_to("/v2/").is_empty());
    // 401s: P1, delivered.
    let prometheus = PrometheusStandIn::start(rates(0.5, 0.0)).await;
    let out = triage(prometheus.url.clone()).await;
    assert_eq!(out.code, 1, "triage's own verdict: {}", out.stderr);
    assert_eq!(outcome_of(&json_of(&out), "paged").0, "sent");
    let sent = setup.stand_in.requests_to("/v2/enqueue");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["payload"]["class"], "triage.result");
    assert!(
        sent[0].json()["payload"]["custom_details"]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_within_the_timeout_and_a_dead_destination_is_a_finding_that_leaves_the_exit_code_alone()
 {
    let setup = Setup::start().await;
    let posthog =
        PostHogStandIn::start(Behaviour::default().status_summary(healthy_summary())).await;
    let prometheus = PrometheusStandIn::start(Rates {
        auth: Some(0.0),
        rate_limited: Some(0.0),
        server: Some(0.0),
        p99_ms: Some(80.0),
    })
    .await;
    let triage = [
        "triage",
        "--status-url",
        &posthog.status_url(),
        "--prometheus-url",
        &prometheus.url,
        "-o",
        "json",
    ];
    let without = setup.run(&triage).await;
    assert_eq!(without.code, 0, "{}", without.stderr);

    setup.stand_in.fail("/services/", Fault::RateLimit(1), 1);
    setup
        .stand_in
        .fail("/v2/enqueue", Fault::Status(500, "{}".into()), 1);
    let with = setup
        .run(
            &[
                &triage[..],
                &["--notify", "slack", "--notify", "pager", "--notify", "dead"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(
        with.code, without.code,
        "a failed delivery changed the exit code: {}",
        with.stderr
    );
    let report = json_of(&with);
    assert_eq!(
        report["verdict"]["result"],
        json_of(&without)["verdict"]["result"]
    );
    let (outcome, attempts, _) = outcome_of(&report, "slack");
    assert_eq!(
        (outcome.as_str(), attempts),
        ("sent", 2),
        "429 then 200: {report}"
    );
    let statuses: Vec<u16> = setup
        .stand_in
        .requests_to("/services/")
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
    // The healthy triage resolves: PagerDuty retried the 500 and resolved.
    let (outcome, attempts, _) = outcome_of(&report, "pager");
    assert_eq!((outcome.as_str(), attempts), ("sent", 2));
    assert_eq!(
        setup.stand_in.requests_to("/v2/enqueue")[1].json()["event_action"],
        "resolve"
    );
    let (outcome, _, detail) = outcome_of(&report, "dead");
    assert_eq!(outcome, "failed");
    assert!(detail.contains("could not connect"), "{detail}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "notify.delivery")
        .expect("a finding");
    assert_eq!(finding["status"], "warn");
    assert_eq!(finding["subject"], "dead");

    // Slack's errors are not retried and are reported with Slack's words.
    setup.stand_in.fail(
        "/services/",
        Fault::Status(400, "invalid_payload".into()),
        1,
    );
    let out = setup
        .run(&[&triage[..], &["--notify", "slack"]].concat())
        .await;
    assert_eq!(out.code, 0);
    let (outcome, attempts, detail) = outcome_of(&json_of(&out), "slack");
    assert_eq!((outcome.as_str(), attempts), ("failed", 1));
    assert_eq!(detail, "Slack answered HTTP 400 invalid_payload");
    // A Retry-After past the timeout is not waited for.
    setup.stand_in.fail("/services/", Fault::RateLimit(30), 1);
    let started = std::time::Instant::now();
    let out = setup
        .run(&[&triage[..], &["--notify", "slack"]].concat())
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let (outcome, _, detail) = outcome_of(&json_of(&out), "slack");
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("Retry-After 30s is past the 5s timeout"),
        "{detail}"
    );
    // An archived channel, and the bot's channel_not_found.
    setup.stand_in.archive_channel();
    let out = setup
        .run(&[
            "notify",
            "--notify",
            "slack",
            "--summary",
            "x",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 1, "delivering is notify's whole job");
    assert_eq!(
        outcome_of(&json_of(&out), "slack").2,
        "Slack answered HTTP 410 channel_is_archived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_webhook_url_routing_key_or_bot_token_appears_in_any_output_log_or_bundle() {
    let setup = Setup::start().await;
    // Every destination fails somehow, so every error path is printed.
    setup.stand_in.fail(
        "/services/",
        Fault::Status(404, "channel_not_found".into()),
        usize::MAX,
    );
    setup.stand_in.fail(
        "/v2/enqueue",
        Fault::Status(
            400,
            format!(
                "{{\"status\":\"invalid event\",\"message\":\"routing key {ROUTING_KEY} unknown\"}}"
            ),
        ),
        usize::MAX,
    );
    setup.stand_in.fail(
        "/api/",
        Fault::Status(200, r#"{"ok":false,"error":"invalid_auth"}"#.into()),
        usize::MAX,
    );
    let all = [
        "--notify", "slack", "--notify", "pager", "--notify", "bot", "--notify", "hook",
        "--notify", "dead",
    ];
    for verbosity in [&[][..], &["-v"][..], &["-vv"][..], &["-vvv"][..]] {
        for output in ["table", "json", "yaml", "markdown"] {
            let out = setup
                .run(
                    &[
                        &["notify", "--summary", "x", "-o", output][..],
                        &all[..],
                        verbosity,
                    ]
                    .concat(),
                )
                .await;
            assert_eq!(out.code, 1, "{}", out.stderr);
            setup.assert_no_secret(
                &format!("notify -o {output} {verbosity:?} stdout"),
                &out.stdout,
            );
            setup.assert_no_secret(
                &format!("notify -o {output} {verbosity:?} stderr"),
                &out.stderr,
            );
        }
        let dry = setup
            .run(
                &[
                    &["notify", "--summary", "x", "--dry-run", "-o", "json"][..],
                    &all[..],
                    verbosity,
                ]
                .concat(),
            )
            .await;
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        setup.assert_no_secret("--dry-run", &dry.stdout);
        setup.assert_no_secret("--dry-run stderr", &dry.stderr);
        let message = notifications(&json_of(&dry))
            .into_iter()
            .find(|n| n["destination"] == "pager")
            .unwrap();
        assert_eq!(message["outcome"], "dry-run");
        assert_eq!(message["message"]["routing_key"], "[REDACTED]");
    }
    // An unset variable names the key and the variable, not a value.
    let out = setup
        .incident
        .run(&["notify", "--notify", "slack", "--summary", "x"])
        .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("notify.destinations.slack.slack.webhookUrl: environment variable TEST_SLACK_WEBHOOK is not set"), "{}", out.stderr);

    // The evidence bundle, with the env holding every credential, has none of them.
    let bundle = setup.incident.dir.path().join("bundle");
    let out = setup
        .run(
            &[
                &["evidence", "--out-dir", bundle.to_str().unwrap(), "-vv"][..],
                &all[..],
            ]
            .concat(),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    setup.assert_no_secret("evidence stdout", &out.stdout);
    setup.assert_no_secret("evidence stderr", &out.stderr);
    let mut files = 0;
    for entry in walk(&bundle) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        setup.assert_no_secret(&entry.display().to_string(), &text);
        files += 1;
    }
    assert!(files > 5, "the bundle has {files} files");
    let hook = setup.stand_in.requests_to("/hook/");
    assert_eq!(hook.last().unwrap().json()["event"], "evidence.written");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The API `canary` and `rollback` call (`kubectl_posthog::notify::Notifier`), driven as a
/// canary does: started, a step passed, aborted (both destinations told, PagerDuty triggered),
/// then a later run's promote resolves the same alert and the bot posts in the same thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_sink_api_canary_and_rollback_use_threads_and_resolves_across_runs() {
    use kubectl_posthog::event::{Event, EventKind, EventTarget};
    use kubectl_posthog::report::Severity;
    let stand_in = NotifyStandIn::start().await;
    let config = kubectl_posthog::config::Config::parse(&format!(
        "notify:\n  destinations:\n    bot: {{slack: {{botToken: {{env: T}}, channel: {CHANNEL}, apiUrl: '{}'}}}}\n    pager: {{pagerduty: {{routingKey: {{env: R}}, eventsUrl: '{}'}}, events: ['canary.*']}}\n",
        stand_in.slack_api(),
        stand_in.url()
    ))
    .unwrap();
    let env = |k: &str| match k {
        "T" => Some(BOT_TOKEN.to_string()),
        "R" => Some(ROUTING_KEY.to_string()),
        _ => None,
    };
    let names = ["bot".to_string(), "pager".to_string()];
    let target = EventTarget {
        namespace: "prod".into(),
        deployment: "posthog-integration".into(),
        context: Some("kind-prod".into()),
    };
    let now = jiff::Timestamp::now();
    let event =
        |kind, severity, summary: &str| Event::new(kind, severity, target.clone(), summary, now);

    let first =
        kubectl_posthog::notify::Notifier::connect(&config.notify, &names, None, &env, false)
            .await
            .unwrap();
    first
        .send(event(
            EventKind::CanaryStarted,
            Severity::P4,
            "canary 1.5.0 started: 10%",
        ))
        .await;
    first
        .send(
            event(EventKind::CanaryStepPassed, Severity::P4, "step 1/3 passed").fact("step", "1/3"),
        )
        .await;
    first
        .send(event(
            EventKind::CanaryAborted,
            Severity::P1,
            "aborted at step 2/3: 5xx 14/min > 10/min",
        ))
        .await;
    let outcomes: Vec<_> = first
        .notifications()
        .iter()
        .map(|n| {
            (
                n.destination.clone(),
                n.event.clone(),
                format!("{:?}", n.outcome),
            )
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| o.2 == "Sent").count(),
        4,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.0 == "pager" && o.2 == "Skipped")
            .count(),
        2,
        "progress pages nobody: {outcomes:?}"
    );
    let report = kubectl_posthog::report::Report::new(
        "canary",
        kubectl_posthog::report::ReportTarget::deployment(
            "posthog-integration",
            Some("prod"),
            None,
        ),
        kubectl_posthog::report::Verdict::decided(
            kubectl_posthog::report::VerdictResult::Fail,
            "aborted",
            &[],
        ),
        Vec::new(),
        now,
    );
    let report = first.attach(report);
    assert_eq!(report.notifications.len(), 6);
    assert_eq!(
        report.verdict.result,
        kubectl_posthog::report::VerdictResult::Fail
    );

    let posts: Vec<Value> = stand_in
        .requests_to("/api/chat.postMessage")
        .iter()
        .map(|s| s.json())
        .collect();
    assert_eq!(posts.len(), 3);
    assert!(posts[0].get("thread_ts").is_none());
    assert_eq!(posts[1]["thread_ts"], "1764633600.000001");
    assert_eq!(posts[2]["thread_ts"], "1764633600.000001");
    let key = "kubectl-posthog/kind-prod/prod/posthog-integration";
    assert_eq!(stand_in.alert(key).as_deref(), Some("triggered"));

    // A later run (a new notifier) promotes: PagerDuty resolves the same dedup key.
    let second =
        kubectl_posthog::notify::Notifier::connect(&config.notify, &names, None, &env, false)
            .await
            .unwrap();
    second
        .send(event(
            EventKind::CanaryPromoted,
            Severity::P4,
            "promoted 1.5.0",
        ))
        .await;
    assert_eq!(stand_in.alert(key).as_deref(), Some("resolved"));
    let resolve = stand_in.requests_to("/v2/enqueue").pop().unwrap().json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], key);
}
