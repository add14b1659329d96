//! `canary status`, `canary promote` and `canary abort`: what another terminal or CI job does to a
//! canary some process is driving (or that was left behind), through the annotations.

use std::time::Duration;

use super::abort::{self, AbortOptions, AbortOrder, AbortSummary};
use super::analysis::ReadingStatus;
use super::objects;
use super::ops::{self, Apis};
use super::state::{self, Action, CanaryState, Command, Phase};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::report::{
    Finding, Report, ReportTarget, Severity, Status, Step, Verdict, VerdictResult,
};

/// Reads the stable and its canary state (from the stable's Lease).
pub async fn read(
    apis: &Apis,
    name: &str,
) -> Result<(k8s_openapi::api::apps::v1::Deployment, Option<CanaryState>)> {
    let (stable, stored) = tokio::try_join!(apis.get(name), apis.read_stored(name))?;
    Ok((stable, stored.state))
}

/// Where a canary stands. Exit 0 while it progresses or once promoted, 1 once aborted.
pub async fn status(
    apis: &Apis,
    name: &str,
    target: ReportTarget,
    clock: &dyn Clock,
) -> Result<Report> {
    let (stable, state) = read(apis, name).await?;
    let canary = match &state {
        Some(state) => apis.get_opt(&state.canary_name).await?,
        None => None,
    };
    Ok(status_report(
        name,
        &stable,
        canary.as_ref(),
        state,
        target,
        clock.now(),
    ))
}

