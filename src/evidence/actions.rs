//! The runbook's immediate actions, written as the exact commands for this deployment: its name,
//! namespace, selector, and the Secret and key its PostHog key comes from.
//!
//! Only the env-var actions (`RATE_LIMIT_MODE=queue`, `POSTHOG_FALLBACK=true`) can be applied by
//! `triage --apply` ([`super::apply`]); key rotation ([`super::rotation`]) needs a new key that
//! only a person can get, so it is never applied.

use super::facts::TriageFacts;
use super::rotation::key_rotation;
pub use super::signals::{Action, EnvChange, FALLBACK, QUEUE};
use super::signals::{Branch, ErrorClass};

/// The actions for the leaf the tree landed on and the error classes seen, in the runbook's order.
pub fn actions_for(branch: Branch, classes: &[ErrorClass], facts: &TriageFacts) -> Vec<Action> {
    let t = Target::of(facts);
    let mut actions = Vec::new();
    match branch {
        Branch::PosthogIncident => {
            actions.push(Action::manual(
                "follow-incident",
                "Wait for PostHog to resolve: follow the incident on https://www.posthogstatus.com",
            ));
            actions.push(env_action(
                "enable-fallback",
                "Enable fallback (graceful degradation)",
                FALLBACK,
                &t,
                facts,
            ));
            if classes.contains(&ErrorClass::RateLimited) {
                actions.push(env_action(
                    "queue-requests",
                    "Enable request queuing",
                    QUEUE,
                    &t,
                    facts,
                ));
            }
            actions.push(notify_users(&t));
            actions.push(Action::run(
                "disable-fallback-later",
                "Once PostHog has resolved it: turn the fallback off again",
                format!(
                    "kubectl set env deployment/{} -n {} POSTHOG_FALLBACK-",
                    t.name, t.ns
                ),
            ));
        }
        Branch::Integration => {
            for class in classes {
                match class {
                    ErrorClass::Auth => actions.extend(key_rotation(t.name, t.ns, &facts.api_key)),
                    ErrorClass::RateLimited => {
                        actions.push(Action::run(
                            "check-rate-limit",
                            "Check the rate-limit answers (Retry-After, 429) in the logs",
                            format!(
                                "kubectl logs -l {} -n {} --since=5m --prefix | grep -i -E 'retry-after|rate.?limit|429' | tail -20",
                                t.selector, t.ns
                            ),
                        ));
                        actions.push(env_action(
                            "queue-requests",
                            "Enable request queuing",
                            QUEUE,
                            &t,
                            facts,
                        ));
                        actions.push(Action::manual(
                            "limit-increase",
                            "Long-term: contact PostHog for a limit increase",
                        ));
                    }
                    ErrorClass::Server => {
                        actions.push(env_action(
                            "enable-fallback",
                            "Enable graceful degradation",
                            FALLBACK,
                            &t,
                            facts,
                        ));
                        actions.push(notify_users(&t));
                        actions.push(Action::run(
                            "monitor-status",
                            "Monitor PostHog status for resolution",
                            "curl -s https://www.posthogstatus.com/api/v1/summary | jq '.ongoing_incidents'".to_string(),
                        ));
                    }
                    ErrorClass::Unclassified => actions.push(Action::run(
                        "check-config",
                        "Check credentials and config: the PostHog env vars of every container",
                        format!(
                            "kubectl set env deployment/{} -n {} --list | grep -i posthog",
                            t.name, t.ns
                        ),
                    )),
                }
            }
        }
        Branch::Infrastructure => actions.extend(infrastructure(&t, facts)),
        Branch::ResolvedOrIntermittent => {
            actions.push(Action::run(
                "watch-errors",
                "Monitor: recent error lines",
                format!(
                    "kubectl logs -l {} -n {} --since=15m --prefix | grep -i error | tail -20",
                    t.selector, t.ns
                ),
            ));
            actions.push(Action::run(
                "triage-again",
                "Monitor: run the triage again in a few minutes",
                format!("kubectl posthog triage deployment/{} -n {}", t.name, t.ns),
            ));
        }
    }
    actions
}

struct Target<'a> {
    name: &'a str,
    ns: &'a str,
    selector: &'a str,
}

