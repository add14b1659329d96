//! Rollouts: the undo patch (pure, as kubectl computes it), history, and waiting like `kubectl rollout status`.

pub mod apply;
pub mod history;
pub mod pods;
pub mod status;
pub mod undo;
pub mod wait;