/// The `canary status` report from what was read, as of `now` (pure: its frames are tested
/// with an injected clock).
pub fn status_report(
    name: &str,
    stable: &k8s_openapi::api::apps::v1::Deployment,
    canary: Option<&k8s_openapi::api::apps::v1::Deployment>,
    state: Option<CanaryState>,
    target: ReportTarget,
    now: jiff::Timestamp,
) -> Report {
    let Some(state) = state else {
        let verdict = Verdict::decided(
            VerdictResult::Pass,
            format!("no canary has run on deployment/{name}"),
            &[],
        );
        return Report::new("canary", target, verdict, Vec::new(), now);
    };
    let step = state.current().cloned();
    let mut findings = Vec::new();
    let alive = state::is_driven(&state, now);
    let age = now.duration_since(state.heartbeat).as_secs().max(0);
    let phase_status = match state.phase {
        Phase::Promoted => Status::Pass,
        Phase::Aborted | Phase::PromotionFailed => Status::Fail,
        // Held: it waits for a human (`canary promote` or `canary abort`).
        Phase::Held => Status::Warn,
        _ if alive => Status::Pass,
        _ => Status::Warn,
    };
    let mut phase = Finding::new(
        "canary.phase",
        Step::Rollout,
        Severity::P3,
        phase_status,
        "Where the canary stands",
    )
    .measured(format!(
        "{} at step {}/{} ({}%), images {}{}",
        state.phase.label(),
        state.step + 1,
        state.steps.len(),
        step.as_ref().map_or(0, |s| s.weight),
        objects::images_text(&state.images),
        state
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    if !state.phase.is_terminal() {
        phase = phase.evidence(if alive {
            format!("driven by {} (heartbeat {age}s ago)", state.driver)
        } else {
            format!(
                "no process drives it (last heartbeat {age}s ago, from {})",
                state.driver
            )
        });
        if !alive {
            phase = phase.remediation(format!(
                "`kubectl posthog canary --resume deployment/{name}` continues it; \
                 `kubectl posthog canary abort deployment/{name}` restores the stable"
            ));
        }
    }
    findings.push(phase);
    if let Some(remaining) = state.pause_remaining(now) {
        findings.push(
            Finding::new(
                "canary.pause",
                Step::Rollout,
                Severity::P4,
                Status::Pass,
                "Pause",
            )
            .measured(format!(
                "{} left",
                humantime::format_duration(Duration::from_secs(remaining.as_secs()))
            )),
        );
    }
    if let Some(a) = state
        .autoscaler
        .as_ref()
        .filter(|_| !state.phase.is_terminal())
    {
        let replicas = ops::current_replicas(stable);
        findings.push(
            Finding::new(
                "canary.autoscaler",
                Step::Rollout,
                Severity::P4,
                Status::Pass,
                "The stable's replicas",
            )
            .measured(if a.gone {
                format!(
                    "HorizontalPodAutoscaler {} was deleted mid-canary: the stable keeps its \
                     {replicas} replicas, the canary is sized from them",
                    a.name
                )
            } else {
                format!(
                    "HorizontalPodAutoscaler {} scales the stable (now {replicas} replicas); \
                     the canary is sized from them",
                    a.name
                )
            }),
        );
    }
    let ready = |d: Option<&k8s_openapi::api::apps::v1::Deployment>| {
        d.map_or((0, 0), |d| {
            (ops::ready_replicas(d), ops::current_replicas(d))
        })
    };
    let (canary_ready, canary_want) = ready(canary);
    let (stable_ready, stable_want) = ready(Some(stable));
    findings.push(
        Finding::new(
            "canary.pods",
            Step::Rollout,
            Severity::P3,
            Status::Pass,
            "Ready pods",
        )
        .measured(super::view::pods_text(
            Some((canary_ready, if canary.is_some() { canary_want } else { 0 })),
            Some((stable_ready, stable_want)),
        )),
    );
    for reading in &state.last_analysis {
        let status = match reading.status {
            ReadingStatus::Pass => Status::Pass,
            ReadingStatus::Breach => Status::Fail,
            ReadingStatus::Inconclusive => Status::Warn,
        };
        findings.push(
            Finding::new(
                &format!("canary.metric.{}", reading.metric),
                Step::Rollout,
                reading.severity,
                status,
                &format!("Last analysis: {}", reading.metric),
            )
            .measured(format!(
                "{} at {}",
                reading.describe(),
                reading.at.strftime("%H:%M:%S UTC")
            ))
            .evidence(reading.query.clone()),
        );
    }
    let result = match state.phase {
        Phase::Aborted | Phase::PromotionFailed => VerdictResult::Fail,
        Phase::Promoted => VerdictResult::Pass,
        Phase::Held => VerdictResult::Warn,
        _ if alive => VerdictResult::Pass,
        _ => VerdictResult::Warn,
    };
    let summary = format!(
        "canary {} at step {}/{} ({}%): canary {canary_ready} ready, stable {stable_ready}/{stable_want} ready",
        state.phase.label(),
        state.step + 1,
        state.steps.len(),
        step.as_ref().map_or(0, |s| s.weight),
    );
    let verdict = Verdict::decided(result, summary, &findings);
    Report::new("canary", target, verdict, findings, now).with_details(&state)
}

/// Asks the driver to end the current pause (or a hold). Refused once the canary has ended.
/// `full`: skip every remaining step and pause (Argo Rollouts' `promote --full`).
pub async fn promote(
    apis: &Apis,
    name: &str,
    full: bool,
    clock: &dyn Clock,
) -> Result<(CanaryState, bool)> {
    let (_, state) = read(apis, name).await?;
    let state = active(state, name)?;
    if matches!(state.phase, Phase::Promoting | Phase::Aborting) {
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} is already {}",
            state.phase.label()
        )));
    }
    let command = Command {
        action: if full {
            Action::PromoteFull
        } else {
            Action::Promote
        },
        step: state.step,
        at: clock.now(),
        by: state::driver_id(),
    };
    apis.write_command(name, Some(&command)).await?;
    let alive = state::is_driven(&state, clock.now());
    Ok((state, alive))
}

/// Aborts: asks a live driver to do it and waits for it, or does it here when nobody drives
/// the canary (or the driver does not finish within `timeout`).
pub async fn abort(
    apis: &Apis,
    name: &str,
    timeout: Duration,
    clock: &dyn Clock,
    on_event: &(dyn Fn(&str) + Send + Sync),
) -> Result<AbortSummary> {
    let (_, state) = read(apis, name).await?;
    if let Some(state) = state.as_ref().filter(|s| state::is_driven(s, clock.now())) {
        let command = Command {
            action: Action::Abort,
            step: state.step,
            at: clock.now(),
            by: state::driver_id(),
        };
        apis.write_command(name, Some(&command)).await?;
        on_event(&format!(
            "asked the driver ({}) to abort; waiting for it",
            state.driver
        ));
        let started = tokio::time::Instant::now();
        while started.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (stable, current) = read(apis, name).await?;
            match current {
                Some(s) if s.phase == Phase::Aborted => {
                    let canary = apis.get_opt(&s.canary_name).await?;
                    return Ok(AbortSummary {
                        found: true,
                        // With an HPA the stable was left where the HPA keeps it.
                        stable_replicas: match s.autoscaler {
                            Some(_) => ops::current_replicas(&stable),
                            None => s.stable_replicas,
                        },
                        stable_ready: ops::ready_replicas(&stable),
                        canary_removed: canary.is_none(),
                        canary_zeroed_at: None,
                        state: Some(s),
                    });
                }
                Some(s) if s.phase.is_terminal() || !state::is_driven(&s, clock.now()) => break,
                _ => {}
            }
        }
        on_event("the driver did not finish the abort: aborting from here");
    }
    let options = AbortOptions {
        order: AbortOrder::StableFirst,
        holder: None,
        timeout,
        reason: format!(
            "aborted by `kubectl posthog canary abort` ({})",
            state::driver_id()
        ),
    };
    abort::abort(apis, name, &options, clock, on_event).await
}

