//! Progress on stderr: indicatif bars when stderr is a terminal and the output is a table,
//! plain event lines otherwise, and nothing drawn under `CI=true`, `--no-progress` or JSON/YAML.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Styles;

/// The progress surface of one command run.
#[derive(Clone)]
pub struct Ui {
    draw: bool,
    /// Bars are drawn on stderr's terminal (not on a test's in-memory one).
    on_stderr: bool,
    /// Plain event lines go to stderr when bars are not drawn; tests and `--quiet` use a sink.
    events_to_stderr: bool,
    multi: MultiProgress,
    pub styles: Styles,
}

impl Ui {
    /// Bars are drawn only for people: a terminal on stderr, table output, not CI, not `--no-progress`.
    pub fn should_draw(
        no_progress: bool,
        table_output: bool,
        stderr_is_terminal: bool,
        ci: bool,
    ) -> bool {
        !no_progress && table_output && stderr_is_terminal && !ci
    }

    pub fn new(draw: bool, styles: Styles) -> Self {
        let target = if draw {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        Ui {
            draw,
            on_stderr: draw,
            events_to_stderr: true,
            multi: MultiProgress::with_draw_target(target),
            styles,
        }
    }

    /// A surface that draws on `term` as it would on a terminal: the live view's frames, in tests.
    pub fn drawing_to(term: Box<dyn indicatif::TermLike>, styles: Styles) -> Self {
        Ui {
            draw: true,
            on_stderr: false,
            events_to_stderr: false,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::term_like(term)),
            styles,
        }
    }

    /// A surface that draws nothing and prints nothing (library use, tests).
    pub fn silent() -> Self {
        let mut ui = Ui::new(false, Styles::plain());
        ui.events_to_stderr = false;
        ui
    }

    pub fn is_drawing(&self) -> bool {
        self.draw
    }

    /// A bar counting towards `len`, e.g. ready replicas out of desired.
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        let style =
            ProgressStyle::with_template("{prefix:>12} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        self.styled(len, prefix, style)
    }

    /// A bar drawn in `style` from its first frame (a style set after adding the bar shows only
    /// at the bar's next change).
    pub fn styled(&self, len: u64, prefix: &str, style: ProgressStyle) -> ProgressBar {
        if !self.draw {
            return ProgressBar::hidden().with_prefix(prefix.to_string());
        }
        // Every live view: a ^C echoed into the last column would wrap the cursor and leave the
        // next redraw's top line in the scrollback (restored on exit).
        if self.on_stderr {
            super::terminal::quiet_control_echo();
        }
        self.multi.add(
            ProgressBar::new(len)
                .with_style(style)
                .with_prefix(prefix.to_string()),
        )
    }

    /// A spinner with a message, for waits of unknown length.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.draw {
            return ProgressBar::hidden();
        }
        if self.on_stderr {
            super::terminal::quiet_control_echo();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A line of text kept above the bars while drawing, or one plain stderr line otherwise.
    pub fn event(&self, line: &str) {
        if self.draw {
            // Printing above the bars can only fail when the terminal went away.
            let _ = self.multi.println(line);
        } else if self.events_to_stderr {
            // A closed stderr (a pipe whose reader went away) must not abort the command.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_for_a_person_at_a_terminal() {
        assert!(Ui::should_draw(false, true, true, false));
        assert!(!Ui::should_draw(true, true, true, false), "--no-progress");
        assert!(!Ui::should_draw(false, false, true, false), "json");
        assert!(!Ui::should_draw(false, false, true, false), "yaml");
        assert!(!Ui::should_draw(false, true, false, false), "not a tty");
        assert!(!Ui::should_draw(false, true, true, true), "CI=true");
    }

    #[test]
    fn hidden_bars_do_not_draw() {
        let ui = Ui::silent();
        assert!(ui.bar(3, "ready").is_hidden());
        assert!(ui.spinner("waiting").is_hidden());
    }
}
