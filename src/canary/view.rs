//! What a person watching a canary sees on stderr: a multi-line live view on a terminal (the
//! step bar, the pause countdown, canary/stable ready counts, each metric's latest value against
//! its threshold, coloured), or one plain line per event otherwise (CI logs, pipes).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::analysis::{Reading, ReadingStatus};
use super::metrics::MetricSpec;
use super::plan::CanaryStep;
use crate::ui::{Styles, Ui};

#[derive(Clone)]
pub struct LiveView {
    ui: Ui,
    styles: Styles,
    steps: ProgressBar,
    pause: ProgressBar,
    pods: ProgressBar,
    metrics: Vec<(String, ProgressBar)>,
    /// The last ready counts known of each track, so a caller that knows only one side never
    /// draws a false zero for the other.
    known: std::sync::Arc<std::sync::Mutex<(Option<Ready>, Option<Ready>)>>,
}

/// Ready pods out of those wanted.
pub type Ready = (u32, u32);

fn line_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>14} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>14} [{bar:30.cyan/blue}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl LiveView {
    pub fn new(ui: &Ui, total_steps: usize, metrics: &[MetricSpec]) -> Self {
        let steps = ui.styled(total_steps as u64, "step", bar_style());
        let pause = ui.styled(1, "pause", bar_style());
        let pods = ui.styled(0, "pods", line_style());
        let metrics = metrics
            .iter()
            .map(|m| {
                let bar = ui.styled(0, &m.id, line_style());
                bar.set_message("waiting for the first reading");
                (m.id.clone(), bar)
            })
            .collect();
        steps.set_message("reading the cluster…");
        pause.set_message("starts once the step's pods are ready");
        pods.set_message(pods_text(None, None));
        LiveView {
            ui: ui.clone(),
            styles: ui.styles,
            steps,
            pause,
            pods,
            metrics,
            known: Default::default(),
        }
    }

    /// A line above the bars on a terminal, a plain stderr line otherwise.
    pub fn event(&self, line: &str) {
        self.ui.event(line);
    }

    pub fn step(&self, step: &CanaryStep, total: usize) {
        self.steps
            .set_position(step.number.saturating_sub(1) as u64);
        let text = step_text(step, total);
        self.steps.set_message(text.clone());
        self.event(&text);
    }

    /// The ready counts; `None` for a side this caller did not read (the last known stays).
    pub fn pods(&self, canary: Option<Ready>, stable: Option<Ready>) {
        let text = match self.known.lock() {
            Ok(mut known) => {
                known.0 = canary.or(known.0);
                known.1 = stable.or(known.1);
                pods_text(known.0, known.1)
            }
            Err(_) => pods_text(canary, stable),
        };
        self.pods.set_message(text);
    }

    /// The countdown: `elapsed` of `total`, or an indefinite wait.
    pub fn pause(&self, elapsed: Duration, total: Option<Duration>, note: Option<&str>) {
        match total {
            Some(total) => {
                self.pause.set_prefix("pause");
                self.pause.set_length(total.as_secs().max(1));
                self.pause
                    .set_position(elapsed.as_secs().min(total.as_secs()));
                let mut text = countdown_text(elapsed, total);
                if let Some(note) = note {
                    text = format!("{text} · {note}");
                }
                self.pause.set_message(text);
            }
            None => {
                self.pause.set_prefix("pause");
                self.pause.set_length(1);
                self.pause.set_position(0);
                let text = note.unwrap_or("waiting for `kubectl posthog canary promote`");
                self.pause.set_message(format!(
                    "{} elapsed · {text}",
                    humantime::format_duration(Duration::from_secs(elapsed.as_secs()))
                ));
            }
        }
    }

    /// Waiting for pods (scaling, a rollout): the bar says so instead of `pause`.
    pub fn scaling(&self, text: &str) {
        let label = if text.contains("rollout") || text.contains("rolling") {
            "rollout"
        } else {
            "scaling"
        };
        self.pause.set_prefix(label);
        self.pause.set_length(1);
        self.pause.set_position(0);
        self.pause.set_message(text.to_string());
    }

    /// Each metric's latest value against its threshold; one summary line when not drawing.
    pub fn readings(&self, round: usize, weight: u32, readings: &[Reading]) {
        for (metric, text) in reading_lines(readings, &self.styles) {
            if let Some((_, bar)) = self.metrics.iter().find(|(id, _)| *id == metric) {
                bar.set_message(text);
            }
        }
        if !self.ui.is_drawing() {
            self.event(&readings_line(round, weight, readings));
        }
    }

    pub fn finish(&self) {
        for bar in [&self.steps, &self.pause, &self.pods] {
            bar.finish_and_clear();
        }
        for (_, bar) in &self.metrics {
            bar.finish_and_clear();
        }
        crate::ui::terminal::restore();
    }
}

fn status_word(status: ReadingStatus) -> &'static str {
    match status {
        ReadingStatus::Pass => "ok",
        ReadingStatus::Breach => "BREACH",
        ReadingStatus::Inconclusive => "inconclusive",
    }
}

