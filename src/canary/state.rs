//! Where a canary stands, kept on the cluster in the stable's Lease ([`super::store`]), so a
//! canary interrupted anywhere can be resumed, inspected or aborted from anywhere.
//!
//! Two annotations of that Lease:
//! - [`STATE_ANNOTATION`]: written by the Lease's holder, the process driving the canary (phase,
//!   step, images, the stable's original replica count, the last analysis, a heartbeat);
//! - [`COMMAND_ANNOTATION`]: written by `canary promote` / `canary abort`, read by the driver.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analysis::{Reading, Streaks};
use super::plan::{CanaryStep, Pause};
pub use crate::annotations::{CANARY_OF_ANNOTATION, COMMAND_ANNOTATION, STATE_ANNOTATION};

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Scaling to a step's counts and waiting for the canary's pods.
    Progressing,
    /// Waiting out a step's pause, analysing.
    Paused,
    /// Held by `--on-inconclusive pause` until `canary promote` or `canary abort`.
    Held,
    /// The stable took the new template; waiting for its rollout.
    Promoting,
    Promoted,
    /// The stable's rollout of the new template failed; the canary was removed. The stable
    /// runs the new template: roll back with `kubectl posthog rollback`.
    PromotionFailed,
    /// Restoring the stable and removing the canary.
    Aborting,
    Aborted,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Promoted | Phase::Aborted | Phase::PromotionFailed
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Held => "held",
            Phase::Promoting => "promoting",
            Phase::Promoted => "promoted",
            Phase::PromotionFailed => "promotion failed",
            Phase::Aborting => "aborting",
            Phase::Aborted => "aborted",
        }
    }
}

/// The whole canary, as stored in [`STATE_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryState {
    pub version: u32,
    pub phase: Phase,
    /// Index into `steps` of the current step.
    pub step: usize,
    pub steps: Vec<CanaryStep>,
    /// Container name → the image the canary runs.
    pub images: BTreeMap<String, String>,
    /// Container name → the image the stable ran before the canary (for the report and abort).
    pub stable_images: BTreeMap<String, String>,
    /// The stable's `spec.replicas` before the canary scaled it down: what abort restores.
    pub stable_replicas: u32,
    pub canary_name: String,
    pub started_at: jiff::Timestamp,
    pub step_started_at: jiff::Timestamp,
    /// When the current pause began (absent while scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_started_at: Option<jiff::Timestamp>,
    /// Analysis interval in seconds; with `heartbeat` it tells whether a driver is alive.
    pub interval_secs: u64,
    pub heartbeat: jiff::Timestamp,
    /// Who drives it: `host/pid`.
    pub driver: String,
    #[serde(default)]
    pub streaks: Streaks,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_analysis: Vec<Reading>,
    /// Why the canary ended or is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The command options a `--resume` needs to continue identically (source, limits, …).
    #[serde(default)]
    pub options: serde_json::Value,
    /// The stable's `metadata.generation` after the driver's last write to it (or when it was
    /// last accepted): a later one means someone else changed the stable's spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_generation: Option<i64>,
    /// Its driver let go of it (`--on-interrupt leave`, Ctrl-C during a promotion): nobody
    /// drives it, whatever the heartbeat (which stays the real last one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    /// An HPA owns the stable's `spec.replicas`: the canary never writes them, and sizes the
    /// canary from the stable's current count every tick (recorded so `--resume` does the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<Autoscaler>,
}

/// The HorizontalPodAutoscaler that targets the stable, as the canary found it at its start or
/// when one appeared mid-canary ([`super::autoscaled::hpa_change`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaler {
    /// The HPA's name (autoscaling/v2, `scaleTargetRef` the stable).
    pub name: String,
    /// [`super::objects::spec_fingerprint`] of the stable as the driver last wrote or accepted
    /// it: a new generation with the same fingerprint is the HPA's scaling, not a conflict.
    pub spec_fingerprint: String,
    /// The canary's replicas as the driver last set them.
    #[serde(default)]
    pub canary_replicas: u32,
    /// The stable's replicas as last seen from the HPA (a scaling by anyone else is a conflict).
    #[serde(default)]
    pub stable_replicas: u32,
    /// The HPA was deleted mid-canary: the stable keeps the replicas it left, never written by
    /// the canary (said once, when it was found gone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

