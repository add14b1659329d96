//! What the stable's Lease records, read and built without I/O: the canary state, the command
//! for its driver, the holder; and the Lease a write sends (see [`super::store`] for who may
//! write what).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};

use super::state::{CanaryState, Command};
use crate::annotations::{COMMAND_ANNOTATION, LEASE_SUFFIX, STATE_ANNOTATION};
use crate::error::Error;

pub fn lease_name(stable: &str) -> String {
    format!("{stable}{LEASE_SUFFIX}")
}

/// A new Lease for `stable` (named, labelled, owned by it), recording nothing yet.
pub fn new_lease(stable: &str, owner: Option<&Deployment>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(lease_name(stable)),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-posthog".to_string(),
                ),
                ("kubectl-posthog.io/stable".to_string(), stable.to_string()),
            ])),
            owner_references: owner.and_then(owner_reference).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec::default()),
    }
}

/// The Lease as read: what it records, and the object (with its resourceVersion) that every
/// write is conditional on. Empty when no Lease exists.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub state: Option<CanaryState>,
    pub command: Option<Command>,
    pub lease: Option<Lease>,
}

impl Stored {
    /// Reads what a Lease records. A state that cannot be read is an error, never a guess.
    pub fn from_lease(lease: Option<Lease>) -> std::result::Result<Stored, String> {
        let Some(lease) = lease else {
            return Ok(Stored::default());
        };
        let annotations = lease.metadata.annotations.as_ref();
        let state = annotations
            .and_then(|a| a.get(STATE_ANNOTATION))
            .map(|text| CanaryState::decode(text))
            .transpose()
            .map_err(|e| {
                format!(
                    "lease {}: {e}",
                    lease.metadata.name.as_deref().unwrap_or_default()
                )
            })?;
        let command = annotations
            .and_then(|a| a.get(COMMAND_ANNOTATION))
            .and_then(|text| Command::decode(text));
        Ok(Stored {
            state,
            command,
            lease: Some(lease),
        })
    }

    pub fn holder(&self) -> Option<&str> {
        self.lease
            .as_ref()?
            .spec
            .as_ref()?
            .holder_identity
            .as_deref()
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.lease
            .as_ref()?
            .metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    pub fn version(&self) -> Option<&str> {
        self.lease.as_ref()?.metadata.resource_version.as_deref()
    }

    /// Who holds the canary now and where it stands, for a driver that lost it.
    pub fn describe(&self) -> String {
        match (&self.state, self.holder()) {
            (Some(state), holder) => format!(
                "{} holds it now: {}{}",
                holder.unwrap_or(&state.driver),
                state.phase.label(),
                state
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            (None, Some(holder)) => format!("{holder} holds it now"),
            (None, None) => "its record was deleted".to_string(),
        }
    }
}

/// How long a holder's claim lasts without a renewal: three analysis intervals, at least 30 s
/// (what [`CanaryState::driver_alive`] uses too).
pub fn lease_seconds(state: &CanaryState) -> i32 {
    i32::try_from(state.interval_secs.saturating_mul(3).max(30)).unwrap_or(i32::MAX)
}

/// The Lease recording `state`, built on `base` (the one last read, whose resourceVersion makes
/// the write conditional, and whose other annotations are kept); `owner` is the stable, for a
/// new Lease. Pure.
pub fn lease_for(
    name: &str,
    base: Option<&Lease>,
    owner: Option<&Deployment>,
    state: &CanaryState,
) -> Lease {
    let mut lease = base.cloned().unwrap_or_else(|| Lease {
        spec: None,
        ..new_lease(name, owner)
    });
    lease
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(STATE_ANNOTATION.to_string(), state.encode());
    let previous = lease.spec.take().unwrap_or_default();
    let same_holder = previous.holder_identity.as_deref() == Some(state.driver.as_str());
    let transitions = previous.lease_transitions.unwrap_or(0);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(state.driver.clone()),
        lease_duration_seconds: Some(lease_seconds(state)),
        acquire_time: if same_holder {
            previous.acquire_time
        } else {
            Some(MicroTime(state.heartbeat))
        },
        renew_time: Some(MicroTime(state.heartbeat)),
        lease_transitions: Some(if same_holder || previous.holder_identity.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..previous
    });
    lease
}

/// `base` with one annotation set or removed; holder and state as they were. Pure.
pub fn with_annotation(base: &Lease, key: &str, value: Option<String>) -> Lease {
    let mut lease = base.clone();
    let annotations = lease.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match value {
        Some(value) => annotations.insert(key.to_string(), value),
        None => annotations.remove(key),
    };
    lease
}

pub fn owner_reference(stable: &Deployment) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: stable.metadata.name.clone()?,
        uid: stable.metadata.uid.clone()?,
        ..OwnerReference::default()
    })
}

/// The error of a driver whose canary another process took: who, and where it stands.
pub fn superseded(stable: &str, now: &Stored) -> Error {
    Error::Superseded(format!(
        "another process took over the canary of deployment/{stable} ({}): this run stopped \
         and changed nothing more; see `kubectl posthog canary status deployment/{stable}`",
        now.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::state::tests::sample_state;

    fn stable() -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "uid": "u-1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}
        }))
        .unwrap()
    }

    #[test]
    fn a_new_lease_is_owned_by_the_stable_and_held_by_the_driver() {
        let state = sample_state();
        let lease = lease_for("web", None, Some(&stable()), &state);
        assert_eq!(lease.metadata.name.as_deref(), Some("web-kubectl-posthog"));
        let owner = &lease.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "u-1")
        );
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("ci/42"));
        assert_eq!(spec.lease_duration_seconds, Some(90));
        assert_eq!(spec.lease_transitions, Some(0));
        let stored = Stored::from_lease(Some(lease)).unwrap();
        assert_eq!(stored.state.unwrap(), state);
    }

    #[test]
    fn another_holder_counts_a_transition_and_keeps_other_annotations() {
        let state = sample_state();
        let first = lease_for("web", None, Some(&stable()), &state);
        let first = with_annotation(&first, COMMAND_ANNOTATION, Some("{}".into()));
        let mut taker = state.clone();
        taker.driver = "laptop/7".into();
        let second = lease_for("web", Some(&first), None, &taker);
        let spec = second.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("laptop/7"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert!(
            second
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(COMMAND_ANNOTATION)
        );
        // Renewing keeps the acquire time and the count.
        let renewed = lease_for("web", Some(&second), None, &taker);
        assert_eq!(renewed.spec.as_ref().unwrap().lease_transitions, Some(1));
    }

    #[test]
    fn an_unreadable_state_in_the_lease_is_an_error() {
        let lease = with_annotation(
            &lease_for("web", None, None, &sample_state()),
            STATE_ANNOTATION,
            Some("{".into()),
        );
        let err = Stored::from_lease(Some(lease)).unwrap_err();
        assert!(err.contains("web-kubectl-posthog"), "{err}");
    }
}
