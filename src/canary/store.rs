//! Where a canary is recorded on the cluster, and who may change it: one
//! `coordination.k8s.io/v1` Lease per stable Deployment, `<stable>-kubectl-posthog`, owned by the
//! stable (garbage-collected with it). Its holder is the process driving the canary; its
//! annotations hold the canary state, the command channel (`canary promote`/`abort`) and a
//! rollback's intent.
//!
//! Why a Lease and not annotations on the stable: the Deployment controller copies the stable's
//! annotations into every ReplicaSet and `kubectl rollout undo` copies them back, so a past
//! canary's state came back to life. A Lease is what Kubernetes itself uses to decide one owner.
//!
//! The concurrency model, in one place:
//! - every write is a replace carrying the resourceVersion last read, so the API server decides
//!   atomically between two writers: the loser gets 409, re-reads and decides again;
//! - exactly one holder drives a canary. Claiming it (a new canary, `--resume`, an abort or a
//!   rollback taking over) is a conditional write that sets the holder; a driver whose write
//!   meets another holder has lost the canary and stops ([`Error::Superseded`], exit 1);
//! - other processes only add a command (`canary promote`/`abort`) or a rollback's intent,
//!   keeping the holder and the state as they found them.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::PostParams;

use super::ops::{Apis, backoff, transient};
use super::state::{CanaryState, Command};
use crate::annotations::{COMMAND_ANNOTATION, LEASE_SUFFIX, STATE_ANNOTATION};
use crate::error::{Error, Result};

/// How often a claim or a write re-reads after losing a race before it gives up.
const ATTEMPTS: usize = 8;

pub fn lease_name(stable: &str) -> String {
    format!("{stable}{LEASE_SUFFIX}")
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
        metadata: ObjectMeta {
            name: Some(lease_name(name)),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-posthog".to_string(),
                ),
                ("kubectl-posthog.io/stable".to_string(), name.to_string()),
            ])),
            owner_references: owner.and_then(owner_reference).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: None,
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

fn owner_reference(stable: &Deployment) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: stable.metadata.name.clone()?,
        uid: stable.metadata.uid.clone()?,
        ..OwnerReference::default()
    })
}

/// What a claim found, for the caller to accept or refuse.
pub enum Write {
    /// Create the Lease (none exists).
    Create(Lease),
    /// Replace the Lease read, conditional on its resourceVersion.
    Replace(Lease),
}

enum Attempt {
    Done(Box<Stored>),
    /// Lost a race (409, or the Lease appeared/vanished): read again and decide again.
    Raced,
}

impl Apis {
    fn lease_request(&self, verb: &str, stable: &str) -> String {
        format!("{verb} lease {}/{}", self.namespace, lease_name(stable))
    }

    /// Reads the stable's Lease (retrying what passes).
    pub async fn read_stored(&self, stable: &str) -> Result<Stored> {
        let name = lease_name(stable);
        let lease = (|| self.leases.get_opt(&name))
            .retry(backoff())
            .when(transient)
            .await
            .map_err(|e| {
                crate::kube::api_error(&self.lease_request("get", stable), &self.server, e)
            })?;
        Stored::from_lease(lease).map_err(Error::Input)
    }