fn active(state: Option<CanaryState>, name: &str) -> Result<CanaryState> {
    match state {
        None => Err(Error::Usage(format!(
            "no canary is recorded on deployment/{name}: start one with `kubectl posthog canary deployment/{name} --image …`"
        ))),
        Some(s) if s.phase.is_terminal() => Err(Error::Usage(format!(
            "the canary of deployment/{name} already ended ({}): start a new one",
            s.phase.label()
        ))),
        Some(s) => Ok(s),
    }
}

/// The report of `canary promote`: what was asked, and whether anyone will act on it now.
pub fn promote_report(
    target: ReportTarget,
    state: &CanaryState,
    alive: bool,
    full: bool,
    now: jiff::Timestamp,
) -> Report {
    let name = target.name.clone();
    let weight = state.current().map_or(0, |s| s.weight);
    let mut finding = Finding::new(
        "canary.promote",
        Step::Rollout,
        Severity::P3,
        if alive { Status::Pass } else { Status::Warn },
        "Promote requested",
    )
    .measured(match full {
        true => format!(
            "every remaining step is skipped from step {}/{} ({weight}%): the driver promotes at its next look",
            state.step + 1,
            state.steps.len()
        ),
        false => format!(
            "the pause at step {}/{} ({weight}%) ends at the driver's next look",
            state.step + 1,
            state.steps.len()
        ),
    });
    if alive {
        finding = finding.evidence(format!("driven by {}", state.driver));
    } else {
        finding = finding.remediation(format!(
            "no process drives this canary now: `kubectl posthog canary --resume deployment/{name}` \
             continues past this pause"
        ));
    }
    let summary = format!(
        "{} requested for deployment/{name} at step {}/{} ({weight}%)",
        if full { "full promotion" } else { "promote" },
        state.step + 1,
        state.steps.len()
    );
    let findings = vec![finding];
    let verdict = Verdict::decided(VerdictResult::Pass, summary, &findings);
    Report::new("canary", target, verdict, findings, now)
}

