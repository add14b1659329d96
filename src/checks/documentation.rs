//! Step 4, documentation: the incident runbook, key rotation, rollback and on-call escalation,
//! found as an annotation URL on the Deployment or a file in the repository, else `manual`.

use crate::report::{Finding, Status};

use super::Subject;
use super::local::{DOC_CHECKS, LocalFacts};

/// The annotation that points at each document, e.g. `kubectl-posthog/runbook: https://…`.
pub fn annotation(id: &str) -> &'static str {
    match id {
        "docs.incident-runbook" => "kubectl-posthog/runbook",
        "docs.key-rotation" => "kubectl-posthog/key-rotation",
        "docs.rollback" => "kubectl-posthog/rollback",
        _ => "kubectl-posthog/on-call",
    }
}

pub fn check(s: &Subject, local: &LocalFacts) -> Vec<Finding> {
    DOC_CHECKS
        .iter()
        .map(|id| {
            let key = annotation(id);
            let annotations = s.deploy.object.metadata.annotations.as_ref();
            if let Some(url) = annotations.and_then(|a| a.get(key)).filter(|u| !u.trim().is_empty()) {
                return s.locate(
                    s.finding(id, Status::Pass)
                        .measured(format!("annotation {key}: {url}")),
                    &format!("/metadata/annotations/{}", super::yaml::escape(key)),
                );
            }
            if let Some(Some(path)) = local.docs.get(id) {
                return s
                    .finding(id, Status::Pass)
                    .measured(format!("{path} in {}", local.root.display()))
                    .at(path.clone(), None);
            }
            let searched = local.docs_searched.get(id).cloned().unwrap_or_default();
            let root = if local.root.as_os_str() == "." {
                "the current directory".to_string()
            } else {
                local.root.display().to_string()
            };
            s.finding(id, Status::Manual)
                .measured(format!(
                    "no annotation {key}; none of {} in {root}",
                    searched.join(", ")
                ))
                .remediation(format!(
                    "write it and annotate the Deployment ({key}: URL), add one of the files, or attest under attestations.{id}"
                ))
        })
        .collect()
}
