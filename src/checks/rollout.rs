//! Step 5, the checklist's pre-flight: staging health (`curl -f …/health`), PostHog's status page
//! for the region in use, and live validation of the keys.

use crate::posthog::{PersonalKeyCheck, ProjectKeyCheck, parse_health, status::impact_rank};
use crate::report::{Finding, Severity, Status};

use super::remote::{Probe, SharedRemote, SubjectRemote};
use super::{Subject, join, new_finding};

pub fn staging(shared: &SharedRemote) -> Finding {
    let id = "rollout.staging-health";
    match &shared.staging {
        Probe::Skipped(why) => new_finding(id, Status::Skipped).measured(why.clone()),
        Probe::Failed(cause) | Probe::RateLimited(cause) => new_finding(id, Status::Fail)
            .measured(format!("no answer: {cause}"))
            .remediation("fix staging before promoting to production"),
        Probe::Done(answer) => {
            let mut measured = format!(
                "HTTP {} in {} ms",
                answer.status,
                answer.elapsed.as_millis()
            );
            if let Ok(report) = parse_health(&answer.body) {
                measured.push_str(&format!(": {}", report.describe()));
            }
            let f = if (200..300).contains(&answer.status) {
                new_finding(id, Status::Pass).measured(measured)
            } else {
                new_finding(id, Status::Fail)
                    .measured(measured)
                    .expected("HTTP 2xx (curl -f)")
                    .remediation("fix staging before promoting to production")
            };
            f.evidence(answer.via.clone())
        }
    }
}

pub fn check(s: &Subject, remote: &SubjectRemote, status_url: Option<&str>) -> Vec<Finding> {
    vec![
        posthog_status(s, remote, status_url),
        project_key(s, remote),
        personal_keys(s, remote),
    ]
}

fn posthog_status(s: &Subject, remote: &SubjectRemote, status_url: Option<&str>) -> Finding {
    let id = "rollout.posthog-status";
    let region = remote.region.region.name();
    let snapshot = match &remote.status {
        Probe::Done(snapshot) => snapshot,
        Probe::Skipped(why) => return s.finding(id, Status::Skipped).measured(why.clone()),
        Probe::Failed(cause) | Probe::RateLimited(cause) => {
            let mut f = s
                .finding(id, Status::Warn)
                .measured(format!("status page unreachable: {cause}"))
                .remediation("check https://www.posthogstatus.com by hand (or from another network) before deploying");
            f.severity = Severity::P3;
            return f.evidence(status_url.unwrap_or_default().to_string());
        }
    };
    let evidence = format!(
        "GET {} ({:?})",
        status_url.unwrap_or_default(),
        snapshot.source
    );
    if snapshot.is_clear() {
        let mut measured = format!("no ongoing incident for region {region}");
        if snapshot.other_regions > 0 {
            measured.push_str(&format!(" ({} in other regions)", snapshot.other_regions));
        }
        return s
            .finding(id, Status::Pass)
            .measured(measured)
            .evidence(evidence);
    }
    let parts = snapshot.incidents.iter().map(|i| {
        let mut text = format!("{} [{}, {}]", i.name, i.impact, i.status);
        if let Some(url) = &i.url {
            text.push_str(&format!(" {url}"));
        }
        text
    });
    let worst = snapshot.worst_impact().map(impact_rank).unwrap_or(2);
    let (status, severity) = match worst {
        4 => (Status::Fail, Severity::P1),
        3 => (Status::Fail, Severity::P2),
        1 => (Status::Warn, Severity::P4),
        _ => (Status::Warn, Severity::P3),
    };
    let mut f = s
        .finding(id, status)
        .measured(join(parts))
        .expected(format!("no ongoing incident affecting region {region}"))
        .remediation(format!(
            "wait for PostHog to resolve it ({}) and keep POSTHOG_FALLBACK ready; deploying now mixes your failures with theirs",
            snapshot.page_url
        ))
        .evidence(evidence);
    f.severity = severity;
    f
}

