//! Assembles the whole checklist from the step modules, in checklist order, then applies the
//! config file's policy. Pure: every input was gathered before.

use crate::report::Finding;

use super::facts::ClusterFacts;
use super::local::LocalFacts;
use super::policy::Policy;
use super::remote::{SharedRemote, SubjectRemote};
use super::{
    AlertNames, Subject, alerts, availability, code_quality, configuration, documentation,
    endpoints, infrastructure, policy, rollout,
};

/// Everything the checks read.
pub struct Inputs<'a> {
    pub subjects: &'a [Subject<'a>],
    pub remotes: &'a [SubjectRemote],
    pub shared: &'a SharedRemote,
    pub local: &'a LocalFacts,
    pub facts: &'a ClusterFacts,
    /// Rule names that cover lines of the alert table (`preflight.alerts`).
    pub alert_names: &'a AlertNames,
    pub policy: Policy<'a>,
    pub posthog_host: Option<&'a str>,
    pub status_url: Option<&'a str>,
}

pub fn evaluate(inputs: &Inputs, now: jiff::Timestamp) -> Vec<Finding> {
    let pairs = || inputs.subjects.iter().zip(inputs.remotes);
    let mut findings = Vec::new();
    // Step 1
    for (s, r) in pairs() {
        findings.extend(configuration::check(s, r));
        findings.extend(endpoints::check(s, inputs.posthog_host));
    }
    // Step 2
    findings.extend(code_quality::no_hardcoded_credentials(
        inputs.subjects,
        inputs.facts,
        inputs.local,
    ));
    findings.push(code_quality::tests_passing(inputs.local));
    findings.extend(code_quality::attestations());
    for s in inputs.subjects {
        findings.push(code_quality::rate_limit_backoff(s));
    }
    // Step 3
    for (s, r) in pairs() {
        findings.extend(infrastructure::check(s));
        findings.extend(availability::check(s, r));
    }
    findings.push(alerts::alerting(inputs.facts, inputs.alert_names));
    // Step 4
    for s in inputs.subjects {
        findings.extend(documentation::check(s, inputs.local));
    }
    // Step 5
    findings.push(rollout::staging(inputs.shared));
    for (s, r) in pairs() {
        findings.extend(rollout::check(s, r, inputs.status_url));
    }
    policy::apply(findings, &inputs.policy, now)
}
