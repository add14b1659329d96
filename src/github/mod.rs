//! GitHub Actions mode: step summary, outputs, annotations, the sticky comment, the check run and
//! the code-scanning upload.
//!
//! `publish::publish` is called once per run with the command's report (from `crate::run`); the
//! pieces are plain data and pure functions (`env`, `event`, `workflow`, `comment`, `rate`) around
//! one client (`api`), the token's identity (`identity`), the upsert algorithm (`sticky`) and the
//! writes (`comments`, `check_run`, `code_scanning`), which share `job`.

pub mod api;
pub mod check_run;
pub mod code_scanning;
pub mod comment;
pub mod comments;
pub mod env;
pub mod event;
pub mod identity;
pub mod job;
pub mod options;
pub mod publish;
pub mod rate;
pub mod sticky;
pub mod workflow;

pub use env::GithubEnv;
pub use options::PublishOptions;
pub use publish::{Published, publish};
pub use sticky::CommentMode;