fn project_key(s: &Subject, remote: &SubjectRemote) -> Finding {
    let id = "rollout.project-key-valid";
    let evidence = format!("POST {}flags?v=2", remote.ingest);
    let source = remote.project_key_source.clone().unwrap_or_default();
    match &remote.project_key {
        Probe::Skipped(why) => s.finding(id, Status::Skipped).measured(why.clone()),
        Probe::Done(ProjectKeyCheck::Valid { flags }) => s
            .finding(id, Status::Pass)
            .measured(format!("{source}: accepted (HTTP 200, {flags} flags)"))
            .evidence(evidence),
        Probe::Done(ProjectKeyCheck::Rejected { status, detail }) => s
            .finding(id, Status::Fail)
            .measured(format!("{source}: rejected (HTTP {status}: {detail})"))
            .expected("HTTP 200 from /flags")
            .remediation(format!(
                "the key is wrong, revoked or from another region ({}): copy the project key from Project settings into the Secret, then kubectl rollout restart deployment/{}",
                remote.region.region.name(),
                s.name
            ))
            .evidence(evidence),
        Probe::RateLimited(cause) => {
            let mut f = s
                .finding(id, Status::Warn)
                .measured(format!("{source}: not validated, PostHog rate-limited us: {cause}"))
                .remediation("re-run the preflight in a minute");
            f.severity = Severity::P3;
            f.evidence(evidence)
        }
        Probe::Failed(cause) => {
            let mut f = s
                .finding(id, Status::Fail)
                .measured(format!("{source}: not validated: {cause}"))
                .expected("an answer from PostHog")
                .remediation("PostHog could not be reached: check egress and the status page, then re-run")
                .evidence(evidence);
            f.severity = Severity::P2;
            f
        }
    }
}

fn personal_keys(s: &Subject, remote: &SubjectRemote) -> Finding {
    let id = "rollout.personal-key-valid";
    let evidence = format!("GET {}api/personal_api_keys/@current/", remote.app);
    if remote.personal_keys.is_empty() {
        return s.finding(id, Status::Skipped).measured(format!(
            "no personal or secret key configured ({})",
            s.names.personal_key_env.join(", ")
        ));
    }
    let mut status = Status::Pass;
    let mut severity = Severity::P1;
    let mut parts = Vec::new();
    for key in &remote.personal_keys {
        let label = format!("{} {}", key.env, key.masked);
        match &key.result {
            Probe::Done(PersonalKeyCheck::Valid(info)) => parts.push(format!(
                "{label}: accepted, label {:?}, last used {}",
                info.label.clone().unwrap_or_default(),
                info.last_used_at
                    .clone()
                    .unwrap_or_else(|| "never".to_string())
            )),
            Probe::Done(PersonalKeyCheck::Rejected {
                status: code,
                detail,
            }) => {
                parts.push(format!("{label}: rejected (HTTP {code}: {detail})"));
                status = Status::Fail;
            }
            Probe::Failed(cause) => {
                parts.push(format!("{label}: not validated: {cause}"));
                if status != Status::Fail {
                    status = Status::Fail;
                    severity = Severity::P2;
                }
            }
            Probe::RateLimited(cause) => {
                parts.push(format!("{label}: not validated, rate-limited: {cause}"));
                if status == Status::Pass {
                    status = Status::Warn;
                    severity = Severity::P3;
                }
            }
            Probe::Skipped(why) => {
                parts.push(format!("{label}: {why}"));
                if status == Status::Pass {
                    status = Status::Skipped;
                }
            }
        }
    }
    let mut f = s
        .finding(id, status)
        .measured(join(parts))
        .evidence(evidence);
    if status != Status::Pass && status != Status::Skipped {
        f = f.remediation("create a new personal API key (scoped) in PostHog settings, store it in the Secret, restart the Deployment");
    }
    if status == Status::Fail || status == Status::Warn {
        f.severity = severity;
    }
    f
}
