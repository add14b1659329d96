//! The runbook's decision tree as a pure function over the triage facts:
//!
//! ```text
//! PostHog API returning errors?
//! ├─ YES: Is the status page showing an incident?
//! │   ├─ YES → Wait for PostHog to resolve. Enable fallback.
//! │   └─ NO  → Our integration issue. Check credentials, config.
//! └─ NO: Is our service healthy?
//!     ├─ YES → Likely resolved or intermittent. Monitor.
//!     └─ NO  → Our infrastructure issue. Check pods, memory, network.
//! ```
//!
//! Severity follows the runbook's definitions (P1 complete outage … P4 no user impact) with the
//! checklist's alert table for error rates: 401/403 > 0 is P1, 5xx > 10/min P1, 429 > 5/min P2,
//! p99 > 5000 ms P2. Below an alert threshold an error class is one level milder.

pub use crate::config::evidence::Thresholds;
use schemars::JsonSchema;
use serde::Serialize;

use super::actions::{Action, actions_for};
use super::facts::TriageFacts;
pub use super::signals::{Branch, ErrorClass, ErrorSignal, ServiceProblem};
pub use super::triage_signals::class_severity;
use super::triage_signals::{error_signals, incident_severity, service_problems};
use crate::report::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Yes,
    No,
    Unknown,
}

/// One question of the tree, its answer and why.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionStep {
    pub question: &'static str,
    pub answer: Answer,
    pub because: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriageOutcome {
    pub branch: Branch,
    pub severity: Severity,
    pub conclusion: &'static str,
    pub path: Vec<DecisionStep>,
    pub errors: Vec<ErrorSignal>,
    pub service_problems: Vec<ServiceProblem>,
    pub actions: Vec<Action>,
    /// Sources that could not be consulted, and what that means for the answer.
    pub caveats: Vec<String>,
}

const Q_ERRORS: &str = "PostHog API returning errors?";
const Q_STATUS: &str = "Is the PostHog status page showing an incident?";
const Q_HEALTHY: &str = "Is our service healthy?";

/// Walks the decision tree over the facts.
pub fn decide(facts: &TriageFacts, thresholds: &Thresholds) -> TriageOutcome {
    let mut caveats = Vec::new();
    let (errors, errors_from) = error_signals(facts, thresholds, &mut caveats);
    let service_problems = service_problems(facts, thresholds, &mut caveats);
    let mut path = Vec::new();

    let branch = if errors.is_empty() {
        path.push(DecisionStep {
            question: Q_ERRORS,
            answer: if errors_from.is_empty() {
                Answer::Unknown
            } else {
                Answer::No
            },
            because: if errors_from.is_empty() {
                "no error source could be read (Prometheus, pod logs, health endpoint)".into()
            } else {
                format!(
                    "no 401/403, 429 or 5xx in the last 5 minutes ({})",
                    errors_from.join(", ")
                )
            },
        });
        let healthy = service_problems.is_empty();
        path.push(DecisionStep {
            question: Q_HEALTHY,
            answer: if healthy { Answer::Yes } else { Answer::No },
            because: if healthy {
                healthy_because(facts)
            } else {
                service_problems
                    .iter()
                    .map(|p| p.what.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        });
        if healthy {
            Branch::ResolvedOrIntermittent
        } else {
            Branch::Infrastructure
        }
    } else {
        path.push(DecisionStep {
            question: Q_ERRORS,
            answer: Answer::Yes,
            because: errors
                .iter()
                .map(describe_signal)
                .collect::<Vec<_>>()
                .join("; "),
        });
        match &facts.status_page {
            Ok(view) if view.has_incident() => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::Yes,
                    because: describe_incidents(view),
                });
                Branch::PosthogIncident
            }
            Ok(view) => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::No,
                    because: format!("no ongoing incident for region {}", view.region),
                });
                Branch::Integration
            }
            Err(reason) => {
                path.push(DecisionStep {
                    question: Q_STATUS,
                    answer: Answer::Unknown,
                    because: format!("status page unreachable: {reason}"),
                });
                caveats.push(
                    "the status page could not be read: check https://www.posthogstatus.com from \
                     another network (mobile or VPN) before acting on credentials"
                        .into(),
                );
                Branch::Integration
            }
        }
    };

    let incident_severity = match (&facts.status_page, branch) {
        (Ok(view), Branch::PosthogIncident) => Some(incident_severity(view)),
        _ => None,
    };
    let severity = errors
        .iter()
        .map(|e| e.severity)
        .chain(service_problems.iter().map(|p| p.severity))
        .chain(incident_severity)
        .min()
        .unwrap_or(Severity::P4);
    let classes: Vec<ErrorClass> = errors.iter().map(|e| e.class).collect();
    TriageOutcome {
        branch,
        severity,
        conclusion: branch.conclusion(),
        path,
        actions: actions_for(branch, &classes, facts),
        errors,
        service_problems,
        caveats,
    }
}

