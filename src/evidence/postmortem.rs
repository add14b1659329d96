//! `postmortem.md` and `communication.md`: the runbook's templates filled in from the triage and
//! the timeline. What the tool knows is written in; `[…]` placeholders remain only where a person
//! must write (root cause, users affected, revenue, owners, the incident commander).

use std::fmt::Write as _;

use super::history::Episode;
use super::timeline::TimelineEntry;
use super::triage::{Branch, ErrorClass, TriageOutcome};
use crate::report::Severity;

pub struct PostmortemInputs<'a> {
    pub deployment: &'a str,
    pub namespace: &'a str,
    pub outcome: &'a TriageOutcome,
    pub timeline: &'a [TimelineEntry],
    /// First evidence of the problem in the window, if any ([`super::detect`]).
    pub detected: Option<jiff::Timestamp>,
    /// What that first evidence was (`first errors-5xx sample over the 10/min threshold`).
    pub detected_by: Option<String>,
    /// Every canary and rollback of the window.
    pub episodes: &'a [Episode],
    /// When the bundle was collected.
    pub now: jiff::Timestamp,
    pub window_start: jiff::Timestamp,
}

/// The runbook's "PostHog [Error Type]".
pub fn error_type(outcome: &TriageOutcome) -> String {
    let classes = outcome
        .errors
        .iter()
        .map(|e| match e.class {
            ErrorClass::Auth => "401/403 authentication",
            ErrorClass::RateLimited => "429 rate limiting",
            ErrorClass::Server => "5xx errors",
            ErrorClass::Unclassified => "connectivity",
        })
        .collect::<Vec<_>>()
        .join(", ");
    match outcome.branch {
        Branch::PosthogIncident if classes.is_empty() => "PostHog-side incident".to_string(),
        Branch::PosthogIncident => format!("{classes} (PostHog-side incident)"),
        Branch::Infrastructure => format!(
            "infrastructure ({})",
            outcome
                .service_problems
                .first()
                .map_or("unhealthy service", |p| p.what.as_str())
        ),
        Branch::ResolvedOrIntermittent => {
            "intermittent errors (resolved at collection)".to_string()
        }
        Branch::Integration => classes,
    }
}

/// A draft summary from what was measured; the reader edits it for people outside the team.
fn summary_draft(inputs: &PostmortemInputs) -> String {
    let o = inputs.outcome;
    let signals: Vec<String> = o
        .errors
        .iter()
        .map(super::triage::describe_signal)
        .chain(o.service_problems.iter().map(|p| p.what.clone()))
        .collect();
    let seen = if signals.is_empty() {
        "no errors at collection time".to_string()
    } else {
        signals.join("; ")
    };
    let from = match inputs.detected {
        Some(at) => format!("From {} UTC", at.strftime("%H:%M:%S")),
        None => format!(
            "In the window since {} UTC (no first evidence found)",
            inputs.window_start.strftime("%H:%M")
        ),
    };
    format!(
        "{from}, deployment/{} in namespace {} saw {seen}. The runbook's decision tree \
         lands on: {}. [Edit into 1-2 sentences for readers outside the team.]",
        inputs.deployment, inputs.namespace, o.conclusion
    )
}

