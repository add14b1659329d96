//! kubectl's global flags, spelled and behaving as kubectl's (`--kubeconfig`, `--context`,
//! `-n/--namespace`, `--request-timeout`, `-o`), plus colour, progress, config, verbosity and
//! GitHub Actions mode. Turned into plain options for the layers below.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Flags every subcommand accepts, spelled and behaving as kubectl's.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options (kubectl-style, accepted by every command)")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace of the target (default: the namespace of the kubeconfig context)
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,

    /// How long to wait for a single API request, e.g. 30s or 1m; 0 waits forever
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<Duration>,

    /// Output format of the result written to stdout
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = crate::render::Format::Table)]
    pub output: crate::render::Format,

    /// When to colour the output; NO_COLOR in the environment means never
    #[arg(long, global = true, value_enum, default_value_t = crate::ui::ColorChoice::Auto, value_name = "WHEN")]
    pub color: crate::ui::ColorChoice,

    /// Never draw progress bars (they are drawn only on a terminal, and never under CI=true)
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Configuration file (default: ./kubectl-posthog.yaml or ./.kubectl-posthog.yaml when present)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log what the tool does to stderr; repeat for more detail (-vv)
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub github: super::global_github::GithubArgs,
}

impl GlobalArgs {
    /// The flags that say how to reach the cluster, for `kube::connect`.
    pub fn connect_options(&self) -> crate::kube::ConnectOptions {
        crate::kube::ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

/// kubectl's `--request-timeout`: a bare integer is seconds, `0` means no timeout.
fn parse_request_timeout(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    crate::config::duration::duration_arg(raw).map_err(|e| format!("{e}, or 0 for no timeout"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timeout_accepts_kubectl_forms() {
        assert_eq!(parse_request_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_request_timeout("30").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            parse_request_timeout("1m").unwrap(),
            Duration::from_secs(60)
        );
        assert!(parse_request_timeout("soon").is_err());
    }
}
