//! `kubectl posthog preflight`: not built yet; see its issue.

use clap::Args;

use crate::cli::TargetArg;
use crate::ctx::Ctx;
use crate::error::{Error, Exit, Result};

#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

pub async fn run(args: PreflightArgs, _ctx: &Ctx) -> Result<Exit> {
    args.target.parse()?;
    Err(Error::NotYetAvailable("preflight"))
}
