//! One rollback, in three parts the command calls in order: [`observe`] reads the Deployment,
//! its ReplicaSets, the canary's Lease and the canary Deployment; [`decide`] (pure) chooses the
//! canary recovery, whether an earlier rollback is finished rather than undone twice, and the
//! revision to undo to; [`act`] recovers the canary, records the rollback's intent in the Lease
//! and sends kubectl's undo patch. The wait and its progress bar stay with the command;
//! [`mark_done`] records that the rollout completed.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use super::findings::{canary_finding, earlier_rollback_finding, unreadable_canary_finding};
use super::intent::{self, Resume, RollbackIntent};
use super::recover::{self, CanaryRecovery};
use super::{dry_run, guard};
use crate::annotations::ROLLBACK_ANNOTATION;
use crate::canary::objects::{ImageArg, canary_name};
use crate::canary::record::Stored;
use crate::canary::state::CanaryState;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::kube::Apps;
use crate::report::{Finding, Severity, Status, Step};
use crate::rollout::apply::{self, Fetched, RolloutError};
use crate::rollout::findings::{self, UndoDetails};
use crate::rollout::undo::{self, HASH_LABEL, UndoAction};

/// What the cluster says before anything changes.
#[derive(Debug, Clone)]
pub struct Observed {
    pub fetched: Fetched,
    /// The Lease's records; `Err` says why they cannot be read (reported, never guessed).
    pub stored: std::result::Result<Stored, String>,
    /// The canary Deployment, looked for only when a canary state exists.
    pub canary: Option<Deployment>,
}

impl Observed {
    pub fn recorded(&self) -> std::result::Result<Option<&CanaryState>, &str> {
        self.stored
            .as_ref()
            .map(|s| s.state.as_ref())
            .map_err(String::as_str)
    }

    fn intent(&self) -> Option<RollbackIntent> {
        self.stored
            .as_ref()
            .ok()
            .and_then(|s| s.annotation(ROLLBACK_ANNOTATION))
            .and_then(RollbackIntent::decode)
    }
}

pub async fn fetch(apis: &Apps, name: &str) -> Result<Fetched> {
    apply::fetch(&apis.deployments, &apis.replica_sets, &apis.namespace, name)
        .await
        .map_err(|e| e.into_error(&apis.server))
}

pub async fn observe(apis: &Apps, name: &str) -> Result<Observed> {
    let (fetched, stored) = tokio::try_join!(fetch(apis, name), async {
        // An unreadable canary record is reported (and refuses the guard), not an outage.
        match apis.read_stored(name).await {
            Ok(stored) => Ok(Ok(stored)),
            Err(Error::Input(problem)) => Ok(Err(problem)),
            Err(e) => Err(e),
        }
    })?;
    // Every canary this tool starts records its state in the stable's Lease before creating the
    // canary Deployment, so without one there is no canary to look for.
    let canary = match stored.as_ref().map_or(true, |s| s.state.is_some()) {
        true => apis.get_opt(&canary_name(name)).await?,
        false => None,
    };
    Ok(Observed {
        fetched,
        stored,
        canary,
    })
}

/// `--only-canary-of`: the one finding that ends the run unchanged, or `None` to go on; and why.
pub fn only_canary_of(observed: &Observed, wanted: &ImageArg) -> (Option<Finding>, String) {
    let (status, why) = match guard::only_canary_of(
        &observed.fetched.deployment,
        observed.recorded(),
        observed.canary.as_ref(),
        wanted,
    ) {
        guard::Guard::Proceed(why) => return (None, why),
        guard::Guard::NothingToUndo(why) => (Status::Pass, why),
        guard::Guard::Unknown(why) => (Status::Warn, why),
    };
    let finding = Finding::new(
        "rollback.only-canary-of",
        Step::Rollout,
        Severity::P2,
        status,
        "Only what a canary of the image left unfinished is rolled back",
    )
    .measured(why.clone());
    (Some(finding), why)
}

