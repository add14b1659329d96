//! Rollouts: the undo patch (pure, as kubectl computes it), the history and template diff, the
//! canary recovery that comes first, and waiting like `kubectl rollout status` (one watch of the
//! Deployment, one of the target's pods) with a progress bar.
//!
//! Pure: [`undo`], [`history`], [`pods`], [`findings`], [`recover::plan_recovery`],
//! [`status::rollout_status`]. Cluster I/O: [`apply`] (read, patch with conflict retry),
//! [`recover`] (abort a canary), [`wait`] and [`status::wait_for_rollout`].

pub mod apply;
pub mod dry_run;
pub mod findings;
pub mod history;
pub mod pods;
pub mod progress;
pub mod recover;
pub mod status;
pub mod undo;
pub mod wait;
