//! Step 2, code quality: no hardcoded credentials (manifests, ConfigMaps, committed Secrets and the
//! repository scan), test results, and the lines only a person can vouch for.

use crate::posthog::{self, KeyKind};
use crate::report::{Finding, Status};

use super::env::{EnvSource, containers};
use super::facts::ClusterFacts;
use super::local::{LocalFacts, TestsEvidence};
use super::yaml::escape;
use super::{Subject, TestStatus, new_finding};

/// One credential found where it does not belong.
struct Hit {
    what: String,
    location: Option<(String, Option<u32>)>,
    subject: Option<String>,
    kind: KeyKind,
}

/// `code.no-hardcoded-credentials`: one failing finding per credential found (so each gets its
/// own file:line annotation), or one passing/skipped finding saying what was looked at.
pub fn no_hardcoded_credentials(
    subjects: &[Subject],
    facts: &ClusterFacts,
    local: &LocalFacts,
) -> Vec<Finding> {
    let id = "code.no-hardcoded-credentials";
    let mut hits: Vec<Hit> = subjects.iter().flat_map(deployment_hits).collect();
    hits.extend(manifest_hits(facts));
    if let Some(scan) = &local.scan {
        hits.extend(scan.hits.iter().map(|hit| Hit {
            what: format!("{} ({}) in source", hit.masked, hit.kind.describe()),
            location: Some((hit.path.clone(), Some(hit.line))),
            subject: None,
            kind: hit.kind,
        }));
    }

    if hits.is_empty() {
        let manifests = format!(
            "no literal key in {} Deployment{}, {} ConfigMap{}{}",
            subjects.len(),
            crate::report::plural(subjects.len()),
            facts.config_maps.len(),
            crate::report::plural(facts.config_maps.len()),
            if facts.authoritative {
                String::new()
            } else {
                format!(
                    " or {} Secret manifest{}",
                    facts.secrets.len(),
                    crate::report::plural(facts.secrets.len())
                )
            }
        );
        return vec![match &local.scan {
            Some(scan) => new_finding(id, Status::Pass).measured(format!(
                "{manifests}; {} files scanned under {} ({} skipped as binary or large), no key found",
                scan.files_scanned,
                scan.root.display(),
                scan.files_skipped
            )),
            None => new_finding(id, Status::Skipped)
                .measured(format!("{manifests}; source not scanned"))
                .remediation("pass --scan PATH to look for keys in the repository"),
        }];
    }
    hits.into_iter()
        .map(|hit| {
            let mut f = new_finding(id, Status::Fail)
                .measured(hit.what)
                .expected("keys only in Secrets (or a vault), never in code or manifests")
                .remediation(if hit.kind.is_secret() {
                    "revoke and rotate this key now (it is in history), then read it from a Secret"
                } else {
                    "move the key to a Secret and read it from the environment"
                });
            if let Some((file, line)) = hit.location {
                f = f.at(file, line);
            }
            if let Some(subject) = hit.subject {
                f = f.subject(subject);
            }
            f
        })
        .collect()
}

/// Literal keys in a Deployment's environment and command lines.
fn deployment_hits(s: &Subject) -> Vec<Hit> {
    let mut hits = Vec::new();
    for var in s.env.vars.iter().filter(|v| v.source == EnvSource::Literal) {
        if let Some(value) = var.value.known() {
            let kind = posthog::classify(value.expose());
            if matches!(kind, KeyKind::Unknown | KeyKind::Unprefixed) {
                continue;
            }
            hits.push(Hit {
                what: format!(
                    "env {} of container {} in deployment/{} is the literal {}",
                    var.name,
                    var.container,
                    s.name,
                    value.masked()
                ),
                location: s.deploy.origin.locate(&var.pointer),
                subject: s.label.clone(),
                kind,
            });
        }
    }
    for (ci, c) in containers(&s.deploy.object).iter().enumerate() {
        let words = c.command.iter().flatten().chain(c.args.iter().flatten());
        for word in words {
            for key in posthog::find_keys(word) {
                hits.push(Hit {
                    what: format!(
                        "command line of container {} in deployment/{} holds {}",
                        c.name, s.name, key.masked
                    ),
                    location: s
                        .deploy
                        .origin
                        .locate(&format!("/spec/template/spec/containers/{ci}")),
                    subject: s.label.clone(),
                    kind: key.kind,
                });
            }
        }
    }
    hits
}