/// What the rollback will do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub findings: Vec<Finding>,
    pub recovery: Option<CanaryRecovery>,
    pub resume: Resume,
    /// An undo patch is to be sent (false: the stable is the version to return to, or an
    /// earlier rollback already sent it).
    pub undo_needed: bool,
    /// kubectl's `--to-revision` (0: the previous revision).
    pub to_revision: i64,
}

/// Decides the rollback from what was observed (pure).
pub fn decide(observed: &Observed, to_revision: Option<i64>, now: jiff::Timestamp) -> Plan {
    let mut findings = Vec::new();
    let deployment = &observed.fetched.deployment;
    let recovery = match observed.recorded() {
        Ok(state) => recover::plan_recovery(deployment, state, observed.canary.as_ref(), now),
        Err(problem) => {
            findings.push(unreadable_canary_finding(problem));
            None
        }
    };
    // An earlier rollback that did not finish (a lost answer, a kill): finish that one.
    let resume = match to_revision {
        Some(_) => Resume::Fresh,
        None => intent::decide(
            observed.intent().as_ref(),
            undo::current_hash(deployment, &observed.fetched.replica_sets).as_deref(),
        ),
    };
    let mut plan = Plan {
        undo_needed: dry_run::undo_needed(recovery.as_ref(), to_revision),
        to_revision: to_revision.unwrap_or(0),
        findings,
        recovery,
        resume,
    };
    match &plan.resume {
        Resume::Applied(earlier) => {
            plan.undo_needed = false;
            let name = deployment.metadata.name.as_deref().unwrap_or_default();
            plan.findings.push(earlier_rollback_finding(name, earlier));
        }
        Resume::NotApplied(earlier) => plan.to_revision = earlier.to_revision,
        Resume::Fresh => {}
    }
    plan
}

/// What [`act`] did: the findings so far and what the wait needs.
#[derive(Debug, Clone, Default)]
pub struct Acted {
    pub findings: Vec<Finding>,
    pub recovery: Option<CanaryRecovery>,
    pub undo: Option<UndoDetails>,
    /// The rollback target's pods (the Deployment's selector plus the target's hash).
    pub target_pods: Option<String>,
    /// The Deployment the undo PATCH answered: the wait starts there.
    pub patched: Option<Deployment>,
    /// The revision the Deployment has once the undo applied (for "keep waiting" hints).
    pub resume_revision: Option<i64>,
    /// The intent recorded in the Lease (and the Lease as last written), to mark done.
    intent: Option<(RollbackIntent, Option<Stored>)>,
    /// kubectl refused the undo: nothing to wait for.
    pub refused: bool,
}

