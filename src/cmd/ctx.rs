//! What every command runs with: the global flags, the output streams and their styles,
//! the progress surface, the clock, the interrupt signal and a lazily connected cluster.
//!
//! Output streams and the clock are injected so tests get deterministic tables and timestamps.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::prometheus::Prometheus;
use crate::report::Report;
use crate::ui::{Styles, Ui};

use super::GlobalArgs;

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
            .get_or_try_init(|| async {
                crate::kube::connect(&self.global.connect_options()).await
            })
            .await
    }

    /// The cluster, if a command connected to it (for wording an error after the command).
    pub fn connected_cluster(&self) -> Option<&crate::kube::Cluster> {
        self.cluster.get()
    }

    /// The configuration file, loaded once (`--config`, else `./kubectl-posthog.yaml` if present).
    pub fn config(&self) -> Result<&Config> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let loaded = Config::load(self.global.config.as_deref())?;
        Ok(self.config.get_or_init(|| loaded))
    }

    /// The one Prometheus every command reads, configured once: `flag` (the command's
    /// `--prometheus-url`), else `$PROMETHEUS_URL`, else `command_key` (a command's own config
    /// key), else `prometheus.url`; credentials and timeout from the `prometheus:` section.
    /// `None` when no URL is given anywhere.
    pub async fn prometheus(
        &self,
        flag: Option<&str>,
        command_key: Option<&str>,
    ) -> Result<Option<Prometheus>> {
        let config = &self.config()?.prometheus;
        let env = std::env::var(crate::prometheus::URL_ENV).ok();
        let Some(url) = crate::prometheus::choose_url(flag, env.as_deref(), command_key, config)
        else {
            return Ok(None);
        };
        let cluster = match config.reads_a_secret() {
            true => Some(self.cluster().await?),
            false => None,
        };
        let auth =
            crate::prometheus::resolve_auth(config, cluster, &|k| std::env::var(k).ok()).await?;
        Ok(Some(Prometheus::new(&url, &auth, config.timeout()?)?))
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

    /// Writes the report to stdout in the `-o` format.
    pub fn show(&self, report: &Report) -> Result<()> {
        self.write_stdout(&crate::render::render(
            report,
            self.global.output,
            &self.out_styles,
        ))
    }
}
