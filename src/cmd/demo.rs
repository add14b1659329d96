//! `kubectl posthog demo`: not built yet; it needs the simulated cluster.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Error, Exit, Result};

#[derive(Debug, Args)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs, _ctx: &Ctx) -> Result<Exit> {
    Err(Error::NotYetAvailable("demo"))
}
