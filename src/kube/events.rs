//! Kubernetes Events about the stable Deployment, written as controllers write them (core v1,
//! `source.component: kubectl-posthog`), one per canary start, step, abort and promotion and per
//! rollback: the cluster's own history of what this tool did, which outlives the Lease's state
//! (overwritten by the next canary) and is what `kubectl get events` and `evidence` read.
//!
//! Writing is best effort and bounded: no retries, a short timeout, and a failure is a warning
//! in the log, never a change to the rollout's outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};

use crate::annotations::{EVENT_FACT_PREFIX, EVENT_KIND_ANNOTATION};
use crate::event::{Event, EventKind, Phase};

/// `source.component` and `reportingComponent` of every Event this tool writes.
pub const COMPONENT: &str = "kubectl-posthog";
/// How long one Event write may take before it is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The API server refuses longer messages.
const MAX_MESSAGE: usize = 1024;

/// The Event reason for a kind of domain event, for those that are about a rollout of the
/// Deployment; `None` for the rest (triage, evidence, a person's update, key rotation).
pub fn reason(kind: EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::CanaryStarted => "CanaryStarted",
        EventKind::CanaryStepPassed => "CanaryStepPassed",
        EventKind::CanaryAborted => "CanaryAborted",
        EventKind::CanaryPromoted => "CanaryPromoted",
        EventKind::CanaryPromotionFailed => "CanaryPromotionFailed",
        EventKind::RollbackDone => "RollbackDone",
        EventKind::RollbackFailed => "RollbackFailed",
        _ => return None,
    })
}

/// The core v1 Event recording `event` on its Deployment, or `None` when the kind is not
/// recorded. Facts travel as annotations (`kubectl-posthog.io/fact.image: app:2`) so a reader
/// gets them back without parsing the message.
pub fn kube_event(event: &Event, host: &str) -> Option<KubeEvent> {
    let reason = reason(event.kind)?;
    let at = Time(event.at);
    let mut annotations = BTreeMap::from([(
        EVENT_KIND_ANNOTATION.to_string(),
        event.kind.name().to_string(),
    )]);
    for (name, value) in &event.facts {
        let key: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        annotations.insert(format!("{EVENT_FACT_PREFIX}{key}"), value.clone());
    }
    Some(KubeEvent {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                event.target.deployment,
                event.at.as_nanosecond().max(0) as u128 + u128::from(std::process::id())
            )),
            namespace: Some(event.target.namespace.clone()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(event.target.deployment.clone()),
            namespace: Some(event.target.namespace.clone()),
            ..ObjectReference::default()
        },
        reason: Some(reason.into()),
        message: Some(crate::event::truncate_chars(&event.summary, MAX_MESSAGE)),
        type_: Some(
            match event.phase {
                Phase::Problem => "Warning",
                Phase::Progress | Phase::Recovered => "Normal",
            }
            .into(),
        ),
        source: Some(EventSource {
            component: Some(COMPONENT.into()),
            host: Some(host.to_string()),
        }),
        reporting_component: Some(COMPONENT.into()),
        reporting_instance: Some(host.to_string()),
        first_timestamp: Some(at.clone()),
        last_timestamp: Some(at),
        count: Some(1),
        ..KubeEvent::default()
    })
}

/// An object's `deployment.kubernetes.io/revision` (empty when it has none): the revision
/// number a rollout event happened at, kept with the event since later rollbacks renumber it.
pub fn revision_of(meta: &ObjectMeta) -> String {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .cloned()
        .unwrap_or_default()
}

/// Writes [`kube_event`]s with a client of its own: no retries, [`WRITE_TIMEOUT`] per write.
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    host: String,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// A recorder for `cluster`; `None` (with a warning) when no client can be built.
    pub fn new(cluster: &super::Cluster) -> Option<EventRecorder> {
        match cluster.client_without_retries_within(Some(WRITE_TIMEOUT)) {
            Ok(client) => Some(EventRecorder {
                client,
                host: std::env::var("HOSTNAME")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "unknown".into()),
            }),
            Err(e) => {
                tracing::warn!("Kubernetes Events will not be written: {e}");
                None
            }
        }
    }

    /// Records `event` on its Deployment. Never fails: a refusal or a timeout is logged.
    pub async fn record(&self, event: &Event) {
        let Some(object) = kube_event(event, &self.host) else {
            return;
        };
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), &event.target.namespace);
        let params = PostParams::default();
        let write = api.create(&params, &object);
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(_)) => tracing::debug!(
                reason = object.reason.as_deref().unwrap_or(""),
                "wrote an Event on deployment/{}",
                event.target.deployment
            ),
            Ok(Err(e)) => tracing::warn!(
                "could not write the {} Event on deployment/{}: {}",
                event.kind.name(),
                event.target.deployment,
                match &e {
                    kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
                    other => other.to_string(),
                }
            ),
            Err(_) => tracing::warn!(
                "could not write the {} Event on deployment/{}: no answer within {}s",
                event.kind.name(),
                event.target.deployment,
                WRITE_TIMEOUT.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTarget;
    use crate::report::Severity;

    fn target() -> EventTarget {
        EventTarget {
            namespace: "prod".into(),
            deployment: "web".into(),
            context: None,
        }
    }

    #[test]
    fn rollout_events_become_kubernetes_events_on_the_deployment() {
        let at: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let started = Event::new(
            EventKind::CanaryStarted,
            Severity::P4,
            target(),
            "canary of app:2 started",
            at,
        )
        .fact("image", "app:2")
        .fact("stable revision", "3");
        let object = kube_event(&started, "host").unwrap();
        assert_eq!(object.reason.as_deref(), Some("CanaryStarted"));
        assert_eq!(object.type_.as_deref(), Some("Normal"));
        assert_eq!(object.involved_object.kind.as_deref(), Some("Deployment"));
        assert_eq!(object.involved_object.name.as_deref(), Some("web"));
        assert_eq!(
            object.source.as_ref().unwrap().component.as_deref(),
            Some(COMPONENT)
        );
        let annotations = object.metadata.annotations.unwrap();
        assert_eq!(annotations[&format!("{EVENT_FACT_PREFIX}image")], "app:2");
        assert_eq!(
            annotations[&format!("{EVENT_FACT_PREFIX}stable-revision")],
            "3"
        );
        assert_eq!(annotations[EVENT_KIND_ANNOTATION], "canary.started");
        let aborted = Event::new(EventKind::CanaryAborted, Severity::P1, target(), "x", at);
        assert_eq!(
            kube_event(&aborted, "h").unwrap().type_.as_deref(),
            Some("Warning")
        );
        let triage = Event::new(EventKind::TriageResult, Severity::P1, target(), "x", at);
        assert!(kube_event(&triage, "h").is_none());
        let long = Event::new(
            EventKind::RollbackDone,
            Severity::P4,
            target(),
            "y".repeat(5000),
            at,
        );
        assert_eq!(
            kube_event(&long, "h")
                .unwrap()
                .message
                .unwrap()
                .chars()
                .count(),
            MAX_MESSAGE
        );
    }
}