fn healthy_because(facts: &TriageFacts) -> String {
    let mut parts = Vec::new();
    if let Ok(pods) = &facts.pods {
        parts.push(format!("{}/{} pods ready", pods.ready(), pods.live()));
    }
    if let Ok(health) = &facts.health {
        parts.push(format!(
            "health endpoint {}",
            health.status.map_or("-".to_string(), |s| s.to_string())
        ));
    }
    if parts.is_empty() {
        "nothing indicates a problem".to_string()
    } else {
        parts.join(", ")
    }
}

pub fn describe_signal(signal: &ErrorSignal) -> String {
    match signal.per_minute {
        Some(rate) => format!(
            "{} at {rate:.1}/min ({})",
            signal.class.label(),
            signal.source
        ),
        None => format!("{} ({})", signal.class.label(), signal.source),
    }
}

fn describe_incidents(view: &super::facts::StatusView) -> String {
    if view.incidents.is_empty() {
        return format!(
            "status indicator {}",
            view.indicator.as_deref().unwrap_or("unknown")
        );
    }
    view.incidents
        .iter()
        .map(|i| format!("{:?} ({}, {})", i.name, i.impact, i.status))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::facts::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn healthy_pod(name: &str) -> PodHealth {
        PodHealth {
            name: name.into(),
            track: "stable".into(),
            phase: "Running".into(),
            ready: true,
            container: Some("app".into()),
            memory_limit: Some("256Mi".into()),
            ..PodHealth::default()
        }
    }

    /// All clear: three ready pods, a healthy endpoint, no errors, no incident.
    fn facts() -> TriageFacts {
        TriageFacts {
            deployment: "posthog-integration".into(),
            namespace: "prod".into(),
            selector: "app=posthog-integration".into(),
            observed_at: ts("2026-11-22T10:00:00Z"),
            status_page: Ok(StatusView {
                page_url: "https://www.posthogstatus.com".into(),
                region: "eu".into(),
                ..StatusView::default()
            }),
            health: Ok(HealthView {
                asked: "/api/v1/namespaces/prod/services/posthog-integration:80/proxy/health"
                    .into(),
                status: Some(200),
                reported: Some("healthy".into()),
                posthog_connected: Some(true),
                posthog_latency_ms: Some(42.0),
                error: None,
            }),
            error_rates: Ok(ErrorRates {
                auth_per_min: Some(0.0),
                rate_limited_per_min: Some(0.0),
                server_per_min: Some(0.0),
                latency_p99_ms: Some(120.0),
                queries: vec![],
            }),
            log_errors: Ok(LogErrors {
                window_minutes: 5.0,
                ..LogErrors::default()
            }),
            pods: Ok(PodsView {
                desired: 3,
                pods: vec![healthy_pod("a"), healthy_pod("b"), healthy_pod("c")],
            }),
            api_key: KeySource {
                container: Some("app".into()),
                env: Some("POSTHOG_API_KEY".into()),
                secret: Some("posthog-secrets".into()),
                key: Some("api-key".into()),
                masked: Some("phc_…9T0u".into()),
                kind: Some("project".into()),
                ..KeySource::default()
            },
            containers: vec![ContainerEnv {
                name: "app".into(),
                ..ContainerEnv::default()
            }],
        }
    }

    fn incident(impact: &str) -> StatusView {
        StatusView {
            page_url: "https://www.posthogstatus.com".into(),
            region: "eu".into(),
            incidents: vec![StatusIncidentView {
                name: "Ingestion delays".into(),
                impact: impact.into(),
                status: "investigating".into(),
                url: None,
            }],
            indicator: None,
        }
    }

    fn commands(outcome: &TriageOutcome) -> Vec<String> {
        outcome
            .actions
            .iter()
            .filter_map(|a| a.command.clone())
            .collect()
    }

    #[test]
    fn all_clear_is_resolved_or_intermittent_at_p4() {
        let outcome = decide(&facts(), &Thresholds::default());
        assert_eq!(outcome.branch, Branch::ResolvedOrIntermittent);
        assert_eq!(outcome.severity, Severity::P4);
        assert_eq!(outcome.path.len(), 2);
        assert_eq!(outcome.path[0].answer, Answer::No);
        assert_eq!(outcome.path[1].answer, Answer::Yes);
        assert!(outcome.caveats.is_empty(), "{:?}", outcome.caveats);
        assert!(
            commands(&outcome).iter().any(
                |c| c.contains("kubectl posthog triage deployment/posthog-integration -n prod")
            )
        );
    }

    #[test]
    fn errors_with_an_incident_land_on_posthog_side() {
        let mut f = facts();
        f.status_page = Ok(incident("full_outage"));
        f.error_rates.as_mut().unwrap().server_per_min = Some(3.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(outcome.branch, Branch::PosthogIncident);
        // 3/min of 5xx alone is P2, but a full outage upstream is a complete outage for us.
        assert_eq!(outcome.severity, Severity::P1);
        assert_eq!(outcome.path[1].answer, Answer::Yes);
        assert!(outcome.path[1].because.contains("Ingestion delays"));
        let fallback = outcome
            .actions
            .iter()
            .find(|a| a.id == "enable-fallback")
            .unwrap();
        assert_eq!(fallback.env, Some(crate::evidence::actions::FALLBACK));
        assert_eq!(
            fallback.command.as_deref(),
            Some("kubectl set env deployment/posthog-integration -n prod POSTHOG_FALLBACK=true")
        );
        assert!(
            commands(&outcome)
                .iter()
                .any(|c| c.ends_with("POSTHOG_FALLBACK-"))
        );
    }

    #[test]
    fn degraded_incident_with_few_errors_is_p2() {
        let mut f = facts();
        f.status_page = Ok(incident("degraded_performance"));
        f.error_rates.as_mut().unwrap().server_per_min = Some(1.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::PosthogIncident, Severity::P2)
        );
    }

    #[test]
    fn auth_errors_without_incident_are_our_integration_at_p1_with_key_rotation() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().auth_per_min = Some(0.4);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(outcome.branch, Branch::Integration);
        assert_eq!(outcome.severity, Severity::P1);
        let ids: Vec<&str> = outcome.actions.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "verify-key",
                "check-rotation",
                "update-secret",
                "restart",
                "rotate-key"
            ]
        );
        // The safe rotation is offered too; the key goes through stdin, never an argument.
        let rotate = outcome
            .actions
            .iter()
            .find(|a| a.id == "rotate-key")
            .unwrap();
        assert!(
            rotate.command.as_deref().is_some_and(|c| c
                .ends_with("| kubectl posthog rotate-key deployment/posthog-integration -n prod")),
            "{:?}",
            rotate.command
        );
        assert!(rotate.env.is_none(), "--apply never rotates");
        let cmds = commands(&outcome);
        assert_eq!(
            cmds[0],
            "kubectl get secret posthog-secrets -n prod -o jsonpath='{.data.api-key}' | base64 -d | cut -c1-4; echo"
        );
        assert!(cmds[1].contains(
        "kubectl create secret generic posthog-secrets -n prod --from-literal=api-key=\"$POSTHOG_NEW_KEY\" --dry-run=client -o yaml | kubectl apply -f -"
    ));
        assert_eq!(
            cmds[2],
            "kubectl rollout restart deployment/posthog-integration -n prod && kubectl rollout status deployment/posthog-integration -n prod"
        );
        assert!(
            outcome.actions.iter().all(|a| a.env.is_none()),
            "rotation is never applied"
        );
        assert!(outcome.actions[1].title.contains("phc_…9T0u"));
    }

    #[test]
    fn rotation_keeps_the_secrets_other_keys() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().auth_per_min = Some(1.0);
        f.api_key.other_keys = vec!["personal-key".into()];
        f.api_key.key = Some("tls.key".into());
        let outcome = decide(&f, &Thresholds::default());
        let cmds = commands(&outcome);
        assert!(cmds[0].contains("{.data.tls\\.key}"), "{}", cmds[0]);
        assert!(
            cmds[1].contains("kubectl patch secret posthog-secrets -n prod --type merge"),
            "{}",
            cmds[1]
        );
        assert!(!cmds[1].contains("create secret"));
    }

    #[test]
    fn rate_limits_are_our_integration_and_suggest_queuing() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().rate_limited_per_min = Some(12.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Integration, Severity::P2)
        );
        let queue = outcome
            .actions
            .iter()
            .find(|a| a.id == "queue-requests")
            .unwrap();
        assert_eq!(
            queue.command.as_deref(),
            Some("kubectl set env deployment/posthog-integration -n prod RATE_LIMIT_MODE=queue")
        );
        assert!(!queue.already_done);

        f.error_rates.as_mut().unwrap().rate_limited_per_min = Some(2.0);
        assert_eq!(
            decide(&f, &Thresholds::default()).severity,
            Severity::P3,
            "below the alert threshold"
        );
    }

    #[test]
    fn an_env_action_already_in_place_is_marked_done() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().rate_limited_per_min = Some(12.0);
        f.containers[0].rate_limit_mode = Some("queue".into());
        let outcome = decide(&f, &Thresholds::default());
        assert!(
            outcome
                .actions
                .iter()
                .find(|a| a.id == "queue-requests")
                .unwrap()
                .already_done
        );
    }

    #[test]
    fn server_errors_over_the_alert_threshold_are_p1_with_fallback() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().server_per_min = Some(25.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Integration, Severity::P1)
        );
        assert!(outcome.actions.iter().any(|a| a.id == "enable-fallback"));
        assert!(outcome.actions.iter().any(|a| a.id == "notify-users"));
    }

    #[test]
    fn unhealthy_pods_without_errors_are_our_infrastructure() {
        let mut f = facts();
        let pods = f.pods.as_mut().unwrap();
        pods.pods[0].ready = false;
        pods.pods[0].restarts = 4;
        pods.pods[0].last_termination = Some("OOMKilled".into());
        pods.pods[0].waiting_reason = Some("CrashLoopBackOff".into());
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Infrastructure, Severity::P2)
        );
        assert_eq!(outcome.path[1].answer, Answer::No);
        assert!(
            outcome.path[1].because.contains("OOMKilled"),
            "{}",
            outcome.path[1].because
        );
        let cmds = commands(&outcome);
        assert!(
            cmds.contains(&"kubectl logs a -n prod -c app --previous --tail=50".to_string()),
            "{cmds:?}"
        );
        assert!(cmds.contains(
        &"kubectl set resources deployment/posthog-integration -n prod -c app --limits=memory=512Mi".to_string()
    ));
    }

    #[test]
    fn no_ready_pod_or_a_failing_health_endpoint_is_a_complete_outage() {
        let mut f = facts();
        for pod in &mut f.pods.as_mut().unwrap().pods {
            pod.ready = false;
        }
        assert_eq!(decide(&f, &Thresholds::default()).severity, Severity::P1);

        let mut f = facts();
        let health = f.health.as_mut().unwrap();
        health.status = Some(503);
        health.reported = Some("unhealthy".into());
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Infrastructure, Severity::P1)
        );
    }

    #[test]
    fn high_latency_alone_is_degraded_infrastructure() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().latency_p99_ms = Some(7200.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Infrastructure, Severity::P2)
        );
    }

    #[test]
    fn old_restarts_do_not_count_but_recent_ones_do() {
        let mut f = facts();
        let pod = &mut f.pods.as_mut().unwrap().pods[1];
        pod.restarts = 1;
        pod.last_termination = Some("Error".into());
        pod.last_termination_at = Some(ts("2026-11-22T08:00:00Z"));
        assert_eq!(
            decide(&f, &Thresholds::default()).branch,
            Branch::ResolvedOrIntermittent
        );
        f.pods.as_mut().unwrap().pods[1].last_termination_at = Some(ts("2026-11-22T09:55:00Z"));
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Infrastructure, Severity::P3)
        );
    }

    #[test]
    fn without_prometheus_error_classes_come_from_the_logs() {
        let mut f = facts();
        f.error_rates = Err("prometheus is not configured (--prometheus-url)".into());
        f.log_errors = Ok(LogErrors {
            window_minutes: 5.0,
            error_lines: 60,
            rate_limited: 60,
            ..LogErrors::default()
        });
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(
            (outcome.branch, outcome.severity),
            (Branch::Integration, Severity::P2)
        );
        assert_eq!(outcome.errors[0].source, "logs");
        assert_eq!(outcome.errors[0].per_minute, Some(12.0));
        assert!(
            outcome.caveats[0].contains("estimated from pod log lines"),
            "{:?}",
            outcome.caveats
        );
        // Issue 18 item 7: what the estimate cannot see is said plainly.
        assert!(
            outcome.caveats[0].contains("requests served without a log line are not counted"),
            "{:?}",
            outcome.caveats
        );
    }

    #[test]
    fn health_saying_posthog_is_disconnected_counts_as_errors() {
        let mut f = facts();
        f.health.as_mut().unwrap().posthog_connected = Some(false);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(outcome.branch, Branch::Integration);
        assert_eq!(outcome.errors[0].class, ErrorClass::Unclassified);
        assert!(outcome.actions.iter().any(|a| a.id == "check-config"));
    }

    #[test]
    fn an_unreachable_status_page_is_a_caveat_not_a_guess() {
        let mut f = facts();
        f.status_page = Err("connection refused".into());
        f.error_rates.as_mut().unwrap().server_per_min = Some(2.0);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(outcome.branch, Branch::Integration);
        assert_eq!(outcome.path[1].answer, Answer::Unknown);
        assert!(outcome.caveats.iter().any(|c| c.contains("mobile or VPN")));
    }

    #[test]
    fn thresholds_come_from_config() {
        let mut f = facts();
        f.error_rates.as_mut().unwrap().server_per_min = Some(3.0);
        let strict = Thresholds {
            server_errors_per_minute: 1.0,
            ..Thresholds::default()
        };
        assert_eq!(decide(&f, &strict).severity, Severity::P1);
        assert_eq!(decide(&f, &Thresholds::default()).severity, Severity::P2);
    }

    #[test]
    fn memory_quantities_double_in_their_unit() {
        use crate::evidence::actions::double_quantity;
        assert_eq!(double_quantity("256Mi").as_deref(), Some("512Mi"));
        assert_eq!(double_quantity("1G").as_deref(), Some("2G"));
        assert_eq!(double_quantity("134217728").as_deref(), Some("268435456"));
        assert_eq!(double_quantity("0.5Gi"), None);
        assert_eq!(double_quantity("lots"), None);
    }

    #[test]
    fn the_env_patch_sets_missing_values_on_every_container_only() {
        use crate::evidence::actions::{FALLBACK, QUEUE};
        use crate::evidence::apply::env_patch;
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(serde_json::json!({"containers": [
        {"name": "app", "env": [{"name": "POSTHOG_FALLBACK", "value": "true"}, {"name": "X", "value": "1"}]},
        {"name": "worker", "env": [{"name": "POSTHOG_FALLBACK", "value": "false"}]}
    ]}))
    .unwrap();
        assert_eq!(
            env_patch(&spec, &[FALLBACK]).unwrap(),
            serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": "worker", "env": [{"name": "POSTHOG_FALLBACK", "value": "true"}]}
            ]}}}})
        );
        let both = env_patch(&spec, &[FALLBACK, QUEUE]).unwrap();
        assert_eq!(
            both.pointer("/spec/template/spec/containers/0/env/0/name")
                .unwrap(),
            "RATE_LIMIT_MODE"
        );
        let done: k8s_openapi::api::core::v1::PodSpec =
            serde_json::from_value(serde_json::json!({"containers": [
                {"name": "app", "env": [{"name": "POSTHOG_FALLBACK", "value": "true"}]}
            ]}))
            .unwrap();
        assert_eq!(
            env_patch(&done, &[FALLBACK]),
            None,
            "a re-run changes nothing"
        );
    }

    #[test]
    fn a_terminating_pod_after_a_rollout_is_neither_ready_nor_missing() {
        let mut f = facts();
        let pods = f.pods.as_mut().unwrap();
        let mut old = healthy_pod("old");
        old.terminating = true;
        pods.pods.push(old);
        let outcome = decide(&f, &Thresholds::default());
        assert_eq!(outcome.branch, Branch::ResolvedOrIntermittent);
        assert!(
            outcome.path[1].because.contains("3/3 pods ready"),
            "{}",
            outcome.path[1].because
        );
        let finding = crate::evidence::triage_findings::pods_finding(&f);
        assert_eq!(finding.status, crate::report::Status::Pass);
        assert_eq!(
            finding.measured.as_deref(),
            Some("3/3 ready, 0 restarts (1 terminating)")
        );

        // Terminating pods do not make up for missing ready ones.
        let pods = f.pods.as_mut().unwrap();
        pods.pods[0].ready = false;
        let finding = crate::evidence::triage_findings::pods_finding(&f);
        assert_eq!(finding.status, crate::report::Status::Fail);
    }
}
