//! Rolling back a Deployment that may have a canary: the canary recovery that comes first (abort
//! it, or remove what a promotion left), the dry run that shows both, and their report lines.
//! Uses `crate::canary` for the abort and `crate::rollout` for the undo and the wait.
//!
//! [`run`] is one rollback: observe → decide (pure) → act. Pure: [`run::decide`],
//! [`recover::plan_recovery`], [`dry_run::plan`], [`findings`], [`guard`], [`intent::decide`].
//! Cluster I/O: [`run::observe`], [`run::act`], [`recover`].

pub mod details;
pub mod dry_run;
pub mod findings;
pub mod guard;
pub mod intent;
pub mod recover;
pub mod run;
