//! The live view's frames as a terminal shows them: indicatif draws into an in-memory terminal
//! (vt100), and time is injected — the pause's timers ([`Timers`]) are stepped wake by wake,
//! as the driver's loop steps them, with no sleeping. One test per misleading frame of issue 15.

use std::time::Duration;

use indicatif::InMemoryTerm;

use super::LiveView;
use crate::canary::analysis::{Reading, ReadingStatus};
use crate::canary::metrics::{MetricSpec, default_metrics};
use crate::canary::pause::{Cadence, Timers};
use crate::canary::plan::{Pause, merge_collapsed, plan_steps};
use crate::report::Severity;
use crate::ui::{Styles, Ui};

struct Screen {
    term: InMemoryTerm,
    view: LiveView,
}

impl Screen {
    fn new(total_steps: usize, metrics: &[MetricSpec]) -> Screen {
        let term = InMemoryTerm::new(16, 160);
        let ui = Ui::drawing_to(Box::new(term.clone()), Styles::plain());
        let view = LiveView::new(&ui, total_steps, metrics);
        Screen { term, view }
    }

    /// What the terminal shows now, without the blank rows below the view.
    fn frame(&self) -> String {
        let contents = self.term.contents();
        let lines: Vec<&str> = contents.lines().map(str::trim_end).collect();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        lines[..end].join("\n")
    }

    /// The line whose label (right-aligned in the first column) is `label`.
    fn line(&self, label: &str) -> String {
        self.frame()
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no `{label}` line in\n{}", self.frame()))
            .to_string()
    }
}

fn metrics(ids: &[&str]) -> Vec<MetricSpec> {
    let all = default_metrics();
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|m| m.id == *id)
                .unwrap_or_else(|| panic!("no default metric {id}"))
                .clone()
        })
        .collect()
}

fn reading(metric: &str, severity: Severity, value: Option<f64>, reason: Option<&str>) -> Reading {
    Reading {
        metric: metric.into(),
        severity,
        status: match value {
            Some(v) if v > 10.0 => ReadingStatus::Breach,
            Some(_) => ReadingStatus::Pass,
            None => ReadingStatus::Inconclusive,
        },
        value,
        threshold: 10.0,
        unit: "/min".into(),
        baseline: None,
        reason: reason.map(str::to_string),
        source_failed: reason.is_some(),
        query: "q".into(),
        baseline_query: None,
        at: jiff::Timestamp::UNIX_EPOCH,
    }
}

const SECOND: Duration = Duration::from_secs(1);

/// The default cadence: `--interval 30s`, a tick of 5 s, Prometheus scraping every second and
/// the P1 guard reading at that rate (when a P1 metric is analysed).
fn default_cadence() -> Cadence {
    Cadence {
        interval: Duration::from_secs(30),
        tick: Duration::from_secs(5),
        scrape: Some(SECOND),
        guard: Some(SECOND),
    }
}

/// Item 1: the first seconds of a canary drew `stable 0/3 ready` while the stable had 3/3.
#[test]
fn item_1_the_first_frames_show_what_is_known_never_a_false_zero() {
    let screen = Screen::new(3, &metrics(&["errors-5xx"]));
    let steps = plan_steps(3, &[25, 50, 100], &[Pause::For(60 * SECOND); 2], true);
    assert_eq!(
        screen.line("pods"),
        "          pods canary reading… · stable reading…"
    );
    // The driver announces the stable it read before anything else.
    screen.view.pods(None, Some((3, 3)));
    screen.view.step(&steps[0], 3);
    // The canary's rollout watch knows only the canary.
    screen.view.pods(Some((0, 1)), None);
    assert_eq!(
        screen.frame(),
        "\
step 1/3: 25% — 1 canary + 3 stable (25.0% of pods), pause 1m
          step [                              ] step 1/3: 25% — 1 canary + 3 stable (25.0% of pods), pause 1m
         pause [                              ] starts once the step's pods are ready
          pods canary 0/1 ready · stable 3/3 ready
    errors-5xx waiting for the first reading"
    );
}

