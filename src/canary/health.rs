//! Pod health of the canary: restarts and containers stuck in a failing state abort the canary
//! whatever the metrics say (a crash-looping canary serves no traffic, so its metrics look clean).

use k8s_openapi::api::core::v1::Pod;

/// Waiting reasons that never resolve on their own.
const FAILING_REASONS: [&str; 7] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Ready and total counts of a set of pods, and what is wrong with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodHealth {
    pub total: u32,
    pub ready: u32,
    pub restarts: u32,
    /// One line per problem: `web-canary-7c9-x2 container app: CrashLoopBackOff (exit 1, Error)`.
    pub problems: Vec<String>,
}

impl PodHealth {
    pub fn is_failing(&self) -> bool {
        !self.problems.is_empty()
    }

    pub fn summary(&self) -> String {
        format!(
            "{}/{} ready, {} restart{}",
            self.ready,
            self.total,
            self.restarts,
            if self.restarts == 1 { "" } else { "s" }
        )
    }
}

/// Judges the canary's pods: a container in a failing waiting state, or more than
/// `max_restarts` restarts in total, is a problem. Terminating pods are not counted.
pub fn assess(pods: &[Pod], max_restarts: u32) -> PodHealth {
    let mut health = PodHealth::default();
    let mut restarted: Vec<String> = Vec::new();
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        health.total += 1;
        let status = pod.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            health.ready += 1;
        }
        for container in status.container_statuses.iter().flatten() {
            let restarts = u32::try_from(container.restart_count).unwrap_or(0);
            health.restarts += restarts;
            let last_exit = container
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| match &t.reason {
                    Some(reason) => format!(" (last exit {}, {reason})", t.exit_code),
                    None => format!(" (last exit {})", t.exit_code),
                })
                .unwrap_or_default();
            let waiting = container
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if let Some(reason) = waiting.filter(|r| FAILING_REASONS.contains(r)) {
                health.problems.push(format!(
                    "pod {name} container {}: {reason}{last_exit}",
                    container.name
                ));
            } else if restarts > 0 {
                restarted.push(format!(
                    "pod {name} container {}: restarted {restarts}×{last_exit}",
                    container.name
                ));
            }
        }
    }
    // Failing states always count; restarts only beyond the allowance.
    if health.restarts > max_restarts {
        health.problems.extend(restarted);
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, restarts: i32, waiting: Option<&str>) -> Pod {
        let mut state = serde_json::json!({"running": {}});
        if let Some(reason) = waiting {
            state = serde_json::json!({"waiting": {"reason": reason}});
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{
                    "name": "app", "image": "x", "imageID": "", "ready": ready,
                    "restartCount": restarts, "state": state,
                    "lastState": if restarts > 0 { serde_json::json!({"terminated": {"exitCode": 1, "reason": "Error"}}) } else { serde_json::json!({}) }
                }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn healthy_pods_count_as_ready() {
        let health = assess(&[pod("a", true, 0, None), pod("b", false, 0, None)], 0);
        assert_eq!((health.total, health.ready), (2, 1));
        assert!(!health.is_failing());
        assert_eq!(health.summary(), "1/2 ready, 0 restarts");
    }

    #[test]
    fn crash_loop_fails_with_the_exit_code() {
        let health = assess(
            &[pod("web-canary-1", false, 2, Some("CrashLoopBackOff"))],
            5,
        );
        assert!(health.is_failing());
        assert_eq!(
            health.problems,
            ["pod web-canary-1 container app: CrashLoopBackOff (last exit 1, Error)"]
        );
    }

    #[test]
    fn restarts_fail_beyond_the_allowance() {
        let pods = [pod("a", true, 1, None)];
        let health = assess(&pods, 0);
        assert!(health.is_failing());
        assert!(
            health.problems[0].contains("restarted 1×"),
            "{:?}",
            health.problems
        );
        assert!(!assess(&pods, 1).is_failing());
    }

    #[test]
    fn image_pull_errors_fail_at_once() {
        let health = assess(&[pod("a", false, 0, Some("ImagePullBackOff"))], 0);
        assert!(health.is_failing());
        // A container that is merely starting is not a problem.
        assert!(!assess(&[pod("a", false, 0, Some("ContainerCreating"))], 0).is_failing());
    }
}
