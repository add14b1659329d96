//! Assembles the whole checklist from the step modules, in checklist order, then applies the
//! config file's policy. Pure: every input was gathered before.

use crate::report::Finding;

use super::canary_queries::{self, Answer, Query};
use super::facts::ClusterFacts;
use super::local::LocalFacts;
use super::policy::Policy;
use super::remote::{Probe, SharedRemote, SubjectRemote};
use super::{
    Subject, alerts, availability, code_quality, configuration, documentation, endpoints,
    infrastructure, policy, rollout,
};

/// Everything the checks read.
pub struct Inputs<'a> {
    pub subjects: &'a [Subject<'a>],
    pub remotes: &'a [SubjectRemote],
    pub shared: &'a SharedRemote,
    pub local: &'a LocalFacts,
    pub facts: &'a ClusterFacts,
    /// Per subject, the canary's analysis queries and what Prometheus answered (empty: not run).
    pub canary_queries: &'a [(Vec<Query>, Probe<Vec<Answer>>)],
    /// The alert table as this run judges it.
    pub alert_table: &'a alerts::Table<'a>,
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
    findings.extend(alerts::alerting(inputs.facts, inputs.alert_table));
    // Step 4
    for s in inputs.subjects {
        findings.extend(documentation::check(s, inputs.local));
    }
    // Step 5
    findings.push(rollout::staging(inputs.shared));
    for (s, r) in pairs() {
        findings.extend(rollout::check(s, r, inputs.status_url));
    }
    let not_run = (
        Vec::new(),
        Probe::Skipped(
            "no Prometheus configured (--prometheus-url, PROMETHEUS_URL or prometheus.url)"
                .to_string(),
        ),
    );
    for (i, s) in inputs.subjects.iter().enumerate() {
        let (queries, answers) = inputs.canary_queries.get(i).unwrap_or(&not_run);
        findings.extend(canary_queries::check(s, queries, answers));
    }
    policy::apply(findings, &inputs.policy, now)
}
