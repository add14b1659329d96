//! `kubectl posthog evidence`: not built yet; see its issue.

use clap::Args;

use crate::cli::TargetArg;
use crate::ctx::Ctx;
use crate::error::{Error, Exit, Result};

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    #[command(flatten)]
    pub target: TargetArg,
}

pub async fn run(args: EvidenceArgs, _ctx: &Ctx) -> Result<Exit> {
    args.target.parse()?;
    Err(Error::NotYetAvailable("evidence"))
}
