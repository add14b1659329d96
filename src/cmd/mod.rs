//! One module per subcommand, each owning its `#[derive(Args)]` struct and `run`.

pub mod canary;
pub mod completion;
pub mod demo;
pub mod evidence;
pub mod preflight;
pub mod rollback;
pub mod triage;