    /// One conditional write; a 409 (or a create meeting an existing Lease) is a lost race.
    async fn attempt(&self, stable: &str, write: Write) -> Result<Attempt> {
        let params = PostParams {
            field_manager: Some(super::ops::FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        let name = lease_name(stable);
        let (verb, result) = match &write {
            Write::Create(lease) => (
                "create",
                (|| self.leases.create(&params, lease))
                    .retry(backoff())
                    .when(transient)
                    .await,
            ),
            Write::Replace(lease) => (
                "update",
                (|| self.leases.replace(&name, &params, lease))
                    .retry(backoff())
                    .when(transient)
                    .await,
            ),
        };
        match result {
            Ok(lease) => Ok(Attempt::Done(Box::new(
                Stored::from_lease(Some(lease)).map_err(Error::Input)?,
            ))),
            // 409: another writer came first (or our own earlier attempt, whose answer was
            // lost); 404: the Lease went away under a replace.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(Attempt::Raced),
            Err(e) => Err(crate::kube::api_error(
                &self.lease_request(verb, stable),
                &self.server,
                e,
            )),
        }
    }

    /// Reads, lets `decide` choose the write (or refuse with an error), and writes it
    /// conditionally; on a lost race reads and decides again. The API server's answer to the
    /// conditional write is what makes exactly one of two simultaneous claims win.
    pub async fn write_decided(
        &self,
        stable: &str,
        decide: impl FnMut(&Stored) -> Result<Option<Write>>,
    ) -> Result<Stored> {
        self.write_decided_from(stable, None, decide).await
    }

    /// [`Self::write_decided`] starting from a Lease already read (`known`): one request
    /// fewer when nobody wrote it since; a lost race reads again as usual.
    pub async fn write_decided_from(
        &self,
        stable: &str,
        known: Option<Stored>,
        mut decide: impl FnMut(&Stored) -> Result<Option<Write>>,
    ) -> Result<Stored> {
        let mut known = known;
        for _ in 0..ATTEMPTS {
            let stored = match known.take() {
                Some(stored) => stored,
                None => self.read_stored(stable).await?,
            };
            let Some(write) = decide(&stored)? else {
                return Ok(stored);
            };
            if let Attempt::Done(written) = self.attempt(stable, write).await? {
                return Ok(*written);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Cluster(format!(
            "lease {}/{} kept changing under {ATTEMPTS} conditional writes: another process is \
             writing it; check `kubectl get lease {}` and retry",
            self.namespace,
            lease_name(stable),
            lease_name(stable)
        )))
    }

    /// Claims the canary of `stable` for `state.driver`: creates the Lease, or takes over the
    /// one read when `may_take` accepts what it records (it refuses with an error otherwise).
    pub async fn claim(
        &self,
        stable: &Deployment,
        state: &CanaryState,
        may_take: impl Fn(&Stored) -> Result<()>,
    ) -> Result<Stored> {
        let name = stable.metadata.name.clone().unwrap_or_default();
        self.write_decided(&name, |stored| {
            // Our own earlier attempt, whose answer was lost: it is ours already.
            if stored.holder() != Some(state.driver.as_str()) {
                may_take(stored)?;
            }
            let lease = lease_for(&name, stored.lease.as_ref(), Some(stable), state);
            Ok(Some(match stored.lease {
                None => Write::Create(lease),
                Some(_) => Write::Replace(lease),
            }))
        })
        .await
    }

    /// Records `state` as the holder of `held` (the Lease this process last read or wrote).
    /// Another process's command or rollback intent is kept; another holder means this process
    /// lost the canary: [`Error::Superseded`].
    pub async fn write_held(
        &self,
        stable: &str,
        held: &Stored,
        state: &CanaryState,
    ) -> Result<Stored> {
        self.write_held_with(stable, held, state, |lease| lease)
            .await
    }

    /// [`Self::write_held`] that also changes the Lease (e.g. clears a consumed command).
    pub async fn write_held_with(
        &self,
        stable: &str,
        held: &Stored,
        state: &CanaryState,
        change: impl Fn(Lease) -> Lease,
    ) -> Result<Stored> {
        let mut base = held.lease.clone();
        for _ in 0..ATTEMPTS {
            let Some(current) = base.as_ref() else {
                return Err(superseded(stable, &Stored::default()));
            };
            let lease = change(lease_for(stable, Some(current), None, state));
            if let Attempt::Done(written) = self.attempt(stable, Write::Replace(lease)).await? {
                return Ok(*written);
            }
            let fresh = self.read_stored(stable).await?;
            if fresh.holder() != Some(state.driver.as_str()) {
                return Err(superseded(stable, &fresh));
            }
            base = fresh.lease;
        }
        Err(Error::Cluster(format!(
            "lease {}/{} kept changing under {ATTEMPTS} conditional writes; check `kubectl get lease {}`",
            self.namespace,
            lease_name(stable),
            lease_name(stable)
        )))
    }

    /// Sets (or clears) one annotation of the stable's Lease (a rollback's intent), keeping
    /// holder and state; creates the Lease, owned by the stable, when there is none.
    pub async fn write_annotation(
        &self,
        stable: &Deployment,
        known: Option<Stored>,
        key: &str,
        value: Option<String>,
    ) -> Result<Stored> {
        let name = stable.metadata.name.clone().unwrap_or_default();
        self.write_decided_from(&name, known, |stored| match &stored.lease {
            None if value.is_none() => Ok(None),
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(lease_name(&name)),
                        labels: Some(BTreeMap::from([
                            (
                                "app.kubernetes.io/managed-by".to_string(),
                                "kubectl-posthog".to_string(),
                            ),
                            ("kubectl-posthog.io/stable".to_string(), name.clone()),
                        ])),
                        owner_references: owner_reference(stable).map(|o| vec![o]),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec::default()),
                };
                Ok(Some(Write::Create(with_annotation(
                    &lease,
                    key,
                    value.clone(),
                ))))
            }
            Some(lease) => Ok(Some(Write::Replace(with_annotation(
                lease,
                key,
                value.clone(),
            )))),
        })
        .await
    }

    /// Sets (or clears) the command for the canary's driver, keeping holder and state.
    pub async fn write_command(&self, stable: &str, command: Option<&Command>) -> Result<Stored> {
        let encoded = command.map(Command::encode);
        self.write_decided(stable, |stored| match &stored.lease {
            None if encoded.is_none() => Ok(None),
            None => Err(Error::Usage(format!(
                "no canary is recorded on deployment/{stable} (no lease {})",
                lease_name(stable)
            ))),
            Some(lease) => Ok(Some(Write::Replace(with_annotation(
                lease,
                COMMAND_ANNOTATION,
                encoded.clone(),
            )))),
        })
        .await
    }
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
