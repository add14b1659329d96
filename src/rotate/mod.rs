//! `rotate-key`: the runbook's 401/403 remediation done safely. The new key is validated with
//! PostHog before anything changes; the old value is kept in `NAME-previous` (labelled, owned by
//! the Secret); only the one key of the Secret is patched, under its resourceVersion; every
//! Deployment reading it is restarted like `kubectl rollout restart` and waited for like
//! `kubectl rollout status`; the integration's health endpoint must report PostHog connected;
//! on failure the old key is restored and the readers restarted again. The Secret carries the
//! rotation's state in an annotation while it runs, so a re-run after an interruption resumes.

pub mod plan;
pub mod report;
mod restart;
pub mod rotation;
pub mod run;
mod secret;
mod verify;

pub use rotation::{Inputs, Rotation};
pub use run::rotate;
