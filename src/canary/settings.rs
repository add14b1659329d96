//! Everything a canary run is configured with, resolved once from flags, the saved state (on
//! `--resume`) and the `canary:` config section; and the metrics bound to this canary's pods,
//! validated against the metric source before anything changes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::analysis::{Comparison, Policy};
use super::metrics::{
    MetricSpec, Naming, TemplateVars, Track, canary_pods_pattern, pod_name_pattern,
};
use super::plan::CanaryStep;
use super::source::{MetricSource, SourceError, SourceQuery};

/// What Ctrl-C or SIGTERM does to a running canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnInterrupt {
    /// Restore the stable at full capacity and remove the canary, then exit 130.
    #[default]
    Abort,
    /// Leave the canary where it is, for `canary --resume` or `canary abort` later.
    Leave,
}

/// What the driver does when someone else changes the stable mid-canary (`kubectl set image`,
/// `kubectl scale`, an edit): a spec it did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Stop progressing and say so; `canary promote` goes on, `canary abort` restores.
    #[default]
    Hold,
    /// Abort: the stable back at full capacity (never below what it was scaled to), canary removed.
    Abort,
}

/// What the driver does when the cluster fails it for good (an API error that retries did not
/// get past) mid-canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Best effort: restore the stable and remove the canary, as Ctrl-C does, so a canary is
    /// never left serving with nobody watching it.
    #[default]
    Abort,
    /// Leave the canary where it is, for `canary --resume` or `canary abort`.
    Leave,
}

/// A resolved canary run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub steps: Vec<CanaryStep>,
    pub interval: Duration,
    pub window: Duration,
    pub policy: Policy,
    pub comparison: Option<Comparison>,
    pub metrics: Vec<MetricSpec>,
    pub naming: Naming,
    pub max_restarts: u32,
    pub on_interrupt: OnInterrupt,
    pub on_conflict: OnConflict,
    pub on_error: OnError,
    /// How long the canary's pods may take to become ready at each step.
    pub ready_timeout: Duration,
    /// How long to wait for the stable's rollout (promotion) or its restoration (abort).
    pub timeout: Duration,
    /// How often the P1 guard reads the P1 metrics between analysis rounds (`--guard-interval`,
    /// else Prometheus' scrape interval); no guard when unknown or not shorter than `interval`.
    pub guard_interval: Option<Duration>,
}

/// The options a `--resume` must reuse, saved in the state annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedOptions {
    pub interval_secs: u64,
    pub window_secs: u64,
    pub policy: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    pub max_restarts: u32,
    pub on_interrupt: OnInterrupt,
    #[serde(default)]
    pub on_conflict: OnConflict,
    #[serde(default)]
    pub on_error: OnError,
    pub ready_timeout_secs: u64,
    pub timeout_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_interval_secs: Option<f64>,
}

impl Settings {
    pub fn saved(&self, prometheus_url: Option<&str>) -> SavedOptions {
        SavedOptions {
            interval_secs: self.interval.as_secs(),
            window_secs: self.window.as_secs(),
            policy: self.policy,
            comparison: self.comparison,
            max_restarts: self.max_restarts,
            on_interrupt: self.on_interrupt,
            on_conflict: self.on_conflict,
            on_error: self.on_error,
            ready_timeout_secs: self.ready_timeout.as_secs(),
            timeout_secs: self.timeout.as_secs(),
            prometheus_url: prometheus_url.map(str::to_string),
            guard_interval_secs: self.guard_interval.map(|d| d.as_secs_f64()),
        }
    }

    /// The P1 guard's interval when it runs: known and shorter than the analysis interval.
    pub fn guard(&self) -> Option<Duration> {
        self.guard_interval
            .filter(|g| *g < self.interval)
            .map(|g| g.max(Duration::from_millis(500)))
    }

    /// Analysis and polling cadence: the interval, but health and commands are looked at at
    /// least every 5 s.
    pub fn tick(&self) -> Duration {
        self.interval
            .min(Duration::from_secs(5))
            .max(Duration::from_millis(200))
    }
}

/// A metric with its queries filled in for this canary's and this stable's pods.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundMetric {
    pub spec: MetricSpec,
    pub unit: String,
    pub canary: SourceQuery,
    pub stable: SourceQuery,
}

