//! Rollouts as kubectl does them: the undo patch (pure, as kubectl computes it), the history and
//! template diff, and waiting like `kubectl rollout status` (one watch of the Deployment, one of
//! the target's pods) with a progress bar. Knows nothing of canaries (`crate::rollback` does).
//!
//! Pure: [`undo`], [`history`], [`pods`], [`findings`], [`status::rollout_status`]. Cluster I/O:
//! [`apply`] (read, patch with conflict retry), [`wait`] and [`status::wait_for_rollout`].

pub mod apply;
pub mod findings;
pub mod history;
pub mod pods;
pub mod progress;
pub mod status;
pub mod undo;
pub mod wait;
