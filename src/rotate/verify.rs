//! Verifying a rotation: no 401/403 from the new pods over the window (with Prometheus), and
//! the health endpoint reporting PostHog connected.

use super::rotation::{AuthCheck, Inputs, Rotation};
use crate::kube::Cluster;
use crate::rollout::wait::WaitOutcome;

/// Once the new pods have served for the window: any 401/403 from them fails the rotation. A
/// check Prometheus cannot answer is reported and does not undo a rotation that otherwise
/// verified.
pub(super) async fn check_auth(
    cluster: &Cluster,
    readers: &[String],
    check: &AuthCheck,
    rotation: &mut Rotation,
) -> bool {
    tokio::time::sleep(check.window).await;
    let window = humantime::format_duration(check.window);
    let mut all_ok = true;
    for name in readers {
        let query = check.query(&cluster.namespace, name);
        match check.prometheus.instant(&query).await {
            Ok(Some(n)) if n > 0.0 => {
                all_ok = false;
                rotation.step(
                    "rotate.verify-auth",
                    false,
                    &format!("deployment/{name}'s new pods get 401/403"),
                    format!("{n:.0} 401/403 responses over {window} ({query})"),
                );
            }
            Ok(_) => rotation.step(
                "rotate.verify-auth",
                true,
                &format!("deployment/{name}'s new pods get no 401/403"),
                format!("0 over {window} ({query})"),
            ),
            Err(e) => rotation.step(
                "rotate.verify-auth",
                false,
                &format!("401/403 of deployment/{name} could not be read (not reverted for it)"),
                e.to_string(),
            ),
        }
    }
    all_ok
}

/// The health endpoint after the restarts (when `--health-url` is given).
pub(super) async fn check_health(
    inputs: &Inputs,
    rotation: &mut Rotation,
    require_health: bool,
) -> bool {
    let Some(url) = &inputs.health_url else {
        rotation.step(
            "rotate.verify",
            true,
            "Health endpoint not checked",
            "no --health-url given: readiness only",
        );
        return true;
    };
    match crate::rollout::wait::probe_health(url).await {
        Ok((status, Some(health)))
            if (200..300).contains(&status) && health.posthog_connected() =>
        {
            rotation.step(
                "rotate.verify",
                true,
                "The integration reports PostHog connected",
                format!("GET {url} answered {status}: {}", health.describe()),
            );
            true
        }
        Ok((status, health)) => {
            // After a revert the key is the one that worked before: a health endpoint still
            // failing says the trouble is elsewhere; it is reported, and not undone again.
            rotation.step(
                "rotate.verify",
                false,
                "The integration does not report PostHog connected",
                format!(
                    "GET {url} answered {status}: {}",
                    health
                        .map(|h| h.describe())
                        .unwrap_or_else(|| "not the checklist's health shape".to_string())
                ),
            );
            !require_health
        }
        Err(e) => {
            rotation.step(
                "rotate.verify",
                false,
                "The health endpoint did not answer",
                e,
            );
            !require_health
        }
    }
}

pub(super) fn describe(outcome: &WaitOutcome) -> String {
    match outcome {
        WaitOutcome::Complete(_) => "complete".to_string(),
        WaitOutcome::DeadlineExceeded { message } => {
            format!("progress deadline exceeded: {message}")
        }
        WaitOutcome::PodsFailing { problems } => format!("{} pod problem(s)", problems.len()),
        WaitOutcome::TimedOut { timeout, last } => {
            format!("not complete within {}s: {last}", timeout.as_secs())
        }
    }
}
