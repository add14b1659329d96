//! The annotation keys this tool writes on Kubernetes objects, in one place: every process that
//! reads them (a canary driver, `canary status`, `rollback`, `evidence`) agrees on them, and the
//! undo logic knows which ones to carry over.

/// On the stable's Lease (`<stable>-kubectl-posthog`): the canary's state (JSON). Older versions
/// kept it on the stable itself, where the Deployment controller copies it into ReplicaSets and
/// `kubectl rollout undo` copies it back; a copy found there is ignored.
pub const STATE_ANNOTATION: &str = "kubectl-posthog.io/canary";
/// On the stable's Lease: a command for the canary's driver (promote, abort) from another process.
pub const COMMAND_ANNOTATION: &str = "kubectl-posthog.io/canary-command";
/// On the stable's Lease: what a rollback is about to do or did (from and to revision, target
/// template hash), so a re-run after a lost answer or a kill finishes it instead of undoing it.
pub const ROLLBACK_ANNOTATION: &str = "kubectl-posthog.io/rollback";
/// The suffix of the Lease that holds a stable's canary state, command and rollback intent.
pub const LEASE_SUFFIX: &str = "-kubectl-posthog";
/// On the Kubernetes Events this tool writes about a stable: the domain event's kind
/// (`canary.aborted`), and each of its facts under the prefix (`kubectl-posthog.io/fact.image`).
pub const EVENT_KIND_ANNOTATION: &str = "kubectl-posthog.io/event";
pub const EVENT_FACT_PREFIX: &str = "kubectl-posthog.io/fact.";
/// On the canary Deployment: the stable it belongs to.
pub const CANARY_OF_ANNOTATION: &str = "kubectl-posthog.io/canary-of";
