//! `kubectl posthog completion SHELL`: completion scripts. The bash, zsh and fish scripts ask the
//! binary itself (`kubectl-posthog __complete …`, see `cmd::complete`), so subcommands, flags,
//! values, Deployment names, namespaces and contexts complete alike in every shell; `kubectl`
//! prints the `kubectl_complete-posthog` executable kubectl (1.26+) runs for
//! `kubectl posthog <TAB>`. PowerShell gets clap_complete's static script.

use clap::{Args, CommandFactory, ValueEnum};

use crate::cmd::{Cli, Ctx};
use crate::error::Result;

const BASH: &str = include_str!("kubectl-posthog.bash");
const ZSH: &str = include_str!("_kubectl-posthog.zsh");
const FISH: &str = include_str!("kubectl-posthog.fish");
/// Also shipped as a file in the release archives and the krew manifest.
pub const KUBECTL_PLUGIN: &str = include_str!("kubectl_complete-posthog");

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    /// The `kubectl_complete-posthog` executable for `kubectl posthog <TAB>`
    Kubectl,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl posthog completion bash > /etc/bash_completion.d/kubectl-posthog
  kubectl posthog completion zsh > \"${fpath[1]}/_kubectl-posthog\"
  kubectl posthog completion fish > ~/.config/fish/completions/kubectl-posthog.fish
  # kubectl posthog <TAB> (kubectl 1.26+): an executable next to kubectl-posthog on PATH
  kubectl posthog completion kubectl > ~/.krew/bin/kubectl_complete-posthog
  chmod +x ~/.krew/bin/kubectl_complete-posthog")]
pub struct CompletionArgs {
    /// The shell to print a completion script for
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The script for `shell`.
pub fn script(shell: CompletionShell) -> String {
    match shell {
        CompletionShell::Bash => BASH.to_string(),
        CompletionShell::Zsh => ZSH.to_string(),
        CompletionShell::Fish => FISH.to_string(),
        CompletionShell::Kubectl => KUBECTL_PLUGIN.to_string(),
        CompletionShell::Powershell => {
            // The definition's bin_name is `kubectl posthog` (for help); completion is for the
            // executable's own name, or the generated names of nested commands do not match.
            let mut command = Cli::command().bin_name("kubectl-posthog");
            let mut script = Vec::new();
            clap_complete::generate(
                clap_complete::Shell::PowerShell,
                &mut command,
                "kubectl-posthog",
                &mut script,
            );
            String::from_utf8_lossy(&script).into_owned()
        }
    }
}

/// Writes the script to stdout itself: it is not a report.
pub fn run(args: CompletionArgs, ctx: &Ctx) -> Result<()> {
    ctx.write_stdout(&script(args.shell))
}