pub fn postmortem(inputs: &PostmortemInputs) -> String {
    let o = inputs.outcome;
    let start = inputs.detected.unwrap_or(inputs.window_start);
    let minutes = (inputs.now.duration_since(start).as_secs().max(0) / 60) as u64;
    let mut md = String::new();
    let _ = writeln!(md, "## Incident: PostHog {}", error_type(o));
    let _ = writeln!(md, "**Date:** {}", start.strftime("%Y-%m-%d"));
    match inputs.detected {
        Some(detected) => {
            let _ = writeln!(
                md,
                "**Duration:** {} hours {} minutes (detected {} UTC{}, still open when evidence was collected at {} UTC; adjust when resolved)",
                minutes / 60,
                minutes % 60,
                detected.strftime("%H:%M:%S"),
                inputs
                    .detected_by
                    .as_ref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default(),
                inputs.now.strftime("%H:%M")
            );
        }
        None => {
            let _ = writeln!(
                md,
                "**Duration:** [X hours Y minutes] (no sign of trouble in the cluster's records since {} UTC)",
                inputs.window_start.strftime("%H:%M")
            );
        }
    }
    let _ = writeln!(
        md,
        "**Severity:** {} ({})",
        o.severity.label(),
        o.severity.definition()
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "### Summary");
    let _ = writeln!(md, "{}", summary_draft(inputs));
    let _ = writeln!(md);
    if !inputs.episodes.is_empty() {
        let _ = writeln!(md, "### Canaries and rollbacks in the window");
        for e in inputs.episodes {
            let when = match e.ended.filter(|end| *end != e.started) {
                Some(end) => format!(
                    "{}–{} UTC",
                    e.started.strftime("%H:%M:%S"),
                    end.strftime("%H:%M:%S")
                ),
                None => format!("{} UTC", e.started.strftime("%H:%M:%S")),
            };
            let _ = writeln!(md, "- {when} {}: **{}**", e.title(), e.outcome);
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "### Timeline");
    if inputs.timeline.is_empty() {
        let _ = writeln!(
            md,
            "- HH:MM - [Event] (the cluster recorded nothing in the window)"
        );
    }
    for entry in inputs.timeline {
        let _ = writeln!(
            md,
            "- {} - [{}] {}",
            entry.at.strftime("%H:%M:%S"),
            entry.source,
            entry.text
        );
    }
    let _ = writeln!(
        md,
        "- {} - [triage] {} ({})",
        inputs.now.strftime("%H:%M"),
        o.conclusion,
        o.severity.label()
    );
    let _ = writeln!(
        md,
        "- {} - [evidence] this bundle collected",
        inputs.now.strftime("%H:%M")
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "### Root Cause");
    let _ = writeln!(md, "[Technical explanation]");
    let _ = writeln!(md);
    let _ = writeln!(md, "Evidence to start from: {}.", evidence_pointers(o));
    let _ = writeln!(md);
    let _ = writeln!(md, "### Impact");
    let _ = writeln!(md, "- Users affected: [N]");
    let _ = writeln!(md, "- Revenue impact: [$X]");
    for signal in &o.errors {
        let _ = writeln!(md, "- Measured: {}", super::triage::describe_signal(signal));
    }
    for problem in &o.service_problems {
        let _ = writeln!(md, "- Measured: {}", problem.what);
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "### Action Items");
    for action in o.actions.iter().filter(|a| !a.already_done) {
        let _ = writeln!(md, "- [ ] {} - [Owner] - [Due date]", action.title);
    }
    let _ = writeln!(md, "- [ ] [Preventive measure] - [Owner] - [Due date]");
    md
}

fn evidence_pointers(outcome: &TriageOutcome) -> String {
    let mut pointers = vec!["triage.md", "logs/"];
    if outcome.errors.iter().any(|e| e.source == "prometheus")
        || outcome.branch == Branch::Infrastructure
    {
        pointers.push("metrics/chart.svg");
    }
    if outcome.branch == Branch::PosthogIncident {
        pointers.push("posthog/status.json");
    }
    if outcome.branch == Branch::Infrastructure {
        pointers.extend(["k8s/pods.yaml", "k8s/events.yaml"]);
    }
    pointers.join(", ")
}

/// The runbook's internal (Slack) and external (status page) messages, filled in.
pub fn communication(inputs: &PostmortemInputs) -> String {
    let o = inputs.outcome;
    let icon = match o.severity {
        Severity::P1 => "🔴",
        Severity::P2 => "🟠",
        Severity::P3 => "🟡",
        Severity::P4 => "⚪",
    };
    let status = match o.branch {
        Branch::ResolvedOrIntermittent => "MONITORING",
        Branch::PosthogIncident => "IDENTIFIED (PostHog-side)",
        _ => "INVESTIGATING",
    };
    let next_update = match o.severity {
        Severity::P1 => format!(
            "{} UTC (P1: every 15 min)",
            (inputs.now + jiff::SignedDuration::from_mins(15)).strftime("%H:%M")
        ),
        Severity::P2 => format!(
            "{} UTC (P2: hourly)",
            (inputs.now + jiff::SignedDuration::from_hours(1)).strftime("%H:%M")
        ),
        Severity::P3 => format!(
            "{} UTC (P3: within 4 hours)",
            (inputs.now + jiff::SignedDuration::from_hours(4)).strftime("%H:%M")
        ),
        Severity::P4 => "next business day (P4)".to_string(),
    };
    let impact = user_impact(o);
    let current = o
        .actions
        .iter()
        .find(|a| !a.already_done)
        .map_or("monitoring".to_string(), |a| a.title.clone());
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Communication: deployment/{} in {}\n",
        inputs.deployment, inputs.namespace
    );
    let _ = writeln!(md, "## Internal (Slack)\n\n```");
    let _ = writeln!(
        md,
        "{icon} {} INCIDENT: PostHog Integration",
        o.severity.label()
    );
    let _ = writeln!(md, "Status: {status}");
    let _ = writeln!(
        md,
        "Impact: {impact} — measured: {}",
        super::triage_report::summary(o)
    );
    let _ = writeln!(md, "Current action: {current}");
    let _ = writeln!(md, "Next update: {next_update}");
    let _ = writeln!(md, "Incident commander: @[name]");
    let _ = writeln!(md, "```\n");
    let _ = writeln!(md, "## External (Status Page)\n\n```");
    let _ = writeln!(md, "PostHog Integration Issue\n");
    let _ = writeln!(
        md,
        "We're experiencing issues with our PostHog integration."
    );
    let _ = writeln!(md, "Some users may experience {impact}.\n");
    let _ = writeln!(
        md,
        "We're actively investigating and will provide updates.\n"
    );
    let _ = writeln!(
        md,
        "Last updated: {} UTC",
        inputs.now.strftime("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(md, "```\n");
    let _ = writeln!(
        md,
        "Review the impact wording before posting: it is derived from the error type, not from user reports."
    );
    md
}

/// What users of a PostHog integration notice, by what failed.
fn user_impact(outcome: &TriageOutcome) -> String {
    let classes: Vec<ErrorClass> = outcome.errors.iter().map(|e| e.class).collect();
    if outcome.branch == Branch::Infrastructure {
        return "errors or slow responses in features that use analytics or feature flags"
            .to_string();
    }
    if classes.contains(&ErrorClass::Auth) {
        "missing analytics data and feature flags falling back to defaults".to_string()
    } else if classes.contains(&ErrorClass::Server) || outcome.branch == Branch::PosthogIncident {
        "delayed or missing analytics data and stale feature flags".to_string()
    } else if classes.contains(&ErrorClass::RateLimited) {
        "delayed analytics data while requests are queued".to_string()
    } else {
        "no noticeable impact".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::triage::{ErrorSignal, Thresholds, decide};

    fn outcome_429() -> TriageOutcome {
        let facts = unreachable_facts();
        let mut o = decide(&facts, &Thresholds::default());
        o.errors = vec![ErrorSignal {
            class: ErrorClass::RateLimited,
            per_minute: Some(12.0),
            source: "prometheus",
            severity: Severity::P2,
        }];
        o.severity = Severity::P2;
        o.branch = Branch::Integration;
        o
    }

    fn unreachable_facts() -> crate::evidence::facts::TriageFacts {
        crate::evidence::facts::TriageFacts {
            deployment: "web".into(),
            namespace: "prod".into(),
            selector: "app=web".into(),
            observed_at: "2026-11-22T10:00:00Z".parse().unwrap(),
            status_page: Err("x".into()),
            health: Err("x".into()),
            error_rates: Err("x".into()),
            log_errors: Err("x".into()),
            pods: Err("x".into()),
            api_key: Default::default(),
            containers: vec![],
        }
    }

    fn inputs<'a>(
        outcome: &'a TriageOutcome,
        timeline: &'a [TimelineEntry],
        detected: Option<&str>,
    ) -> PostmortemInputs<'a> {
        PostmortemInputs {
            deployment: "web",
            namespace: "prod",
            outcome,
            timeline,
            detected: detected.map(|d| d.parse().unwrap()),
            detected_by: None,
            episodes: &[],
            now: "2026-11-22T10:45:00Z".parse().unwrap(),
            window_start: "2026-11-22T09:45:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_postmortem_fills_what_is_known_and_leaves_placeholders_for_people() {
        let o = outcome_429();
        let timeline = vec![TimelineEntry {
            at: "2026-11-22T09:58:00Z".parse().unwrap(),
            source: "event",
            text: "Warning BackOff pod/web-1: back-off".into(),
            problem: true,
        }];
        let md = postmortem(&inputs(&o, &timeline, Some("2026-11-22T09:58:00Z")));
        assert!(
            md.starts_with("## Incident: PostHog 429 rate limiting\n**Date:** 2026-11-22\n"),
            "{md}"
        );
        assert!(
            md.contains("**Duration:** 0 hours 47 minutes (detected 09:58:00 UTC"),
            "{md}"
        );
        assert!(md.contains("**Severity:** P2 (degraded service"), "{md}");
        assert!(
            md.contains("- 09:58:00 - [event] Warning BackOff pod/web-1: back-off"),
            "{md}"
        );
        for placeholder in [
            "[Technical explanation]",
            "Users affected: [N]",
            "Revenue impact: [$X]",
            "[Owner] - [Due date]",
        ] {
            assert!(md.contains(placeholder), "{placeholder} missing:\n{md}");
        }
        assert!(
            !md.contains("YYYY-MM-DD")
                && !md.contains("P[1-4]")
                && !md.contains("X hours Y minutes"),
            "{md}"
        );
    }

    #[test]
    fn without_a_detected_start_the_duration_stays_a_placeholder() {
        let o = outcome_429();
        let md = postmortem(&inputs(&o, &[], None));
        assert!(md.contains("**Duration:** [X hours Y minutes]"), "{md}");
    }

    #[test]
    fn communication_templates_are_filled() {
        let o = outcome_429();
        let md = communication(&inputs(&o, &[], None));
        assert!(
            md.contains("🟠 P2 INCIDENT: PostHog Integration\nStatus: INVESTIGATING\n"),
            "{md}"
        );
        assert!(md.contains("Next update: 11:45 UTC (P2: hourly)"), "{md}");
        assert!(md.contains("Incident commander: @[name]"));
        assert!(
            md.contains(
                "Some users may experience delayed analytics data while requests are queued."
            ),
            "{md}"
        );
        assert!(md.contains("Last updated: 2026-11-22 10:45 UTC"));
    }
}
