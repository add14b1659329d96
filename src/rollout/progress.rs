//! The progress of a rollout on stderr: a bar of available updated replicas out of desired with
//! the updated/ready/available counts, or, when no bar is drawn, kubectl's "Waiting for …" lines
//! (each once, as `kubectl rollout status` prints them).

use indicatif::ProgressBar;
use k8s_openapi::api::apps::v1::Deployment;

use super::status::RolloutStatus;
use crate::ui::Ui;

pub struct RolloutProgress {
    ui: Ui,
    bar: ProgressBar,
    name: String,
    last: String,
}

/// The bar's position and message for one observation: updated replicas that are available,
/// out of desired.
pub fn progress_line(deployment: &Deployment) -> (u64, u64, String) {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0);
    let status = deployment.status.clone().unwrap_or_default();
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let done = available.min(updated).max(0);
    let message = format!("updated {updated}/{desired}, ready {ready}, available {available}");
    (
        u64::try_from(done).unwrap_or(0),
        u64::try_from(desired).unwrap_or(0),
        message,
    )
}

impl RolloutProgress {
    pub fn new(ui: &Ui, name: &str) -> Self {
        RolloutProgress {
            ui: ui.clone(),
            bar: ui.bar(0, name),
            name: name.to_string(),
            last: String::new(),
        }
    }

    /// Feeds one observation of the Deployment (the `on_change` of the wait).
    pub fn update(&mut self, deployment: &Deployment, status: &RolloutStatus) {
        let (position, length, message) = progress_line(deployment);
        self.bar.set_length(length);
        self.bar.set_position(position);
        self.bar.set_message(message);
        if !self.ui.is_drawing() {
            let line = status.message(&self.name);
            if line != self.last {
                self.ui.event(&line);
                self.last = line;
            }
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_counts_available_updated_replicas() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 4, "selector": {}, "template": {}},
            "status": {"replicas": 5, "updatedReplicas": 2, "readyReplicas": 4, "availableReplicas": 4}
        }))
        .unwrap();
        assert_eq!(
            progress_line(&d),
            (2, 4, "updated 2/4, ready 4, available 4".to_string())
        );
    }
}