impl<'a> Target<'a> {
    fn of(facts: &'a TriageFacts) -> Self {
        Target {
            name: &facts.deployment,
            ns: &facts.namespace,
            selector: &facts.selector,
        }
    }
}

fn env_action(
    id: &'static str,
    title: &str,
    change: EnvChange,
    t: &Target,
    facts: &TriageFacts,
) -> Action {
    let current = |c: &super::facts::ContainerEnv| match change.name {
        "RATE_LIMIT_MODE" => c.rate_limit_mode.clone(),
        _ => c.posthog_fallback.clone(),
    };
    let already_done = !facts.containers.is_empty()
        && facts
            .containers
            .iter()
            .all(|c| current(c).as_deref() == Some(change.value));
    Action {
        id,
        title: title.to_string(),
        command: Some(format!(
            "kubectl set env deployment/{} -n {} {}={}",
            t.name, t.ns, change.name, change.value
        )),
        env: Some(change),
        already_done,
        note: Some(if already_done {
            "already set on every container".to_string()
        } else {
            "`kubectl posthog triage --apply` does this (it starts a rollout)".to_string()
        }),
    }
}

fn notify_users(t: &Target) -> Action {
    Action::run(
        "notify-users",
        "Notify users of degraded service and update the status page (templates in communication.md)",
        format!(
            "kubectl posthog evidence deployment/{} -n {} --since 1h",
            t.name, t.ns
        ),
    )
}

fn infrastructure(t: &Target, facts: &TriageFacts) -> Vec<Action> {
    let mut actions = vec![
        Action::run(
            "pods",
            "Check pods: status, restarts, node",
            format!("kubectl get pods -l {} -n {} -o wide", t.selector, t.ns),
        ),
        Action::run(
            "describe-pods",
            "Check pods: conditions, last state, events",
            format!("kubectl describe pods -l {} -n {}", t.selector, t.ns),
        ),
    ];
    if let Ok(pods) = &facts.pods {
        for pod in pods.pods.iter().filter(|p| p.restarts > 0).take(3) {
            let container = pod
                .container
                .as_deref()
                .map(|c| format!(" -c {c}"))
                .unwrap_or_default();
            actions.push(Action::run(
                "previous-logs",
                format!("Logs of the crashed container of {}", pod.name),
                format!(
                    "kubectl logs {} -n {}{container} --previous --tail=50",
                    pod.name, t.ns
                ),
            ));
        }
        for pod in pods.oom_killed().into_iter().take(1) {
            let container = pod.container.as_deref().unwrap_or("CONTAINER");
            let action = match pod.memory_limit.as_deref().and_then(double_quantity) {
                Some(doubled) => Action::run(
                    "raise-memory",
                    format!(
                        "Memory: {} was OOMKilled at limit {}; raise it",
                        pod.name,
                        pod.memory_limit.as_deref().unwrap_or("")
                    ),
                    format!(
                        "kubectl set resources deployment/{} -n {} -c {container} --limits=memory={doubled}",
                        t.name, t.ns
                    ),
                ),
                None => Action::manual(
                    "raise-memory",
                    format!(
                        "Memory: {} was OOMKilled; set or raise its memory limit",
                        pod.name
                    ),
                ),
            };
            actions.push(action);
        }
    }
    actions.push(Action::run(
        "events",
        "Check recent events (scheduling, probes, network)",
        format!(
            "kubectl get events -n {} --sort-by=.lastTimestamp | tail -20",
            t.ns
        ),
    ));
    actions.push(Action::run(
        "rollback",
        "If it started with the last rollout: roll back",
        format!("kubectl posthog rollback deployment/{} -n {}", t.name, t.ns),
    ));
    actions
}

/// Twice a Kubernetes memory quantity, in the same unit (`256Mi` → `512Mi`, `1G` → `2G`).
pub fn double_quantity(quantity: &str) -> Option<String> {
    let quantity = quantity.trim();
    let split = quantity
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let number: u64 = number.parse().ok()?;
    if !matches!(
        unit,
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "k" | "K" | "M" | "G" | "T"
    ) {
        return None;
    }
    Some(format!("{}{unit}", number.checked_mul(2)?))
}
