//! Parse, run, exit: everything else lives in the library so tests and the demo reach it.

use std::process::ExitCode;

use clap::Parser;
use kubectl_posthog::cmd::Cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__complete") {
        return kubectl_posthog::complete(&args[1..]);
    }
    if args.first().map(String::as_str) == Some(kubectl_posthog::kube::exec_plugin::BOUNDED_EXEC) {
        return kubectl_posthog::kube::exec_plugin::run_bounded(&args[1..]);
    }
    match Cli::try_parse() {
        Ok(cli) => kubectl_posthog::run(cli),
        Err(error) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
        }
    }
}
