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

use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;

use super::ops::{Apis, backoff, transient};
use super::record::new_lease;
pub use super::record::{Stored, lease_for, lease_name, superseded, with_annotation};
use super::state::{CanaryState, Command};
use crate::annotations::COMMAND_ANNOTATION;
use crate::error::{Error, Result};

/// How often a claim or a write re-reads after losing a race before it gives up.
const ATTEMPTS: usize = 8;

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
                let lease = new_lease(&name, Some(stable));
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
