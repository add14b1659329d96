//! GitHub Actions mode: step summary, outputs, annotations and the sticky PR comment.
//!
//! `publish::publish` is the hook `Ctx::emit` calls for every command's report; the pieces are
//! plain data and pure functions (`env`, `event`, `workflow`, `comment`) around one client (`api`)
//! and the upsert algorithm (`sticky`).

pub mod api;
pub mod args;
pub mod comment;
pub mod env;
pub mod event;
pub mod publish;
pub mod sticky;
pub mod workflow;

pub use args::GithubArgs;
pub use env::GithubEnv;
pub use publish::{Published, publish};