pub fn step_text(step: &CanaryStep, total: usize) -> String {
    if step.is_promotion() {
        return format!(
            "step {}/{total}: 100% — promoting: the stable takes the new template",
            step.number
        );
    }
    format!(
        "step {}/{total}: {}% — {} canary + {} stable ({:.1}% of pods), pause {}",
        step.number,
        step.weight,
        step.canary_replicas,
        step.stable_replicas,
        step.actual_share(),
        step.pause_text()
    )
}

/// `canary 1/1 ready · stable 3/3 ready`; a side not read yet says `reading…`, never a zero.
pub fn pods_text(canary: Option<Ready>, stable: Option<Ready>) -> String {
    let side = |name: &str, ready: Option<Ready>| match ready {
        Some((ready, want)) => format!("{name} {ready}/{want} ready"),
        None => format!("{name} reading…"),
    };
    format!("{} · {}", side("canary", canary), side("stable", stable))
}

/// One round as a line for logs: each metric's value; readings that failed for the same reason
/// (Prometheus down: every query fails alike) share one mention of it.
pub fn readings_line(round: usize, weight: u32, readings: &[Reading]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut shared: Vec<(String, Vec<&str>)> = Vec::new();
    for r in readings {
        match (&r.value, &r.reason) {
            (None, Some(reason)) => match shared.iter_mut().find(|(why, _)| why == reason) {
                Some((_, metrics)) => metrics.push(&r.metric),
                None => shared.push((reason.clone(), vec![&r.metric])),
            },
            _ => parts.push(format!(
                "{} {} {}",
                r.metric,
                r.describe(),
                status_word(r.status)
            )),
        }
    }
    for (reason, metrics) in shared {
        parts.push(format!(
            "{} no data ({reason}) inconclusive",
            metrics.join(", ")
        ));
    }
    format!("analysis #{round} at {weight}%: {}", parts.join("; "))
}

pub fn countdown_text(elapsed: Duration, total: Duration) -> String {
    let left = total.saturating_sub(elapsed);
    format!(
        "{} left of {}",
        humantime::format_duration(Duration::from_secs(left.as_secs())),
        humantime::format_duration(Duration::from_secs(total.as_secs()))
    )
}

/// Each metric's line of the drawn view. A failure shared with a metric above (Prometheus down)
/// is named once; the lines below say `as <that metric>`.
pub fn reading_lines<'a>(readings: &'a [Reading], styles: &Styles) -> Vec<(&'a str, String)> {
    let mut first_with: Vec<(&str, &str)> = Vec::new();
    readings
        .iter()
        .map(|r| {
            let shared = match (&r.value, &r.reason) {
                (None, Some(reason)) => match first_with.iter().find(|(why, _)| why == reason) {
                    Some((_, first)) => Some(*first),
                    None => {
                        first_with.push((reason, &r.metric));
                        None
                    }
                },
                _ => None,
            };
            let text = match shared {
                Some(first) => format!(
                    "{} no data (as {first})  {}",
                    styles.warn("?"),
                    styles.severity(r.severity)
                ),
                None => reading_text(r, styles),
            };
            (r.metric.as_str(), text)
        })
        .collect()
}

pub fn reading_text(reading: &Reading, styles: &Styles) -> String {
    let mark = match reading.status {
        ReadingStatus::Pass => styles.good("✔ ok    "),
        ReadingStatus::Breach => styles.bad("✘ BREACH"),
        ReadingStatus::Inconclusive => styles.warn("?"),
    };
    format!(
        "{mark} {}  {}",
        reading.describe(),
        styles.severity(reading.severity)
    )
}

