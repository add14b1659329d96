//! Every check the preflight knows: its stable id, checklist step, default severity and title.
//! Config keys (`severity`, `attestations`, `disabled`) are validated against this list, so a typo
//! is an error instead of a check silently left on or off.

use crate::report::{Severity, Step};

/// How a check reaches its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Measured from manifests or the cluster.
    Machine,
    /// Needs the network (skipped by `--offline`).
    Remote,
    /// Measured when evidence exists (a file, an env switch, an annotation), else attested by a person.
    Evidence,
    /// Only a person can say: `manual` until attested in the config file.
    Attestation,
}

#[derive(Debug, Clone, Copy)]
pub struct CheckDef {
    pub id: &'static str,
    pub step: Step,
    pub severity: Severity,
    pub kind: Kind,
    pub title: &'static str,
}

const fn def(
    id: &'static str,
    step: Step,
    severity: Severity,
    kind: Kind,
    title: &'static str,
) -> CheckDef {
    CheckDef {
        id,
        step,
        severity,
        kind,
        title,
    }
}

use Kind::{Attestation, Evidence, Machine, Remote};
use Severity::{P1, P2, P3};
use Step::{CodeQuality, Configuration, Documentation, Infrastructure, Rollout};

pub const CHECKS: &[CheckDef] = &[
    // Step 1
    def(
        "config.api-key-from-secret",
        Configuration,
        P1,
        Machine,
        "API key comes from a Secret, not a literal",
    ),
    def(
        "config.secret-present",
        Configuration,
        P1,
        Machine,
        "Referenced Secret keys exist and are non-empty",
    ),
    def(
        "config.required-env",
        Configuration,
        P1,
        Machine,
        "Required environment variables are set",
    ),
    def(
        "config.key-kind",
        Configuration,
        P1,
        Machine,
        "A project key (phc_), not a personal key, where a project key belongs",
    ),
    def(
        "config.key-scopes",
        Configuration,
        P2,
        Remote,
        "API key scopes are minimal (least privilege)",
    ),
    def(
        "config.webhook-https",
        Configuration,
        P2,
        Machine,
        "Webhook endpoints use HTTPS",
    ),
    def(
        "config.webhook-secret",
        Configuration,
        P2,
        Machine,
        "Webhook secrets come from Secrets",
    ),
    def(
        "config.posthog-host",
        Configuration,
        P2,
        Machine,
        "PostHog host is a known region or the configured self-hosted host",
    ),
    // Step 2
    def(
        "code.no-hardcoded-credentials",
        CodeQuality,
        P1,
        Machine,
        "No hardcoded PostHog credentials",
    ),
    def(
        "code.tests-passing",
        CodeQuality,
        P2,
        Evidence,
        "All tests passing",
    ),
    def(
        "code.error-handling",
        CodeQuality,
        P3,
        Attestation,
        "Error handling covers all PostHog error types",
    ),
    def(
        "code.rate-limit-backoff",
        CodeQuality,
        P3,
        Evidence,
        "Rate limiting/backoff implemented",
    ),
    def(
        "code.production-logging",
        CodeQuality,
        Severity::P4,
        Attestation,
        "Logging is production-appropriate",
    ),
    // Step 3
    def(
        "infra.readiness-probe",
        Infrastructure,
        P2,
        Machine,
        "Readiness probe configured",
    ),
    def(
        "infra.liveness-probe",
        Infrastructure,
        P3,
        Machine,
        "Liveness probe configured",
    ),
    def(
        "infra.health-endpoint",
        Infrastructure,
        P2,
        Remote,
        "Health endpoint reports PostHog connectivity",
    ),
    def(
        "infra.resources",
        Infrastructure,
        P3,
        Machine,
        "CPU and memory requests and limits set",
    ),
    def(
        "infra.replicas",
        Infrastructure,
        P2,
        Machine,
        "At least two replicas",
    ),
    def(
        "infra.hpa-canary-steps",
        Infrastructure,
        P3,
        Machine,
        "The HPA's floor lets every canary step reach its weight",
    ),
    def(
        "infra.pdb",
        Infrastructure,
        P3,
        Machine,
        "A PodDisruptionBudget protects the pods",
    ),
    def(
        "infra.rolling-update",
        Infrastructure,
        P2,
        Machine,
        "Rolling-update strategy",
    ),
    def(
        "infra.progress-deadline",
        Infrastructure,
        P3,
        Machine,
        "Progress deadline bounds a stuck rollout",
    ),
    def(
        "infra.rollback-history",
        Infrastructure,
        P3,
        Machine,
        "A previous revision is kept for rollback",
    ),
    def(
        "infra.image-pinned",
        Infrastructure,
        P2,
        Machine,
        "Image pinned (no :latest, digest preferred)",
    ),
    def(
        "infra.termination-grace",
        Infrastructure,
        P3,
        Machine,
        "Grace period outlasts the SDK's shutdown flush",
    ),
    def(
        "infra.alerting",
        Infrastructure,
        P3,
        Machine,
        "Alerts of the checklist's table are configured",
    ),
    def(
        "infra.alert-threshold",
        Infrastructure,
        P2,
        Machine,
        "An alert meant for a line of the table fires as the table says",
    ),
    def(
        "infra.circuit-breaker",
        Infrastructure,
        P3,
        Evidence,
        "Circuit breaker pattern implemented",
    ),
    def(
        "infra.graceful-degradation",
        Infrastructure,
        P3,
        Evidence,
        "Graceful degradation configured",
    ),
    // Step 4
    def(
        "docs.incident-runbook",
        Documentation,
        P3,
        Evidence,
        "Incident runbook created",
    ),
    def(
        "docs.key-rotation",
        Documentation,
        P3,
        Evidence,
        "Key rotation procedure documented",
    ),
    def(
        "docs.rollback",
        Documentation,
        P3,
        Evidence,
        "Rollback procedure documented",
    ),
    def(
        "docs.on-call",
        Documentation,
        P3,
        Evidence,
        "On-call escalation path defined",
    ),
    // Step 5
    def(
        "rollout.canary-query",
        Rollout,
        P2,
        Remote,
        "The canary's analysis queries run and see the Deployment's pods",
    ),
    def(
        "rollout.staging-health",
        Rollout,
        P2,
        Remote,
        "Staging health check passes",
    ),
    def(
        "rollout.posthog-status",
        Rollout,
        P2,
        Remote,
        "No ongoing PostHog incident in the region",
    ),
    def(
        "rollout.project-key-valid",
        Rollout,
        P1,
        Remote,
        "Project API key accepted by PostHog",
    ),
    def(
        "rollout.personal-key-valid",
        Rollout,
        P1,
        Remote,
        "Personal/secret API key accepted by PostHog",
    ),
];

pub fn find(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id == id)
}

/// The check definition for an id the code itself uses; a missing one is a programming error
/// caught by `every_id_used_is_in_the_catalog`.
pub fn get(id: &str) -> &'static CheckDef {
    find(id).unwrap_or_else(|| unreachable!("check id {id} is not in the catalog"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_namespaced_by_step() {
        let mut seen = std::collections::HashSet::new();
        for check in CHECKS {
            assert!(seen.insert(check.id), "duplicate {}", check.id);
            let area = check.id.split('.').next().unwrap();
            let expected = match check.step {
                Configuration => "config",
                CodeQuality => "code",
                Infrastructure => "infra",
                Documentation => "docs",
                Rollout => "rollout",
            };
            assert_eq!(area, expected, "{}", check.id);
        }
    }
}
