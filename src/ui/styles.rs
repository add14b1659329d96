//! Colour: plain by default, coloured only when the stream is a terminal and `--color`/`NO_COLOR` allow.

use owo_colors::OwoColorize;

use crate::report::{Severity, Status, VerdictResult};

/// `--color`: when to colour the output (`NO_COLOR` in the environment means never for `auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How text is styled on one output stream. `Styles::default()` is plain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Styles {
    pub enabled: bool,
}

impl Styles {
    pub fn plain() -> Self {
        Styles { enabled: false }
    }

    pub fn colored() -> Self {
        Styles { enabled: true }
    }

    /// `--color always` wins over `NO_COLOR` (an explicit flag beats the environment, as no-color.org
    /// asks); `auto` colours a terminal unless `NO_COLOR` is set to anything non-empty or TERM=dumb.
    pub fn decide(
        choice: ColorChoice,
        is_terminal: bool,
        no_color: Option<&str>,
        term: Option<&str>,
    ) -> Self {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
            }
        };
        Styles { enabled }
    }

    pub fn from_env(choice: ColorChoice, is_terminal: bool) -> Self {
        let no_color = std::env::var("NO_COLOR").ok();
        let term = std::env::var("TERM").ok();
        Styles::decide(choice, is_terminal, no_color.as_deref(), term.as_deref())
    }

    fn paint(&self, text: &str, f: impl FnOnce(&str) -> String) -> String {
        if self.enabled {
            f(text)
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(text, |t| t.bold().to_string())
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(text, |t| t.dimmed().to_string())
    }

    pub fn good(&self, text: &str) -> String {
        self.paint(text, |t| t.green().to_string())
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint(text, |t| t.red().bold().to_string())
    }

    pub fn warn(&self, text: &str) -> String {
        self.paint(text, |t| t.yellow().to_string())
    }

    pub fn note(&self, text: &str) -> String {
        self.paint(text, |t| t.cyan().to_string())
    }

    /// A status label padded to a fixed width before colouring, so columns line up either way.
    pub fn status(&self, status: Status) -> String {
        let padded = format!("{:<7}", status.label().to_ascii_uppercase());
        match status {
            Status::Pass => self.good(&padded),
            Status::Fail => self.bad(&padded),
            Status::Warn => self.warn(&padded),
            Status::Manual => self.note(&padded),
            Status::Skipped => self.dim(&padded),
        }
    }

    pub fn severity(&self, severity: Severity) -> String {
        match severity {
            Severity::P1 => self.bad(severity.label()),
            Severity::P2 => self.warn(severity.label()),
            Severity::P3 | Severity::P4 => self.dim(severity.label()),
        }
    }

    pub fn verdict(&self, result: VerdictResult) -> String {
        match result {
            VerdictResult::Pass => self.good(result.label()),
            VerdictResult::Warn => self.warn(result.label()),
            VerdictResult::Fail => self.bad(result.label()),
        }
    }

    /// The leading `error:` of a one-line error message.
    pub fn error_prefix(&self) -> String {
        self.bad("error:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        assert!(Styles::decide(ColorChoice::Auto, true, None, Some("xterm")).enabled);
        assert!(!Styles::decide(ColorChoice::Auto, false, None, Some("xterm")).enabled);
        assert!(!Styles::decide(ColorChoice::Auto, true, Some("1"), Some("xterm")).enabled);
        assert!(!Styles::decide(ColorChoice::Auto, true, None, Some("dumb")).enabled);
        // An empty NO_COLOR does not disable colour (no-color.org).
        assert!(Styles::decide(ColorChoice::Auto, true, Some(""), None).enabled);
    }

    #[test]
    fn explicit_flag_beats_environment() {
        assert!(Styles::decide(ColorChoice::Always, false, Some("1"), None).enabled);
        assert!(!Styles::decide(ColorChoice::Never, true, None, None).enabled);
    }

    #[test]
    fn plain_styles_emit_no_escape_codes() {
        let s = Styles::plain();
        assert_eq!(s.status(Status::Fail), "FAIL   ");
        assert!(!s.bad("x").contains('\x1b'));
        assert!(Styles::colored().bad("x").contains('\x1b'));
    }
}
