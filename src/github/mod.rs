//! GitHub Actions mode: step summary, outputs, annotations and the sticky PR comment.
//!
//! `publish::publish` is called once per run with the command's report (from `crate::run`); the pieces are
//! plain data and pure functions (`env`, `event`, `workflow`, `comment`) around one client (`api`)
//! and the upsert algorithm (`sticky`).

pub mod api;
pub mod comment;
pub mod env;
pub mod event;
pub mod publish;
pub mod sticky;
pub mod workflow;

pub use env::GithubEnv;
pub use publish::{PublishOptions, Published, publish};
