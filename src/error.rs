//! The one error type every command returns, and the one place exit codes are decided.
//!
//! Library modules keep their own `thiserror` enums and convert into [`Error`] with a category
//! chosen by what the user can do about it: fix their input (2), fix or wait for the cluster or a
//! remote service (3). "The check said no" is not an error: it is a report whose verdict fails (1).

use std::process::ExitCode;

use crate::report::{Incomplete, Report, VerdictResult};

/// The documented exit-code contract (see `--help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The checklist passed, the canary was promoted, the rollback completed.
    Success,
    /// The verdict failed: blocking findings, an aborted canary, a failed rollout.
    VerdictFailed,
    /// Usage, configuration or input error.
    Usage,
    /// The cluster or a remote service failed or was unreachable.
    Unavailable,
    /// Interrupted by SIGINT or SIGTERM (after any safe abort).
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::VerdictFailed => 1,
            Exit::Usage => 2,
            Exit::Unavailable => 3,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// What went wrong, as one line that names the thing and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments.
    #[error("{0}")]
    Usage(String),
    /// A configuration file, kubeconfig or manifest the user supplied is wrong.
    #[error("{0}")]
    Input(String),
    /// The Kubernetes API failed, refused or could not be reached.
    #[error("{0}")]
    Cluster(String),
    /// PostHog, Prometheus, GitHub or another remote service failed or could not be reached.
    #[error("{0}")]
    Remote(String),
    /// Writing the result (stdout, a bundle) failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The user pressed Ctrl-C or the job was cancelled.
    #[error("interrupted")]
    Interrupted,
    /// Another process took over what this one was doing (a canary's Lease): it stopped, and
    /// the message says who holds it now and in what state. Not success, not an outage: exit 1.
    #[error("{0}")]
    Superseded(String),
}

/// How much of a value the user gave is quoted back in a message.
const SHOWN_INPUT_CHARS: usize = 80;
/// The longest error line printed; anything longer is cut (a message quoting a 100 KB input or a
/// remote's whole answer would otherwise be printed whole).
const MAX_MESSAGE_CHARS: usize = 1000;

/// A value the user gave, quoted for a message: `"deployment/aaaa…" (100007 bytes)` when long,
/// control characters escaped, so the message stays one readable line.
pub fn shown_input(raw: &str) -> String {
    if raw.chars().count() <= SHOWN_INPUT_CHARS {
        return format!("{raw:?}");
    }
    let head: String = raw.chars().take(SHOWN_INPUT_CHARS).collect();
    format!("{:?} ({} bytes)", format!("{head}…"), raw.len())
}

impl Error {
    /// The message as it is printed: one line (newlines and control characters escaped), at most
    /// [`MAX_MESSAGE_CHARS`] long, with credentials redacted as everywhere else.
    pub fn one_line(&self) -> String {
        let text = self.to_string();
        let (text, _) = crate::redact::Redactor::patterns_only().redact_str(&text);
        let mut out = String::new();
        for (i, c) in text.chars().enumerate() {
            if i == MAX_MESSAGE_CHARS {
                out.push_str(&format!("… ({} bytes)", text.len()));
                break;
            }
            match c {
                '\n' | '\r' | '\t' => out.push(' '),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        out
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) | Error::Input(_) => Exit::Usage,
            Error::Cluster(_) | Error::Remote(_) => Exit::Unavailable,
            // A result we could not write is as good as a result we could not produce.
            Error::Io { .. } => Exit::Unavailable,
            Error::Interrupted => Exit::Interrupted,
            Error::Superseded(_) => Exit::VerdictFailed,
        }
    }

    /// The reader of stdout went away (`| head`): nothing to tell anyone.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The exit code of a run: the one function that decides it. A report (`None` when the command
/// wrote its own output) exits by its verdict, or by why it stopped early; an error by its kind.
pub fn exit_code(result: &Result<Option<Report>>) -> Exit {
    match result {
        Err(error) => error.exit(),
        Ok(None) => Exit::Success,
        Ok(Some(report)) => report_exit(report),
    }
}

/// The exit code a report stands for (the demo checks each step's with it).
pub fn report_exit(report: &Report) -> Exit {
    match report.verdict.incomplete {
        Some(Incomplete::Interrupted) => Exit::Interrupted,
        Some(Incomplete::Unavailable) => Exit::Unavailable,
        Some(Incomplete::Input) => Exit::Usage,
        None => match report.verdict.result {
            VerdictResult::Fail => Exit::VerdictFailed,
            VerdictResult::Pass | VerdictResult::Warn => Exit::Success,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_documented_contract() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::VerdictFailed.code(), 1);
        assert_eq!(Error::Usage("x".into()).exit().code(), 2);
        assert_eq!(Error::Input("x".into()).exit().code(), 2);
        assert_eq!(Error::Cluster("x".into()).exit().code(), 3);
        assert_eq!(Error::Remote("x".into()).exit().code(), 3);
        assert_eq!(Error::Interrupted.exit().code(), 130);
    }
}
