//! Step 1, pre-deployment configuration: where the API key comes from, that the Secrets it names
//! hold it, required variables, and the key's kind and scopes. (Hosts and webhooks: [`super::endpoints`].)

use crate::posthog::{self, KeyKind, PersonalKeyCheck};
use crate::report::{Finding, Severity, Status};

use super::env::{EnvSource, EnvValue, EnvVar};
use super::remote::{Probe, SubjectRemote};
use super::{Subject, join};

pub fn check(subject: &Subject, remote: &SubjectRemote) -> Vec<Finding> {
    vec![
        api_key_from_secret(subject),
        secret_present(subject),
        required_env(subject),
        key_kind(subject),
        key_scopes(subject, remote),
    ]
}

fn api_key_from_secret(s: &Subject) -> Finding {
    let name = &s.names.api_key_env;
    let id = "config.api-key-from-secret";
    let Some(var) = s.env.get(name) else {
        if let Some(opaque) = s.env.opaque.iter().find(|o| o.source.from_secret()) {
            return s.locate(
                s.finding(id, Status::Pass).measured(format!(
                    "{name} may come from {} ({})",
                    opaque.source.describe(),
                    opaque.reason
                )),
                &opaque.pointer,
            );
        }
        return s
            .finding(id, Status::Fail)
            .measured(format!("{name} is not set in any container"))
            .expected(format!("{name} from a secretKeyRef or envFrom secretRef"))
            .remediation(format!(
                "add env {name} with valueFrom.secretKeyRef {{name: {}, key: {}}}",
                s.names.secret, s.names.secret_key
            ));
    };
    let finding = match &var.source {
        source if source.from_secret() => s
            .finding(id, Status::Pass)
            .measured(format!("{name} from {}", source.describe())),
        EnvSource::Literal => s
            .finding(id, Status::Fail)
            .measured(format!(
                "{name} is a literal in container {}{}",
                var.container,
                var.value
                    .known()
                    .map(|v| format!(": {}", v.masked()))
                    .unwrap_or_default()
            ))
            .expected("a secretKeyRef or envFrom secretRef")
            .remediation(move_to_secret(s, name)),
        other => s
            .finding(id, Status::Fail)
            .measured(format!("{name} from {}", other.describe()))
            .expected("a Secret: ConfigMaps and the downward API are not for keys")
            .remediation(move_to_secret(s, name)),
    };
    s.locate(finding, &var.pointer)
}

pub(crate) fn move_to_secret(s: &Subject, name: &str) -> String {
    format!(
        "kubectl create secret generic {} --from-literal={}=… and set {name} from valueFrom.secretKeyRef; rotate the key if it was ever committed",
        s.names.secret, s.names.secret_key
    )
}