/// Item 4: the countdown moved in 5 s jumps (the loop woke only on its 5 s tick), and the first
/// reading came a whole interval (30 s) after the step's pods were ready. The pause's timers are
/// stepped wake by wake for 12 s of injected time; each wake draws a frame.
#[test]
fn item_4_the_countdown_moves_every_second_and_the_first_reading_comes_at_two_scrapes() {
    // No P1 metric, so no guard wakes the loop each second: only the frame timer can.
    let screen = Screen::new(3, &metrics(&["latency-p99", "rate-limited"]));
    let cadence = Cadence {
        guard: None,
        ..default_cadence()
    };
    let pause = 60 * SECOND;
    let mut timers = Timers::start(&cadence, Some(pause), false);
    let mut now = Duration::ZERO;
    let mut countdown = Vec::new();
    let mut first_reading_at = None;
    while now < 12 * SECOND {
        screen.view.pause(now, Some(pause), None);
        countdown.push(screen.line("pause"));
        now = timers.wake(now);
        let due = timers.due(now, &cadence);
        if due.reading && first_reading_at.is_none() {
            first_reading_at = Some(now);
            screen.view.readings(
                1,
                25,
                &[
                    reading("latency-p99", Severity::P2, Some(2.0), None),
                    reading("rate-limited", Severity::P2, Some(0.0), None),
                ],
            );
        }
    }
    countdown.dedup();
    let shown: Vec<&str> = countdown
        .iter()
        .map(|l| l.rsplit("] ").next().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (0..12)
        .map(|s| {
            format!(
                "{} left of 1m",
                humantime::format_duration(pause - s * SECOND)
            )
        })
        .collect();
    assert_eq!(
        shown, expected,
        "one frame per second of the countdown, none skipped"
    );
    assert_eq!(
        countdown[0],
        "         pause [                              ] 1m left of 1m"
    );
    assert_eq!(
        countdown[6],
        "         pause [===>                          ] 54s left of 1m"
    );
    assert_eq!(
        first_reading_at,
        Some(2 * SECOND),
        "two scrape intervals after the pods are ready, not the 30 s interval"
    );
    assert_eq!(
        screen.line("latency-p99"),
        "   latency-p99 ✔ ok     2/min ≤ 10/min  P2"
    );
}

/// Item 4: a late `--resume` reads at once; an indefinite pause still redraws every second.
#[test]
fn item_4_a_late_resume_reads_at_once_and_an_open_pause_still_ticks() {
    let cadence = default_cadence();
    let mut late = Timers::start(&cadence, Some(Duration::ZERO), true);
    assert_eq!(late.wake(Duration::ZERO), Duration::ZERO);
    assert!(late.due(Duration::ZERO, &cadence).reading);

    let screen = Screen::new(3, &[]);
    let mut open = Timers::start(&cadence, None, false);
    let mut now = Duration::ZERO;
    let mut frames = Vec::new();
    while now < 4 * SECOND {
        screen.view.pause(now, None, None);
        frames.push(screen.line("pause"));
        now = open.wake(now);
        open.due(now, &cadence);
    }
    frames.dedup();
    assert_eq!(
        frames,
        [
            "         pause [                              ] 0s elapsed · waiting for `kubectl posthog canary promote`",
            "         pause [                              ] 1s elapsed · waiting for `kubectl posthog canary promote`",
            "         pause [                              ] 2s elapsed · waiting for `kubectl posthog canary promote`",
            "         pause [                              ] 3s elapsed · waiting for `kubectl posthog canary promote`",
        ]
    );
}

/// Item 4: the guard reads between rounds, never in the same wake as a full round.
#[test]
fn the_guard_reads_between_rounds_never_with_one() {
    let cadence = default_cadence();
    let mut timers = Timers::start(&cadence, Some(60 * SECOND), false);
    let mut now = Duration::ZERO;
    let (mut rounds, mut guards) = (Vec::new(), Vec::new());
    while now < 40 * SECOND {
        now = timers.wake(now);
        let due = timers.due(now, &cadence);
        assert!(!(due.guard && due.reading), "both at {now:?}");
        if due.reading {
            rounds.push(now.as_secs());
        }
        if due.guard {
            guards.push(now.as_secs());
        }
    }
    assert_eq!(rounds, [2, 32]);
    assert_eq!(guards.len(), 38, "every other second: {guards:?}");
}

/// Item 4: during the promotion a bar labelled `pause` showed `stable rollout: 1/3 updated`.
#[test]
fn item_4_the_promotion_frame_labels_its_bar_rollout() {
    let screen = Screen::new(3, &[]);
    let steps = plan_steps(3, &[25, 50, 100], &[Pause::For(60 * SECOND); 2], true);
    screen.view.step(&steps[2], 3);
    screen.view.pause(10 * SECOND, Some(60 * SECOND), None);
    screen.view.scaling("stable rollout: 1/3 updated");
    screen.view.pods(Some((1, 1)), Some((3, 3)));
    assert_eq!(
        screen.frame(),
        "\
step 3/3: 100% — promoting: the stable takes the new template
          step [====================>         ] step 3/3: 100% — promoting: the stable takes the new template
       rollout [                              ] stable rollout: 1/3 updated
          pods canary 1/1 ready · stable 3/3 ready"
    );
}

/// Item 4: with Prometheus down every metric's line repeated the same connection error.
#[test]
fn item_4_prometheus_down_is_named_once_in_the_frame() {
    let ids = ["errors-5xx", "latency-p99", "rate-limited", "auth-failures"];
    let screen = Screen::new(3, &metrics(&ids));
    let down = "cannot reach http://127.0.0.1:9090: connection refused";
    let readings: Vec<Reading> = ids
        .iter()
        .map(|id| reading(id, Severity::P2, None, Some(down)))
        .collect();
    screen.view.readings(1, 25, &readings);
    let frame = screen.frame();
    assert_eq!(frame.matches(down).count(), 1, "{frame}");
    assert_eq!(
        frame
            .lines()
            .filter(|l| l.contains("no data"))
            .collect::<Vec<_>>(),
        [
            "    errors-5xx ? no data (cannot reach http://127.0.0.1:9090: connection refused)  P2",
            "   latency-p99 ? no data (as errors-5xx)  P2",
            "  rate-limited ? no data (as errors-5xx)  P2",
            " auth-failures ? no data (as errors-5xx)  P2",
        ]
    );
}

/// Item 5: on one replica the 10 % and 50 % steps both ran 1 canary + 1 stable and nothing said
/// so. The plan merges them and every frame names the share of pods.
#[test]
fn item_5_collapsed_steps_are_one_step_showing_its_real_share() {
    let planned = plan_steps(1, &[10, 50, 100], &[Pause::For(60 * SECOND); 2], true);
    let (steps, warnings) = merge_collapsed(planned);
    let screen = Screen::new(steps.len(), &[]);
    for warning in &warnings {
        screen.view.event(&format!("warning: {warning}"));
    }
    screen.view.pods(None, Some((1, 1)));
    screen.view.step(&steps[0], steps.len());
    let frame = screen.frame();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        frame.contains(
            "step [                              ] step 1/2: 10% — 1 canary + 1 stable (50.0% of pods), pause 2m"
        ),
        "{frame}"
    );
    assert!(
        frame.starts_with(
            "warning: steps 10%, 50% all run 1 canary + 1 stable pods (50% of traffic): merged into one step"
        ),
        "{frame}"
    );
}