/// Fills in every metric's template for both tracks; a template error names the metric.
/// `canary_pods` names the canary's pods once they exist (see [`canary_pods_pattern`]).
pub fn bind_metrics(
    settings: &Settings,
    namespace: &str,
    stable: &str,
    canary: &str,
    canary_pods: &[String],
) -> Result<Vec<BoundMetric>, String> {
    let compare = settings.comparison.is_some();
    let canary_pattern = canary_pods_pattern(canary, canary_pods);
    let stable_pattern = pod_name_pattern(stable);
    settings
        .metrics
        .iter()
        .map(|spec| {
            let (template, measure, unit) = spec.for_mode(compare);
            let query = |track: Track| -> Result<SourceQuery, String> {
                let pods = match track {
                    Track::Canary => &canary_pattern,
                    Track::Stable => &stable_pattern,
                };
                let vars = TemplateVars::new(
                    &settings.naming,
                    namespace,
                    (stable, canary),
                    track,
                    pods,
                    settings.window,
                );
                let promql = vars
                    .fill(template)
                    .map_err(|e| format!("canary.metrics.{}: {e}", spec.id))?;
                Ok(SourceQuery {
                    metric: spec.id.clone(),
                    promql,
                    measure: measure.clone(),
                    track,
                    namespace: namespace.to_string(),
                    pod_pattern: pods.clone(),
                    window: settings.window,
                })
            };
            Ok(BoundMetric {
                spec: spec.clone(),
                unit: unit.to_string(),
                canary: query(Track::Canary)?,
                stable: query(Track::Stable)?,
            })
        })
        .collect()
}

/// What validation found that is worth telling, though not fatal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidationNotes {
    /// Metrics whose query returns nothing for the stable's pods: their canary readings will be
    /// inconclusive unless the canary's pods are scraped where the stable's are not.
    pub no_stable_data: Vec<String>,
}

/// Runs every query (both tracks) once against the source before the first change to the
/// cluster. A query the source rejects is fatal (`Invalid`), as is an unreachable source.
pub async fn validate(
    source: &dyn MetricSource,
    bound: &[BoundMetric],
) -> Result<ValidationNotes, SourceError> {
    let checks = bound.iter().map(|b| async move {
        let stable = source.validate(&b.stable).await;
        let canary = source.validate(&b.canary).await;
        (b, stable, canary)
    });
    let mut notes = ValidationNotes::default();
    for (b, stable, canary) in futures::future::join_all(checks).await {
        let label = |e: SourceError| match e {
            SourceError::Invalid(m) => SourceError::Invalid(format!(
                "metric {} query {} is not valid: {m}",
                b.spec.id, b.canary.promql
            )),
            SourceError::Unavailable(m) => SourceError::Unavailable(m),
        };
        canary.map_err(label)?;
        if !stable.map_err(label)?.has_data {
            notes.no_stable_data.push(b.spec.id.clone());
        }
    }
    Ok(notes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::canary::metrics::default_metrics;

    pub(crate) fn settings() -> Settings {
        Settings {
            steps: Vec::new(),
            interval: Duration::from_secs(30),
            window: Duration::from_secs(120),
            policy: Policy::default(),
            comparison: None,
            metrics: default_metrics(),
            naming: Naming::default(),
            max_restarts: 0,
            on_interrupt: OnInterrupt::Abort,
            on_conflict: OnConflict::Hold,
            on_error: OnError::Abort,
            ready_timeout: Duration::from_secs(600),
            timeout: Duration::from_secs(600),
            guard_interval: None,
        }
    }

    #[test]
    fn metrics_bind_to_both_tracks_with_arguments_filled_in() {
        let bound = bind_metrics(&settings(), "prod", "web", "web-canary", &[]).unwrap();
        assert_eq!(bound.len(), 4);
        let errors = &bound[0];
        assert!(
            errors
                .canary
                .promql
                .contains(r#"pod=~"web-canary-[a-z0-9]+-[a-z0-9]+""#)
        );
        assert!(
            errors
                .stable
                .promql
                .contains(r#"pod=~"web-[a-z0-9]+-[a-z0-9]+""#)
        );
        assert!(errors.canary.promql.contains("[120s]"));
        assert_eq!(errors.unit, "/min");
    }

    #[test]
    fn comparison_mode_uses_the_share_queries() {
        let mut s = settings();
        s.comparison = Some(Comparison { factor: 1.5 });
        let bound = bind_metrics(&s, "prod", "web", "web-canary", &[]).unwrap();
        assert_eq!(bound[0].unit, "%");
        assert!(
            bound[0].canary.promql.ends_with("* 100"),
            "{}",
            bound[0].canary.promql
        );
        // p99 has no separate comparison query: milliseconds compare directly.
        assert_eq!(bound[1].unit, "ms");
    }

    #[test]
    fn a_broken_template_names_the_metric() {
        let mut s = settings();
        s.metrics[0].query = "rate(x{ {{podz}} }[5m])".into();
        let err = bind_metrics(&s, "prod", "web", "web-canary", &[]).unwrap_err();
        assert!(
            err.starts_with("canary.metrics.errors-5xx: unknown placeholder {{podz}}"),
            "{err}"
        );
    }

    #[test]
    fn tick_is_bounded() {
        let mut s = settings();
        assert_eq!(s.tick(), Duration::from_secs(5));
        s.interval = Duration::from_secs(1);
        assert_eq!(s.tick(), Duration::from_secs(1));
    }
}
