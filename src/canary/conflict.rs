//! A stable changed by someone else mid-canary (`kubectl set image`, `kubectl scale`, an edit):
//! what changed, in one sentence, decided from the stable as read and the canary's state. Pure.

use super::objects;
use super::ops;
use super::state::CanaryState;
use k8s_openapi::api::apps::v1::Deployment;

/// What differs from what the driver wrote: the images (from those the canary started from),
/// the replicas (from `expected_replicas`), or else some other part of the spec.
pub fn describe(
    name: &str,
    stable: &Deployment,
    state: &CanaryState,
    expected_replicas: u32,
) -> String {
    let mut changes = Vec::new();
    let images = objects::template_images(stable);
    if images != state.stable_images {
        changes.push(format!(
            "its image changed from {} to {}",
            objects::images_text(&state.stable_images),
            objects::images_text(&images)
        ));
    }
    let replicas = ops::current_replicas(stable);
    if replicas != expected_replicas {
        changes.push(format!(
            "it was scaled from {expected_replicas} to {replicas} replicas"
        ));
    }
    if changes.is_empty() {
        changes.push(format!(
            "its spec changed (generation {})",
            stable.metadata.generation.unwrap_or_default()
        ));
    }
    format!(
        "deployment/{name} was changed by someone else mid-canary: {}",
        changes.join(", and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::state::tests::sample_state;

    fn stable(image: &str, replicas: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": 7},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn names_a_new_image_and_a_new_size() {
        let state = sample_state();
        let text = describe("web", &stable("ghcr.io/acme/app:9", 9), &state, 3);
        assert_eq!(
            text,
            "deployment/web was changed by someone else mid-canary: its image changed from \
             ghcr.io/acme/app:1.0 to ghcr.io/acme/app:9, and it was scaled from 3 to 9 replicas"
        );
        let other = describe("web", &stable("ghcr.io/acme/app:1.0", 3), &state, 3);
        assert!(
            other.ends_with("its spec changed (generation 7)"),
            "{other}"
        );
    }
}
