//! Rollouts: the undo patch (pure, as kubectl computes it), history, and waiting like `kubectl rollout status`.

pub mod status;