impl CanaryState {
    pub fn current(&self) -> Option<&CanaryStep> {
        self.steps.get(self.step)
    }

    /// A driver that has not written for three intervals (at least 30 s) is presumed gone.
    pub fn driver_alive(&self, now: jiff::Timestamp) -> bool {
        if self.phase.is_terminal() || self.released {
            return false;
        }
        let limit = (self.interval_secs.saturating_mul(3)).max(30);
        let age = now.duration_since(self.heartbeat).as_secs();
        age >= 0 && (age as u64) < limit
    }

    /// Time left in the current pause (`None` for an indefinite pause or when not pausing).
    pub fn pause_remaining(&self, now: jiff::Timestamp) -> Option<std::time::Duration> {
        // An ended canary has no pause left, whatever it was doing when it ended.
        if self.phase.is_terminal() {
            return None;
        }
        let started = self.pause_started_at?;
        match self.current()?.pause? {
            Pause::For(d) => {
                let elapsed = now.duration_since(started).as_secs().max(0) as u64;
                Some(std::time::Duration::from_secs(
                    d.as_secs().saturating_sub(elapsed),
                ))
            }
            Pause::UntilPromoted => None,
        }
    }

    pub fn encode(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<CanaryState, String> {
        let state: CanaryState = serde_json::from_str(text)
            .map_err(|e| format!("the {STATE_ANNOTATION} annotation is not a canary state: {e}"))?;
        if state.version != STATE_VERSION {
            return Err(format!(
                "the {STATE_ANNOTATION} annotation has version {}, this build reads {STATE_VERSION}",
                state.version
            ));
        }
        Ok(state)
    }
}

/// What `canary promote` / `canary abort` ask of the driver, in [`COMMAND_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub action: Action,
    /// The step the command was given at: a promote skips that step's pause only.
    pub step: usize,
    pub at: jiff::Timestamp,
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// End the current pause (or hold) and go on to the next step.
    Promote,
    /// Skip every remaining step and pause: promote now (Argo Rollouts' `promote --full`).
    #[serde(rename = "promote-full")]
    PromoteFull,
    Abort,
}

impl Command {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Option<Command> {
        serde_json::from_str(text).ok()
    }
}

/// Reads both annotations from a Deployment's annotations.
pub fn read_annotations(
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(Option<CanaryState>, Option<Command>), String> {
    let Some(annotations) = annotations else {
        return Ok((None, None));
    };
    let state = annotations
        .get(STATE_ANNOTATION)
        .map(|text| CanaryState::decode(text))
        .transpose()?;
    let command = annotations
        .get(COMMAND_ANNOTATION)
        .and_then(|text| Command::decode(text));
    Ok((state, command))
}

/// A JSON merge patch setting (or, with `None`, removing) one annotation.
pub fn annotation_patch(key: &str, value: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "metadata": { "annotations": { key: value } } })
}