#[cfg(test)]
mod frames;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::plan::{Pause, plan_steps};
    use crate::report::Severity;
    use crate::ui::Ui;

    #[test]
    fn step_lines_name_weights_counts_and_pauses() {
        let steps = plan_steps(
            10,
            &[10, 50, 100],
            &[Pause::For(Duration::from_secs(600)), Pause::UntilPromoted],
            true,
        );
        assert_eq!(
            step_text(&steps[0], 3),
            "step 1/3: 10% — 1 canary + 9 stable (10.0% of pods), pause 10m"
        );
        assert!(step_text(&steps[1], 3).ends_with("pause until `canary promote`"));
        assert!(step_text(&steps[2], 3).contains("promoting"));
    }

    #[test]
    fn countdown_and_pods() {
        assert_eq!(
            countdown_text(Duration::from_secs(130), Duration::from_secs(600)),
            "7m 50s left of 10m"
        );
        assert_eq!(
            pods_text(Some((1, 1)), Some((9, 9))),
            "canary 1/1 ready · stable 9/9 ready"
        );
    }

    #[test]
    fn readings_are_coloured_only_when_styles_allow() {
        let reading = Reading {
            metric: "errors-5xx".into(),
            severity: Severity::P1,
            status: ReadingStatus::Breach,
            value: Some(42.0),
            threshold: 10.0,
            unit: "/min".into(),
            baseline: None,
            reason: None,
            source_failed: false,
            query: "q".into(),
            baseline_query: None,
            at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert_eq!(
            reading_text(&reading, &Styles::plain()),
            "✘ BREACH 42/min > 10/min  P1"
        );
        assert!(reading_text(&reading, &Styles::colored()).contains('\x1b'));
    }

    fn inconclusive(metric: &str, reason: &str) -> Reading {
        Reading {
            metric: metric.into(),
            severity: Severity::P2,
            status: ReadingStatus::Inconclusive,
            value: None,
            threshold: 1.0,
            unit: "/min".into(),
            baseline: None,
            reason: Some(reason.into()),
            source_failed: true,
            query: "q".into(),
            baseline_query: None,
            at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Issue 15, view item 1: the first seconds of a canary (and of a resume) read only the
    /// canary's rollout; the stable was drawn `0/3 ready` while it had 3/3.
    #[test]
    fn a_side_not_read_shows_what_is_known_never_a_false_zero() {
        let view = LiveView::new(&Ui::silent(), 3, &[]);
        assert_eq!(view.pods.message(), "canary reading… · stable reading…");
        view.pods(None, Some((3, 3)));
        assert_eq!(view.pods.message(), "canary reading… · stable 3/3 ready");
        // The canary's rollout watch knows only the canary.
        view.pods(Some((0, 1)), None);
        assert_eq!(view.pods.message(), "canary 0/1 ready · stable 3/3 ready");
        view.pods(Some((1, 1)), Some((2, 3)));
        assert_eq!(view.pods.message(), "canary 1/1 ready · stable 2/3 ready");
    }

    /// View item 4: during the promotion the bar said `pause` over `stable rollout: 1/3 updated`.
    #[test]
    fn the_progress_bar_is_labelled_for_what_it_shows() {
        let view = LiveView::new(&Ui::silent(), 3, &[]);
        view.scaling("stable rollout: 1/3 updated");
        assert_eq!(view.pause.prefix(), "rollout");
        view.scaling("waiting for 1 canary pod(s) to be ready");
        assert_eq!(view.pause.prefix(), "scaling");
        view.pause(Duration::from_secs(5), Some(Duration::from_secs(60)), None);
        assert_eq!(view.pause.prefix(), "pause");
        assert_eq!(view.pause.message(), "55s left of 1m");
    }

    /// View item 4: with Prometheus down the same connection error was repeated once per metric.
    #[test]
    fn one_failure_shared_by_every_metric_is_said_once() {
        let down = "cannot reach http://prom:9090: connection refused";
        let readings = [
            inconclusive("errors-5xx", down),
            inconclusive("errors-429", down),
            inconclusive("latency-p95", down),
            inconclusive("auth-errors", down),
        ];
        let line = readings_line(3, 10, &readings);
        assert_eq!(line.matches(down).count(), 1, "{line}");
        assert_eq!(
            line,
            format!(
                "analysis #3 at 10%: errors-5xx, errors-429, latency-p95, auth-errors no data ({down}) inconclusive"
            )
        );
    }
}
