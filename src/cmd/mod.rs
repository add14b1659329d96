//! The command line: the `Cli` and its subcommands, one file or folder per verb. Each verb owns
//! its `#[derive(Args)]` struct and an `async fn run(args, &Ctx) -> Result<Report>`: args → fetch
//! → decide (features' pure code) → act → report. Nothing below this layer sees a clap struct.

pub mod canary;
pub mod complete;
pub mod completion;
pub mod ctx;
pub mod demo;
pub mod evidence;
pub mod global;
pub mod global_github;
pub mod notify;
pub mod notify_args;
pub mod preflight;
pub mod rollback;
pub mod rotate_key;
pub mod schema;
pub mod sources;
pub mod target;
pub mod triage;

use clap::Parser;

pub use ctx::Ctx;
pub use global::GlobalArgs;
pub use target::{DEFAULT_DEPLOYMENT, TargetArg, TargetRef};

const EXIT_CODES: &str = "\
Exit codes:
  0    success: the checklist passed, the canary was promoted, the rollback completed
  1    the verdict failed: blocking findings at or above --fail-on, a canary aborted
  2    usage, configuration or input error (flags, config file, manifests, kubeconfig,
       a target Deployment or namespace that does not exist)
  3    the cluster or a remote service (PostHog, Prometheus, GitHub) failed or was unreachable,
       or the result could not be written (disk full, stdout closed)
  130  interrupted (after any safe abort)";

/// PostHog production checklist, canary rollouts, rollback and incident evidence, as a kubectl plugin.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-posthog",
    bin_name = "kubectl posthog",
    version,
    propagate_version = true,
    max_term_width = 110,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each lives in `src/cmd/<name>.rs` with its own arguments.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the production readiness checklist against the cluster or manifest files
    Preflight(Box<preflight::PreflightArgs>),
    /// Progressive rollout (10% → 50% → 100%) with Prometheus analysis and automatic abort
    Canary(canary::CanaryArgs),
    /// Undo to the previous (or a given) revision like `kubectl rollout undo`, and wait for it
    Rollback(rollback::RollbackArgs),
    /// Walk the incident runbook's triage and decision tree for a Deployment
    Triage(triage::TriageArgs),
    /// Collect the incident evidence bundle: logs, events, history, metrics, postmortem
    Evidence(evidence::EvidenceArgs),
    /// Replace the PostHog key a Deployment reads from its Secret: validated, restarted, verified, reverted on failure
    RotateKey(rotate_key::RotateKeyArgs),
    /// Post an incident update (or its resolution) to Slack, PagerDuty or a webhook
    Notify(notify::NotifyCommandArgs),
    /// Run the whole flow against an embedded simulated cluster
    Demo(demo::DemoArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