/// `host/pid`, naming who drives a canary in `canary status`.
pub fn driver_id() -> String {
    format!("{}/{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// True when `driver` names a process on this machine that no longer exists (it was killed):
/// then its heartbeat, however recent, drives nothing. Only answerable where `/proc` exists.
pub fn local_driver_gone(driver: &str) -> bool {
    let Some((host, pid)) = driver.rsplit_once('/') else {
        return false;
    };
    let proc = std::path::Path::new("/proc");
    host == host_name()
        && pid.parse::<u32>().is_ok()
        && proc.join("self").exists()
        && !proc.join(pid).exists()
}

/// Whether a live process drives the canary: a recent heartbeat from a process not known dead.
pub fn is_driven(state: &CanaryState, now: jiff::Timestamp) -> bool {
    state.driver_alive(now) && !local_driver_gone(&state.driver)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::canary::plan::plan_steps;

    /// An HPA `name` followed with the stable at `stable` replicas and the canary at `canary`.
    pub(crate) fn sample_autoscaler(name: &str, stable: u32, canary: u32) -> Autoscaler {
        Autoscaler {
            name: name.into(),
            spec_fingerprint: "f".into(),
            canary_replicas: canary,
            stable_replicas: stable,
            gone: false,
        }
    }

    pub(crate) fn sample_state() -> CanaryState {
        let at: jiff::Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        CanaryState {
            version: STATE_VERSION,
            phase: Phase::Paused,
            step: 0,
            steps: plan_steps(4, &[25, 100], &[Pause::For(Duration::from_secs(600))], true),
            images: BTreeMap::from([("app".into(), "ghcr.io/acme/app:2.0".into())]),
            stable_images: BTreeMap::from([("app".into(), "ghcr.io/acme/app:1.0".into())]),
            stable_replicas: 4,
            canary_name: "web-canary".into(),
            started_at: at,
            step_started_at: at,
            pause_started_at: Some(at),
            interval_secs: 30,
            heartbeat: at,
            driver: "ci/42".into(),
            streaks: Streaks::default(),
            last_analysis: Vec::new(),
            reason: None,
            options: serde_json::Value::Null,
            stable_generation: None,
            released: false,
            autoscaler: None,
        }
    }

    #[test]
    fn state_round_trips_through_the_annotation() {
        let state = sample_state();
        let text = state.encode();
        assert_eq!(CanaryState::decode(&text).unwrap(), state);
        let annotations = BTreeMap::from([
            (STATE_ANNOTATION.to_string(), text),
            (
                COMMAND_ANNOTATION.to_string(),
                Command {
                    action: Action::Promote,
                    step: 0,
                    at: state.started_at,
                    by: "me".into(),
                }
                .encode(),
            ),
        ]);
        let (read, command) = read_annotations(Some(&annotations)).unwrap();
        assert_eq!(read.unwrap().canary_name, "web-canary");
        assert_eq!(command.unwrap().action, Action::Promote);
    }

    #[test]
    fn garbage_or_newer_state_is_an_error_not_a_guess() {
        assert!(CanaryState::decode("{").is_err());
        let mut state = sample_state();
        state.version = 99;
        let err = CanaryState::decode(&state.encode()).unwrap_err();
        assert!(err.contains("version 99"), "{err}");
    }

    #[test]
    fn heartbeat_tells_whether_a_driver_is_alive() {
        let state = sample_state();
        let at = state.heartbeat;
        assert!(state.driver_alive(at + jiff::SignedDuration::from_secs(60)));
        assert!(!state.driver_alive(at + jiff::SignedDuration::from_secs(91)));
        let mut done = state.clone();
        done.phase = Phase::Aborted;
        assert!(!done.driver_alive(at));
    }

    #[test]
    fn a_dead_local_driver_drives_nothing() {
        let me = driver_id();
        assert!(!local_driver_gone(&me), "this process is alive");
        let host = me.rsplit_once('/').unwrap().0;
        // PIDs are below 2^22 on Linux.
        assert!(local_driver_gone(&format!("{host}/99999999")));
        assert!(!local_driver_gone("another-host/99999999"));
        let mut state = sample_state();
        state.heartbeat = jiff::Timestamp::now();
        state.driver = format!("{host}/99999999");
        assert!(!is_driven(&state, state.heartbeat));
        state.driver = me;
        assert!(is_driven(&state, state.heartbeat));
    }

    /// Issue 15 (view 2, 3): a canary left for `--resume` keeps its real last heartbeat, and an
    /// ended one shows no countdown.
    #[test]
    fn a_released_canary_is_not_driven_and_an_ended_one_has_no_pause_left() {
        let mut state = sample_state();
        state.released = true;
        assert!(!state.driver_alive(state.heartbeat));
        assert_eq!(state.heartbeat, sample_state().heartbeat);
        let mut ended = sample_state();
        ended.phase = Phase::Aborted;
        assert_eq!(ended.pause_remaining(ended.pause_started_at.unwrap()), None);
    }

    #[test]
    fn pause_remaining_counts_down() {
        let state = sample_state();
        let at = state.pause_started_at.unwrap();
        assert_eq!(
            state.pause_remaining(at + jiff::SignedDuration::from_secs(240)),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            state.pause_remaining(at + jiff::SignedDuration::from_secs(900)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn annotation_patch_sets_or_removes() {
        assert_eq!(
            annotation_patch(COMMAND_ANNOTATION, None),
            serde_json::json!({"metadata": {"annotations": {COMMAND_ANNOTATION: null}}})
        );
    }
}
