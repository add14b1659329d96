//! The command line: kubectl-style global flags shared by every subcommand, and target parsing.
//!
//! Flags follow kubectl's spelling and meaning so `kubectl posthog …` feels like the rest of
//! kubectl: `--kubeconfig`, `--context`, `-n/--namespace`, `--request-timeout`, `-o/--output`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

use crate::error::Error;

/// The name the checklist and runbook give the integration's Deployment.
pub const DEFAULT_DEPLOYMENT: &str = "posthog-integration";

const EXIT_CODES: &str = "\
Exit codes:
  0    success: the checklist passed, the canary was promoted, the rollback completed
  1    the verdict failed: blocking findings at or above --fail-on, a canary aborted
  2    usage, configuration or input error (flags, config file, manifests, kubeconfig)
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
    Preflight(Box<crate::cmd::preflight::PreflightArgs>),
    /// Progressive rollout (10% → 50% → 100%) with Prometheus analysis and automatic abort
    Canary(crate::cmd::canary::CanaryArgs),
    /// Undo to the previous (or a given) revision like `kubectl rollout undo`, and wait for it
    Rollback(crate::cmd::rollback::RollbackArgs),
    /// Walk the incident runbook's triage and decision tree for a Deployment
    Triage(crate::cmd::triage::TriageArgs),
    /// Collect the incident evidence bundle: logs, events, history, metrics, postmortem
    Evidence(crate::cmd::evidence::EvidenceArgs),
    /// Run the whole flow against an embedded simulated cluster
    Demo(crate::cmd::demo::DemoArgs),
    /// Print a shell completion script
    Completion(crate::cmd::completion::CompletionArgs),
}

/// Flags every subcommand accepts, spelled and behaving as kubectl's.
#[derive(Debug, Clone, Args)]
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
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// When to colour the output; NO_COLOR in the environment means never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

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
    pub github: crate::github::GithubArgs,
}

/// Where a report is written: a table for people, JSON/YAML for programs, Markdown for PRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
    Markdown,
}

impl OutputFormat {
    /// Machine-readable output keeps stderr free of progress drawing.
    pub fn is_machine_readable(self) -> bool {
        matches!(self, OutputFormat::Json | OutputFormat::Yaml)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// kubectl's `--request-timeout`: a bare integer is seconds, `0` means no timeout.
fn parse_request_timeout(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(raw)
        .map_err(|e| format!("{e}; use a duration such as 30s, 1m or 0 for no timeout"))
}

/// The Deployment a command acts on, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub name: String,
}

impl TargetRef {
    /// Accepts `deployment/NAME`, `deploy/NAME`, `deployments/NAME`, `deployment.apps/NAME` or `NAME`,
    /// the forms kubectl accepts for a Deployment.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let usage = || {
            Error::Usage(format!(
                "invalid target {raw:?}: write deployment/NAME, deploy/NAME or NAME \
                 (NAME is a lowercase DNS-1123 name, e.g. {DEFAULT_DEPLOYMENT})"
            ))
        };
        let name = match raw.split_once('/') {
            Some((kind, name)) => {
                let kind = kind.to_ascii_lowercase();
                if !matches!(
                    kind.as_str(),
                    "deployment"
                        | "deploy"
                        | "deployments"
                        | "deployment.apps"
                        | "deployments.apps"
                ) {
                    return Err(Error::Usage(format!(
                        "invalid target {raw:?}: only Deployments are supported, \
                         write deployment/NAME or deploy/NAME"
                    )));
                }
                name
            }
            None => raw,
        };
        if !is_dns1123_subdomain(name) {
            return Err(usage());
        }
        Ok(TargetRef {
            name: name.to_string(),
        })
    }
}

impl Default for TargetRef {
    fn default() -> Self {
        TargetRef {
            name: DEFAULT_DEPLOYMENT.to_string(),
        }
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment/{}", self.name)
    }
}

/// The target positional every Deployment-oriented subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct TargetArg {
    /// The Deployment: deployment/NAME, deploy/NAME or NAME
    #[arg(value_name = "TARGET", default_value = DEFAULT_DEPLOYMENT)]
    pub target: String,
}

impl TargetArg {
    pub fn parse(&self) -> Result<TargetRef, Error> {
        TargetRef::parse(&self.target)
    }
}

/// Kubernetes object names: lowercase alphanumerics, '-' and '.', at most 253 characters,
/// starting and ending with an alphanumeric.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_forms_kubectl_accepts() {
        for raw in [
            "deployment/web",
            "deploy/web",
            "deployments/web",
            "deployment.apps/web",
            "web",
        ] {
            assert_eq!(TargetRef::parse(raw).unwrap().name, "web", "{raw}");
        }
    }

    #[test]
    fn target_rejects_other_kinds_and_bad_names() {
        let err = TargetRef::parse("statefulset/web").unwrap_err().to_string();
        assert!(err.contains("only Deployments"), "{err}");
        for raw in ["Web", "web_1", "-web", "deploy/", "", "a/b/c"] {
            let err = TargetRef::parse(raw).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{raw}: {err}");
        }
    }

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

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
