//! What every command runs with: the global flags, the output streams and their styles,
//! the progress surface, the clock, the interrupt signal and a lazily connected cluster.
//!
//! Output streams and the clock are injected so tests get deterministic tables and timestamps.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, watch};

use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::Config;
use crate::error::{Error, Exit, Result};
use crate::report::{self, Report, VerdictResult};
use crate::ui::{Styles, Ui};

/// The time source; tests pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> jiff::Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// Set by SIGINT/SIGTERM. A command that must clean up (a canary) calls
/// [`Interrupt::take_over`] and watches [`Interrupt::wait`]; every other command is simply
/// cancelled and the process exits 130.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<bool>,
    taken_over: Arc<AtomicBool>,
}

impl Interrupt {
    pub fn new() -> (watch::Sender<bool>, Interrupt) {
        let (tx, rx) = watch::channel(false);
        (
            tx,
            Interrupt {
                rx,
                taken_over: Arc::new(AtomicBool::new(false)),
            },
        )
    }

    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once an interrupt arrived (never, if the sender is gone without one).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The command handles interrupts itself while the returned guard lives (it will return
    /// `Error::Interrupted` after its cleanup); dropping the guard hands them back, so a later
    /// step of the same run (the demo's) is cancelled normally again.
    #[must_use = "interrupts are handed back when the guard is dropped"]
    pub fn take_over(&self) -> InterruptGuard {
        self.taken_over.store(true, Ordering::SeqCst);
        InterruptGuard {
            taken_over: self.taken_over.clone(),
        }
    }

    pub fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::SeqCst)
    }
}

/// Returned by [`Interrupt::take_over`]; hands interrupt handling back when dropped.
pub struct InterruptGuard {
    taken_over: Arc<AtomicBool>,
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        self.taken_over.store(false, Ordering::SeqCst);
    }
}

pub struct Ctx {
    pub global: GlobalArgs,
    pub ui: Ui,
    /// Styles for stdout, decided separately from stderr's (one may be piped, the other not).
    pub out_styles: Styles,
    pub clock: Arc<dyn Clock>,
    pub interrupt: Interrupt,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    cluster: OnceCell<crate::kube::Cluster>,
    config: std::sync::OnceLock<Config>,
}

impl Ctx {
    pub fn new(
        global: GlobalArgs,
        out: Box<dyn Write + Send>,
        out_styles: Styles,
        ui: Ui,
        clock: Arc<dyn Clock>,
        interrupt: Interrupt,
    ) -> Self {
        Ctx {
            global,
            ui,
            out_styles,
            clock,
            interrupt,
            out: Arc::new(Mutex::new(out)),
            cluster: OnceCell::new(),
            config: std::sync::OnceLock::new(),
        }
    }

    /// A context for another target cluster or flags (the demo points commands at its simulator),
    /// sharing stdout, progress, clock and interrupt with this one.
    pub fn with_global(&self, global: GlobalArgs) -> Ctx {
        Ctx {
            global,
            ui: self.ui.clone(),
            out_styles: self.out_styles,
            clock: self.clock.clone(),
            interrupt: self.interrupt.clone(),
            out: self.out.clone(),
            cluster: OnceCell::new(),
            config: std::sync::OnceLock::new(),
        }
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Connects on first use, so commands that work offline never need a kubeconfig.
    pub async fn cluster(&self) -> Result<&crate::kube::Cluster> {
        self.cluster
            .get_or_try_init(|| crate::kube::connect(&self.global))
            .await
    }

    /// The configuration file, loaded once (`--config`, else `./kubectl-posthog.yaml` if present).
    pub fn config(&self) -> Result<&Config> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let loaded = Config::load(self.global.config.as_deref())?;
        Ok(self.config.get_or_init(|| loaded))
    }

    pub fn write_stdout(&self, text: &str) -> Result<()> {
        let mut out = self.out.lock().map_err(|_| {
            Error::io(
                "write to stdout",
                std::io::Error::other("stdout lock poisoned"),
            )
        })?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("write to stdout", e))
    }

    /// Renders the report in the `-o` format to stdout and maps its verdict to the exit code.
    /// In GitHub Actions mode it then writes the summary, outputs, annotations and comments
    /// (`crate::github::publish`); those never change the exit code.
    pub fn emit(&self, report: &Report) -> Result<Exit> {
        let text = match self.global.output {
            OutputFormat::Table => report::render_table(report, &self.out_styles),
            OutputFormat::Json => format!("{}\n", report.to_json()),
            OutputFormat::Yaml => report.to_yaml(),
            OutputFormat::Markdown => report::render_markdown(report),
        };
        self.write_stdout(&text)?;
        if self.global.github.enabled() {
            let github_env = crate::github::GithubEnv::from_process();
            let cwd =
                std::env::current_dir().map_err(|e| Error::io("read the working directory", e))?;
            crate::github::publish(
                report,
                &self.global.github,
                &github_env,
                &cwd,
                &mut std::io::stderr(),
            )?;
        }
        Ok(match report.verdict.result {
            VerdictResult::Fail => Exit::VerdictFailed,
            VerdictResult::Pass | VerdictResult::Warn => Exit::Success,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_over_lasts_as_long_as_its_guard() {
        let (_tx, interrupt) = Interrupt::new();
        assert!(!interrupt.is_taken_over());
        {
            let _guard = interrupt.take_over();
            assert!(interrupt.clone().is_taken_over(), "shared by clones");
        }
        assert!(!interrupt.is_taken_over(), "released on drop");
    }
}
