//! Whether the rollback target's pods are failing in a way that waiting will not fix: a
//! container in back-off after crashing repeatedly (naming its last exit: `OOMKilled`, exit
//! codes), an image that cannot be pulled, or a container that cannot be created.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde::Serialize;

/// A container in `CrashLoopBackOff` with at least this many restarts fails the rollback: one
/// crash can be a dependency starting late, two in a row with back-off between is a loop.
pub const CRASH_LOOP_RESTARTS: i32 = 2;

/// Waiting reasons that fail at once: they do not resolve by waiting.
const STUCK_REASONS: [&str; 5] = [
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// One failing container, as a person needs it in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodProblem {
    pub pod: String,
    pub container: String,
    /// The waiting reason: `CrashLoopBackOff`, `ImagePullBackOff`, …
    pub state: String,
    /// The last termination: `OOMKilled (exit 137)`, `Error (exit 1)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_state: Option<String>,
    pub restarts: i32,
}

impl std::fmt::Display for PodProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pod {} container {}: {}",
            self.pod, self.container, self.state
        )?;
        if let Some(last) = &self.last_state {
            write!(f, ", last state {last}")?;
        }
        write!(
            f,
            ", {} restart{}",
            self.restarts,
            if self.restarts == 1 { "" } else { "s" }
        )
    }
}

/// The failing containers among `pods` (terminating pods are ignored: they are on their way out).
pub fn failing_containers(pods: &[Pod]) -> Vec<PodProblem> {
    let mut problems: Vec<PodProblem> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .flat_map(|pod| {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let status = pod.status.clone().unwrap_or_default();
            status
                .init_container_statuses
                .into_iter()
                .flatten()
                .chain(status.container_statuses.into_iter().flatten())
                .filter_map(move |c| judge(&name, &c))
                .collect::<Vec<_>>()
        })
        .collect();
    problems.sort_by(|a, b| (&a.pod, &a.container).cmp(&(&b.pod, &b.container)));
    problems
}

fn judge(pod: &str, container: &ContainerStatus) -> Option<PodProblem> {
    let reason = container
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())?;
    let failing = (reason == "CrashLoopBackOff" && container.restart_count >= CRASH_LOOP_RESTARTS)
        || STUCK_REASONS.contains(&reason.as_str());
    if !failing {
        return None;
    }
    let last_state = container
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| {
            format!(
                "{} (exit {})",
                t.reason.as_deref().unwrap_or("Terminated"),
                t.exit_code
            )
        });
    Some(PodProblem {
        pod: pod.to_string(),
        container: container.name.clone(),
        state: reason,
        last_state,
        restarts: container.restart_count,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, waiting: Option<&str>, restarts: i32, last: Option<(&str, i32)>) -> Pod {
        let state = match waiting {
            Some(reason) => json!({"waiting": {"reason": reason}}),
            None => json!({"running": {}}),
        };
        let last_state = match last {
            Some((reason, code)) => json!({"terminated": {"reason": reason, "exitCode": code}}),
            None => json!({}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"containerStatuses": [{
                "name": "app", "image": "app:2", "imageID": "", "ready": false,
                "restartCount": restarts, "state": state, "lastState": last_state
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn repeated_crash_loop_names_the_pod_and_its_last_exit() {
        let pods = [
            pod(
                "web-b",
                Some("CrashLoopBackOff"),
                3,
                Some(("OOMKilled", 137)),
            ),
            pod("web-a", None, 0, None),
        ];
        let problems = failing_containers(&pods);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "pod web-b container app: CrashLoopBackOff, last state OOMKilled (exit 137), 3 restarts"
        );
    }

    #[test]
    fn a_first_crash_or_a_transient_state_is_not_yet_a_failure() {
        let pods = [
            pod("web-a", Some("CrashLoopBackOff"), 1, Some(("Error", 1))),
            pod("web-b", Some("ContainerCreating"), 0, None),
            pod("web-c", Some("ErrImagePull"), 0, None),
            // Restarted long ago, running now: not failing.
            pod("web-d", None, 7, Some(("Error", 1))),
        ];
        assert!(failing_containers(&pods).is_empty());
    }

    #[test]
    fn unpullable_images_and_config_errors_fail_at_once() {
        let pods = [
            pod("web-a", Some("ImagePullBackOff"), 0, None),
            pod("web-b", Some("CreateContainerConfigError"), 0, None),
        ];
        let states: Vec<String> = failing_containers(&pods)
            .into_iter()
            .map(|p| p.state)
            .collect();
        assert_eq!(states, ["ImagePullBackOff", "CreateContainerConfigError"]);
    }

    #[test]
    fn terminating_pods_are_ignored() {
        let mut p = pod("web-a", Some("CrashLoopBackOff"), 5, None);
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
        assert!(failing_containers(&[p]).is_empty());
    }
}