/// The abort report (`canary abort`).
pub fn abort_report(target: ReportTarget, summary: &AbortSummary, now: jiff::Timestamp) -> Report {
    let name = target.name.clone();
    let findings = if summary.found {
        vec![
            Finding::new(
                "canary.abort.stable",
                Step::Rollout,
                Severity::P1,
                if summary.stable_ready >= summary.stable_replicas {
                    Status::Pass
                } else {
                    Status::Fail
                },
                "Stable back at full capacity",
            )
            .measured(format!(
                "{}/{} ready",
                summary.stable_ready, summary.stable_replicas
            )),
            Finding::new(
                "canary.abort.canary-removed",
                Step::Rollout,
                Severity::P1,
                if summary.canary_removed {
                    Status::Pass
                } else {
                    Status::Warn
                },
                "Canary removed",
            )
            .measured(if summary.canary_removed {
                format!("{} and its pods deleted", objects::canary_name(&name))
            } else {
                "no canary Deployment was found".to_string()
            }),
        ]
    } else {
        Vec::new()
    };
    let result = if findings.iter().any(|f| f.status == Status::Fail) {
        VerdictResult::Fail
    } else {
        VerdictResult::Pass
    };
    let summary_text = if summary.found {
        format!(
            "canary of deployment/{name} aborted: stable {}/{} ready, canary removed",
            summary.stable_ready, summary.stable_replicas
        )
    } else {
        format!("nothing to abort: no canary is running on deployment/{name}")
    };
    let verdict = Verdict::decided(result, summary_text, &findings);
    Report::new("canary", target, verdict, findings, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::state::tests::sample_state;
    use crate::render::render_table;
    use crate::ui::Styles;

    fn deployment(name: &str, replicas: i32, ready: i32) -> k8s_openapi::api::apps::v1::Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {"replicas": replicas, "readyReplicas": ready},
        }))
        .expect("a Deployment")
    }

    /// `canary status` as a user reads it (`-o table`) at `secs` after the sample's start.
    fn frame(state: &CanaryState, secs: i64) -> String {
        let now = state.started_at + jiff::SignedDuration::from_secs(secs);
        let report = status_report(
            "web",
            &deployment("web", 3, 3),
            Some(&deployment("web-canary", 1, 1)),
            Some(state.clone()),
            ReportTarget::deployment("web", Some("shop"), None),
            now,
        );
        render_table(&report, &Styles::plain())
    }

    fn line_of<'a>(frame: &'a str, id: &str) -> Option<&'a str> {
        frame.lines().find(|l| l.contains(id))
    }

    /// Issue 15 (view 3): an aborted canary's status shows no countdown, and nothing in its
    /// frame moves with the clock.
    #[test]
    fn an_aborted_canary_has_no_countdown_and_a_still_frame() {
        let mut aborted = sample_state();
        aborted.phase = Phase::Aborted;
        aborted.reason = Some("errors-5xx 42/min > 10/min".into());
        let (first, later) = (frame(&aborted, 61), frame(&aborted, 69));
        assert_eq!(first, later, "the frame moved with the clock:\n{first}");
        assert!(line_of(&first, "canary.pause").is_none(), "{first}");
        assert!(!first.contains("left"), "{first}");
        // The paused canary it was counts down: the same state before the abort.
        let paused = sample_state();
        let counting = line_of(&frame(&paused, 61), "canary.pause").map(str::to_owned);
        let counted = line_of(&frame(&paused, 69), "canary.pause").map(str::to_owned);
        assert!(
            counting
                .as_deref()
                .is_some_and(|l| l.contains("8m 59s left")),
            "{counting:?}"
        );
        assert!(
            counted
                .as_deref()
                .is_some_and(|l| l.contains("8m 51s left")),
            "{counted:?}"
        );
    }

    /// A held canary waits for a human: its status warns (it read PASS), and exits 0 still.
    #[test]
    fn a_held_canary_warns() {
        let mut held = sample_state();
        held.phase = Phase::Held;
        held.heartbeat = held.started_at + jiff::SignedDuration::from_secs(60);
        let now = held.started_at + jiff::SignedDuration::from_secs(61);
        let report = status_report(
            "web",
            &deployment("web", 3, 3),
            None,
            Some(held),
            ReportTarget::deployment("web", Some("shop"), None),
            now,
        );
        assert_eq!(report.verdict.result, VerdictResult::Warn);
        assert_eq!(report.findings[0].status, Status::Warn);
    }

    /// An HPA the canary follows (taken on mid-canary or at the start) is named in the status,
    /// and its deletion too.
    #[test]
    fn the_status_names_the_hpa_that_sizes_the_stable() {
        let mut state = sample_state();
        state.autoscaler = Some(crate::canary::state::tests::sample_autoscaler(
            "web-hpa", 3, 2,
        ));
        let followed = frame(&state, 10);
        assert!(
            followed.contains("HorizontalPodAutoscaler web-hpa scales the stable (now 3 replicas)"),
            "{followed}"
        );
        if let Some(a) = state.autoscaler.as_mut() {
            a.gone = true;
        }
        let gone = frame(&state, 10);
        assert!(
            gone.contains("HorizontalPodAutoscaler web-hpa was deleted mid-canary"),
            "{gone}"
        );
    }

    /// Issue 15 (view 2): a canary left by `--on-interrupt leave` shows the real age of its last
    /// heartbeat (never one counted from 1970) and says how to go on.
    #[test]
    fn a_left_canary_shows_the_real_age_of_its_last_heartbeat() {
        let mut left = sample_state();
        left.released = true;
        left.heartbeat = left.started_at + jiff::SignedDuration::from_secs(40);
        let frame = frame(&left, 47);
        assert!(
            frame.contains("no process drives it (last heartbeat 7s ago, from ci/42)"),
            "{frame}"
        );
        assert!(frame.contains("canary --resume deployment/web"), "{frame}");
        assert!(!frame.contains("driven by ci/42"), "{frame}");
    }
}
