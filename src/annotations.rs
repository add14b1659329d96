//! The annotation keys this tool writes on Kubernetes objects, in one place: every process that
//! reads them (a canary driver, `canary status`, `rollback`, `evidence`) agrees on them, and the
//! undo logic knows which ones to carry over.

/// On the stable: the canary's state (JSON).
pub const STATE_ANNOTATION: &str = "kubectl-posthog.io/canary";
/// On the stable: a command for the canary's driver (promote, abort) from another process.
pub const COMMAND_ANNOTATION: &str = "kubectl-posthog.io/canary-command";
/// On the canary Deployment: the stable it belongs to.
pub const CANARY_OF_ANNOTATION: &str = "kubectl-posthog.io/canary-of";
