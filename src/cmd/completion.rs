//! `kubectl posthog completion SHELL`: completion scripts from the clap definition.
//!
//! kubectl completes plugin arguments through an executable named `kubectl_complete-posthog`
//! on PATH; the script printed here also works for `kubectl-posthog` called directly.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cmd::{Cli, Ctx};
use crate::error::Result;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl posthog completion bash > /etc/bash_completion.d/kubectl-posthog\n  kubectl posthog completion zsh > \"${fpath[1]}/_kubectl-posthog\""
)]
pub struct CompletionArgs {
    /// The shell to print a completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the script to stdout itself: it is not a report.
pub fn run(args: CompletionArgs, ctx: &Ctx) -> Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "kubectl-posthog", &mut script);
    ctx.write_stdout(&String::from_utf8_lossy(&script))
}