/// Keys in ConfigMaps, and offline in Secret manifests (a key committed to the repository).
fn manifest_hits(facts: &ClusterFacts) -> Vec<Hit> {
    let mut hits = Vec::new();
    for cm in &facts.config_maps {
        for (key, value) in cm.object.data.iter().flatten() {
            for found in posthog::find_keys(value) {
                let pointer = format!("/data/{}", escape(key));
                hits.push(Hit {
                    what: format!(
                        "configmap {} key {key} holds {} (ConfigMaps are not secret)",
                        cm.name(),
                        found.masked
                    ),
                    location: cm.origin.locate(&pointer),
                    subject: None,
                    kind: found.kind,
                });
            }
        }
    }
    if !facts.authoritative {
        // A Secret in the files under review is a key committed to the repository.
        for secret in &facts.secrets {
            for (key, value) in &secret.values {
                let kind = posthog::classify(value.expose());
                if matches!(kind, KeyKind::Unknown | KeyKind::Unprefixed) {
                    continue;
                }
                let pointer = ["stringData", "data"]
                    .iter()
                    .map(|field| format!("/{field}/{}", escape(key)))
                    .find(|p| secret.origin.lines.exact(p).is_some())
                    .unwrap_or_default();
                hits.push(Hit {
                    what: format!(
                        "secret {} key {key} holds {} in plain text in the manifests",
                        secret.name,
                        value.masked()
                    ),
                    location: secret.origin.locate(&pointer),
                    subject: None,
                    kind,
                });
            }
        }
    }
    hits
}

/// `code.tests-passing` from a JUnit report or a CI result in the config, else `manual`.
pub fn tests_passing(local: &LocalFacts) -> Finding {
    let id = "code.tests-passing";
    match &local.tests {
        TestsEvidence::None => new_finding(id, Status::Manual)
            .measured("no test evidence configured")
            .remediation(
                "set preflight.tests.junit (a JUnit XML report) or preflight.tests.status from CI, or attest it",
            ),
        TestsEvidence::Junit {
            file,
            tests,
            failures,
            errors,
        } => {
            let measured = format!("{tests} tests, {failures} failures, {errors} errors");
            let status = if failures + errors > 0 || *tests == 0 {
                Status::Fail
            } else {
                Status::Pass
            };
            new_finding(id, status)
                .measured(measured)
                .expected("at least one test, no failures or errors")
                .evidence(format!("JUnit report {file}"))
                .remediation("fix the failing tests before deploying")
                .at(file.clone(), None)
        }
        TestsEvidence::JunitUnreadable { file, cause } => new_finding(id, Status::Fail)
            .measured(format!("cannot use JUnit report {file}: {cause}"))
            .remediation("run the tests so the report exists, or fix preflight.tests.junit"),
        TestsEvidence::Reported { status, link } => {
            let f = match status {
                TestStatus::Passed => new_finding(id, Status::Pass).measured("CI reports passed"),
                TestStatus::Failed => new_finding(id, Status::Fail)
                    .measured("CI reports failed")
                    .remediation("fix the failing tests before deploying"),
            };
            match link {
                Some(link) => f.evidence(link.clone()),
                None => f.evidence("preflight.tests.status in the config"),
            }
        }
    }
}

/// Lines of step 2 only a person can vouch for.
pub fn attestations() -> Vec<Finding> {
    ["code.error-handling", "code.production-logging"]
        .into_iter()
        .map(|id| {
            new_finding(id, Status::Manual).remediation(format!(
                "review the code, then attest it under attestations.{id} in kubectl-posthog.yaml"
            ))
        })
        .collect()
}

/// `code.rate-limit-backoff`: the runbook's request-queuing switch in the Deployment, else `manual`.
pub fn rate_limit_backoff(s: &Subject) -> Finding {
    let id = "code.rate-limit-backoff";
    let name = &s.names.rate_limit_env;
    match s.env.get(name) {
        Some(var) => {
            let value = var
                .value
                .known()
                .map(|v| v.expose().trim().to_string())
                .unwrap_or_else(|| format!("from {}", var.source.describe()));
            s.locate(
                s.finding(id, Status::Pass)
                    .measured(format!("{name} is set ({value}): the runbook's queuing switch exists")),
                &var.pointer,
            )
        }
        None => s
            .finding(id, Status::Manual)
            .measured(format!("no {name} switch in the Deployment"))
            .remediation(format!(
                "attest under attestations.{id} that the client backs off on 429 (honouring Retry-After), or add {name}"
            )),
    }
}
