//! Step 1, where the Deployment sends data: the PostHog host (a known region or the configured
//! self-hosted host) and webhook endpoints (HTTPS, secrets from Secrets).

use crate::posthog::{self, Region};
use crate::report::{Finding, Status};

use super::configuration::move_to_secret;
use super::env::{EnvValue, EnvVar};
pub use super::region::{RegionChoice, region_for};
use super::{Subject, join};

pub fn check(s: &Subject, posthog_host: Option<&str>) -> Vec<Finding> {
    vec![
        webhook_https(s),
        webhook_secret(s),
        posthog_host_check(s, posthog_host),
    ]
}

fn is_webhook_url_var(var: &EnvVar) -> bool {
    let name = var.name.to_ascii_uppercase();
    name.contains("WEBHOOK") && !is_secretish(&name)
}

fn is_secretish(name: &str) -> bool {
    ["SECRET", "TOKEN", "SIGNING", "KEY", "PASSWORD"]
        .iter()
        .any(|w| name.contains(w))
}

fn webhook_https(s: &Subject) -> Finding {
    let id = "config.webhook-https";
    let vars: Vec<&EnvVar> = s
        .env
        .vars
        .iter()
        .filter(|v| is_webhook_url_var(v))
        .collect();
    if vars.is_empty() {
        return s
            .finding(id, Status::Skipped)
            .measured("no webhook endpoint configured (no variable named *WEBHOOK*)");
    }
    let mut parts = Vec::new();
    let mut bad: Option<&EnvVar> = None;
    for var in &vars {
        match &var.value {
            EnvValue::Known(v) => {
                let text = v.expose().trim();
                // A webhook URL is a credential (a token in its query, a Slack secret path).
                let shown = crate::redact::mask_url(text);
                if text.starts_with("https://") {
                    parts.push(format!("{} = {shown}", var.name));
                } else {
                    parts.push(format!("{} = {shown} (not HTTPS)", var.name));
                    bad.get_or_insert(var);
                }
            }
            EnvValue::Absent(why) | EnvValue::Unknown(why) => {
                parts.push(format!("{}: {why}", var.name))
            }
        }
    }
    match bad {
        Some(var) => s.locate(
            s.finding(id, Status::Fail)
                .measured(join(parts))
                .expected("https:// URLs")
                .remediation("serve the webhook endpoint over TLS and use its https:// URL"),
            &var.pointer,
        ),
        None => s.finding(id, Status::Pass).measured(join(parts)),
    }
}

fn webhook_secret(s: &Subject) -> Finding {
    let id = "config.webhook-secret";
    let vars: Vec<&EnvVar> = s
        .env
        .vars
        .iter()
        .filter(|v| {
            let name = v.name.to_ascii_uppercase();
            name.contains("WEBHOOK") && is_secretish(&name)
        })
        .collect();
    if vars.is_empty() {
        return s
            .finding(id, Status::Skipped)
            .measured("no webhook secret configured (no *WEBHOOK*SECRET/TOKEN/KEY variable)");
    }
    let bad = vars.iter().find(|v| !v.source.from_secret());
    let parts = vars
        .iter()
        .map(|v| format!("{} from {}", v.name, v.source.describe()));
    match bad {
        Some(var) => s.locate(
            s.finding(id, Status::Fail)
                .measured(join(parts))
                .expected("from a Secret")
                .remediation(move_to_secret(s, &var.name)),
            &var.pointer,
        ),
        None => s.finding(id, Status::Pass).measured(join(parts)),
    }
}

fn posthog_host_check(s: &Subject, posthog_host: Option<&str>) -> Finding {
    let id = "config.posthog-host";
    let name = &s.names.host_env;
    let Some(var) = s.env.get(name) else {
        return s
            .finding(id, Status::Warn)
            .measured(format!("{name} is not set: the SDKs default to https://us.i.posthog.com"))
            .remediation(format!("set {name} to your region's host (https://us.i.posthog.com or https://eu.i.posthog.com)"));
    };
    let value = match &var.value {
        EnvValue::Known(v) => v.expose().trim().to_string(),
        EnvValue::Absent(why) | EnvValue::Unknown(why) => {
            return s.locate(
                s.finding(id, Status::Skipped)
                    .measured(format!("{name}: value not available ({why})")),
                &var.pointer,
            );
        }
    };
    let configured = posthog_host.or(s.posthog.host.as_deref());
    let finding = match Region::from_host(&value) {
        None => s
            .finding(id, Status::Fail)
            .measured(format!("{name} = {value:?} is not a URL"))
            .remediation("use https://us.i.posthog.com, https://eu.i.posthog.com or your own host"),
        Some(region @ (Region::Us | Region::Eu)) => {
            let expected = s.posthog.region.map(Region::from_name);
            if value.starts_with("http://") {
                s.finding(id, Status::Fail)
                    .measured(format!("{name} = {value} uses plain HTTP"))
                    .remediation("use https://")
            } else if let Some(expected) = expected.filter(|e| *e != region) {
                s.finding(id, Status::Fail)
                    .measured(format!(
                        "{name} = {value} ({} Cloud)",
                        region.name().to_uppercase()
                    ))
                    .expected(format!(
                        "the {} region set in posthog.region",
                        expected.name()
                    ))
                    .remediation(
                        "a key only works in its own region: fix the host or posthog.region",
                    )
            } else {
                s.finding(id, Status::Pass).measured(format!(
                    "{name} = {value} ({} Cloud)",
                    region.name().to_uppercase()
                ))
            }
        }
        Some(Region::SelfHosted(url)) => {
            let matches = configured
                .and_then(posthog::parse_host_url)
                .is_some_and(|c| {
                    c.host_str() == url.host_str()
                        && c.port_or_known_default() == url.port_or_known_default()
                });
            if matches {
                s.finding(id, Status::Pass).measured(format!(
                    "{name} = {value} (the configured self-hosted host)"
                ))
            } else {
                s.finding(id, Status::Fail)
                    .measured(format!("{name} = {value}: not a PostHog Cloud host"))
                    .expected("us.i.posthog.com, eu.i.posthog.com, or posthog.host in the config")
                    .remediation("fix the host, or set posthog.host in kubectl-posthog.yaml for a self-hosted PostHog or a reverse proxy")
            }
        }
    };
    s.locate(finding, &var.pointer)
}