/// Recovers the canary, records the intent, sends the undo.
pub async fn act(
    apis: &Apps,
    name: &str,
    observed: &Observed,
    plan: Plan,
    timeout: Duration,
    clock: &dyn Clock,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<Acted> {
    let mut acted = Acted {
        findings: plan.findings,
        resume_revision: undo::revision_of(
            observed.fetched.deployment.metadata.annotations.as_ref(),
        ),
        ..Acted::default()
    };
    acted.recovery = plan.recovery.clone();
    let mut first = Some(observed.fetched.clone());
    if let Some(recovery) = &plan.recovery {
        let done = recover::recover(apis, name, recovery, timeout, clock, on_event).await?;
        acted.findings.push(canary_finding(
            recovery,
            Some(&done),
            recover::heartbeat_age(recovery, clock.now()),
        ));
        // Our own writes changed the Deployment: decide the undo on a fresh read.
        first = None;
    }
    let target_hash = if plan.undo_needed {
        let fetched = match first.take() {
            Some(fetched) => fetched,
            None => fetch(apis, name).await?,
        };
        let known = observed
            .stored
            .as_ref()
            .ok()
            .filter(|_| plan.recovery.is_none())
            .cloned();
        acted.intent = record_intent(apis, &fetched, plan.to_revision, known, clock).await?;
        match apply::undo(
            &apis.deployments,
            &apis.replica_sets,
            &apis.namespace,
            name,
            plan.to_revision,
            Some(fetched),
        )
        .await
        {
            Ok(outcome) => {
                let patched = outcome.patched.is_some();
                acted.findings.push(findings::undo_finding(
                    &outcome.plan,
                    outcome.conflicts,
                    false,
                ));
                acted.undo = Some(UndoDetails::of(&outcome.plan, outcome.conflicts, patched));
                if matches!(outcome.plan.action, UndoAction::Patch { .. }) {
                    acted.resume_revision = Some(outcome.plan.resulting_revision);
                    on_event(&format!(
                        "deployment.apps/{name} rolled back to revision {}",
                        outcome.plan.target_revision
                    ));
                }
                acted.patched = outcome.patched;
                outcome.plan.target_hash
            }
            Err(RolloutError::Undo(refusal)) => {
                acted
                    .findings
                    .push(findings::refusal_finding(name, &refusal));
                acted.refused = true;
                return Ok(acted);
            }
            Err(e) => {
                let error = e.into_error(&apis.server);
                return Err(match (&acted.intent, error) {
                    (Some(_), Error::Cluster(message)) => Error::Cluster(format!(
                        "{message}; the rollback may have been applied all the same: run \
                         `kubectl posthog rollback deployment/{name}` again, it finds the \
                         rollback recorded and finishes it instead of undoing twice"
                    )),
                    (_, error) => error,
                });
            }
        }
    } else if let Resume::Applied(earlier) = &plan.resume {
        acted.intent = Some((earlier.clone(), None));
        earlier.to_hash.clone()
    } else {
        acted
            .findings
            .push(findings::stable_kept_finding(acted.resume_revision));
        let fetched = &observed.fetched;
        undo::current_hash(&fetched.deployment, &fetched.replica_sets)
    };
    acted.target_pods = undo::selector_of(&observed.fetched.deployment)
        .ok()
        .zip(target_hash)
        .map(|(selector, hash)| format!("{selector},{HASH_LABEL}={hash}"));
    Ok(acted)
}

/// Records the rollback in the Lease before the PATCH, so that a re-run after a lost answer
/// finishes this rollback instead of undoing twice. Nothing is recorded when kubectl would not
/// patch (a refusal or the target already running).
async fn record_intent(
    apis: &Apps,
    fetched: &Fetched,
    to_revision: i64,
    known: Option<Stored>,
    clock: &dyn Clock,
) -> Result<Option<(RollbackIntent, Option<Stored>)>> {
    let Ok(plan) = undo::undo_patch(&fetched.deployment, &fetched.replica_sets, to_revision) else {
        return Ok(None);
    };
    if !matches!(plan.action, UndoAction::Patch { .. }) {
        return Ok(None);
    }
    let record = RollbackIntent {
        from_revision: plan.current_revision,
        from_hash: undo::current_hash(&fetched.deployment, &fetched.replica_sets),
        to_revision: plan.target_revision,
        to_hash: plan.target_hash.clone(),
        at: clock.now(),
        by: crate::canary::state::driver_id(),
        done: false,
    };
    let lease = apis
        .write_annotation(
            &fetched.deployment,
            known,
            ROLLBACK_ANNOTATION,
            Some(record.encode()),
        )
        .await?;
    Ok(Some((record, Some(lease))))
}

/// Marks the recorded rollback done once its rollout completed (a later run then undoes anew).
pub async fn mark_done(apis: &Apps, observed: &Observed, acted: &mut Acted) -> Result<()> {
    let Some((mut record, lease)) = acted.intent.take() else {
        return Ok(());
    };
    record.done = true;
    let known = lease.or_else(|| observed.stored.as_ref().ok().cloned());
    apis.write_annotation(
        &observed.fetched.deployment,
        known,
        ROLLBACK_ANNOTATION,
        Some(record.encode()),
    )
    .await?;
    Ok(())
}
