//! `kubectl posthog rollback`: not built yet; see its issue.

use clap::Args;

use crate::cli::TargetArg;
use crate::ctx::Ctx;
use crate::error::{Error, Exit, Result};

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

pub async fn run(args: RollbackArgs, _ctx: &Ctx) -> Result<Exit> {
    args.target.parse()?;
    Err(Error::NotYetAvailable("rollback"))
}