fn secret_present(s: &Subject) -> Finding {
    let id = "config.secret-present";
    let refs: Vec<&EnvVar> = s
        .env
        .vars
        .iter()
        .filter(|v| matches!(v.source, EnvSource::SecretKey { .. }))
        .collect();
    let mut parts = Vec::new();
    let mut failing: Option<String> = None;
    let mut warning: Option<String> = None;
    let mut known = 0;
    let mut unknown = Vec::new();
    for var in &refs {
        let EnvSource::SecretKey {
            secret,
            key,
            optional,
        } = &var.source
        else {
            continue;
        };
        match &var.value {
            EnvValue::Known(_) => {
                known += 1;
                parts.push(format!("{secret}/{key} present, non-empty"));
            }
            EnvValue::Absent(why) => {
                parts.push(format!("{} ({why})", var.name));
                let slot = if *optional {
                    &mut warning
                } else {
                    &mut failing
                };
                slot.get_or_insert_with(|| var.pointer.clone());
            }
            EnvValue::Unknown(why) => unknown.push(why.clone()),
        }
    }
    for opaque in s.env.opaque.iter().filter(|o| o.source.from_secret()) {
        unknown.push(opaque.reason.clone());
    }
    // envFrom Secrets that were found but are missing entirely show up as no variables at all.
    if s.facts.authoritative {
        for (ci, c) in super::env::containers(&s.deploy.object).iter().enumerate() {
            for (fi, from) in c.env_from.iter().flatten().enumerate() {
                if let Some(r) = &from.secret_ref
                    && matches!(
                        s.facts.secret(&s.namespace, &r.name),
                        super::facts::Lookup::Missing
                    )
                {
                    parts.push(format!("envFrom secret {} does not exist", r.name));
                    if !r.optional.unwrap_or(false) {
                        failing.get_or_insert_with(|| {
                            format!("/spec/template/spec/containers/{ci}/envFrom/{fi}")
                        });
                    }
                }
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    if refs.is_empty() && parts.is_empty() && unknown.is_empty() {
        return s
            .finding(id, Status::Skipped)
            .measured("the Deployment references no Secret");
    }
    let status = if failing.is_some() {
        Status::Fail
    } else if warning.is_some() {
        Status::Warn
    } else if known == 0 {
        Status::Skipped
    } else {
        Status::Pass
    };
    parts.extend(unknown);
    let finding = s
        .finding(id, status)
        .measured(join(parts))
        .expected("every referenced Secret key exists and is non-empty (values are never shown)")
        .evidence(if s.facts.authoritative {
            "Secrets read from the cluster"
        } else {
            "Secrets in the given manifests"
        })
        .remediation(format!(
            "create the key: kubectl create secret generic {} --from-literal={}=… --dry-run=client -o yaml | kubectl apply -f -",
            s.names.secret, s.names.secret_key
        ));
    match failing.or(warning) {
        Some(pointer) => s.locate(finding, &pointer),
        None => finding,
    }
}

fn required_env(s: &Subject) -> Finding {
    let id = "config.required-env";
    let mut missing = Vec::new();
    let mut parts = Vec::new();
    for name in &s.names.required_env {
        match s.env.get(name) {
            Some(var) => match &var.value {
                EnvValue::Absent(why) => missing.push(format!("{name} ({why})")),
                _ => parts.push(format!("{name} from {}", var.source.describe())),
            },
            None => match s.env.opaque.first() {
                Some(opaque) => parts.push(format!(
                    "{name} possibly from {} (not verifiable: {})",
                    opaque.source.describe(),
                    opaque.reason
                )),
                None => missing.push(format!("{name} (not set)")),
            },
        }
    }
    let finding = if missing.is_empty() {
        s.finding(id, Status::Pass).measured(join(parts))
    } else {
        s.finding(id, Status::Fail)
            .measured(join(missing))
            .expected(format!("set: {}", s.names.required_env.join(", ")))
            .remediation(
                "set the variables in the Deployment (names.requiredEnv in the config lists them)",
            )
    };
    s.locate(finding, "/spec/template/spec/containers")
}

fn key_kind(s: &Subject) -> Finding {
    let id = "config.key-kind";
    let name = &s.names.api_key_env;
    let Some(var) = s.env.get(name) else {
        return s
            .finding(id, Status::Skipped)
            .measured(format!("{name} is not set"));
    };
    let value = match &var.value {
        EnvValue::Known(value) => value,
        EnvValue::Absent(why) | EnvValue::Unknown(why) => {
            return s
                .finding(id, Status::Skipped)
                .measured(format!("{name}: value not available ({why})"));
        }
    };
    let kind = posthog::classify(value.expose());
    let measured = format!("{name} holds {}, a {}", value.masked(), kind.describe());
    let finding = match kind {
        KeyKind::Project => s.finding(id, Status::Pass).measured(measured),
        KeyKind::Unprefixed => {
            let mut f = s.finding(id, Status::Warn).measured(measured).remediation(
                "use the phc_ project key from Project settings; old unprefixed keys still work",
            );
            f.severity = Severity::P4;
            f
        }
        KeyKind::Unknown => s
            .finding(id, Status::Warn)
            .measured(measured)
            .expected("a phc_ project API key")
            .remediation("copy the project API key (phc_…) from PostHog Project settings"),
        _ => s
            .finding(id, Status::Fail)
            .measured(measured)
            .expected("a phc_ project API key: ingestion rejects every phx_ token")
            .remediation(
                "put the project key (phc_…) in the Secret and revoke the exposed personal/secret key",
            ),
    };
    s.locate(finding, &var.pointer)
}

fn key_scopes(s: &Subject, remote: &SubjectRemote) -> Finding {
    let id = "config.key-scopes";
    if remote.personal_keys.is_empty() {
        return s.finding(id, Status::Pass).measured(format!(
            "no personal or secret key in {}: only the project key, which can send events and read flags",
            s.names.personal_key_env.join(", ")
        ));
    }
    let mut parts = Vec::new();
    let mut status = Status::Pass;
    for key in &remote.personal_keys {
        match &key.result {
            Probe::Done(PersonalKeyCheck::Valid(info)) => {
                parts.push(format!(
                    "{} {}: scopes {}",
                    key.env,
                    key.masked,
                    info.scopes.join(", ")
                ));
                if info.is_unrestricted() {
                    status = Status::Fail;
                }
            }
            Probe::Done(PersonalKeyCheck::Rejected { status: code, .. }) => {
                parts.push(format!(
                    "{} {}: rejected ({code}), scopes unknown",
                    key.env, key.masked
                ));
                status = worse(status, Status::Skipped);
            }
            Probe::Failed(cause) | Probe::RateLimited(cause) => {
                parts.push(format!(
                    "{} {}: scopes unknown: {cause}",
                    key.env, key.masked
                ));
                status = worse(status, Status::Warn);
            }
            Probe::Skipped(why) => {
                parts.push(format!("{}: {why}", key.env));
                status = worse(status, Status::Skipped);
            }
        }
    }
    s.finding(id, status)
        .measured(join(parts))
        .expected("explicit scopes, not *; local flag evaluation needs only feature_flag:read (or a phs_ key)")
        .evidence("GET /api/personal_api_keys/@current/")
        .remediation("create a key with only the scopes the service uses (e.g. feature_flag:read) and revoke the * key")
}

/// The more alarming of two statuses (fail > warn > skipped > pass).
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Fail => 4,
        Status::Warn => 3,
        Status::Manual => 2,
        Status::Skipped => 1,
        Status::Pass => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}
