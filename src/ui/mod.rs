//! What people see on the terminal: colour styles and progress.

mod progress;
mod styles;
pub mod terminal;

pub use progress::Ui;
pub use styles::{ColorChoice, Styles};
