//! The config file's say over findings: checks disabled (with their reason), lines attested by a
//! person, and severity overrides. Validated first, so an unknown id or a bad date is an error.

use std::collections::{BTreeMap, HashSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::config::{Attestation, Disabled, SeverityName};
use crate::error::{Error, Result};
use crate::report::{Finding, Status};

use super::catalog;

/// The config file's say over findings: its `severity`, `attestations` and `disabled` entries.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub severity: &'a BTreeMap<String, SeverityName>,
    pub attestations: &'a BTreeMap<String, Attestation>,
    pub disabled: &'a [Disabled],
}

fn known(id: &str, section: &str) -> Result<()> {
    if catalog::find(id).is_some() {
        return Ok(());
    }
    let near: Vec<&str> = catalog::CHECKS
        .iter()
        .map(|c| c.id)
        .filter(|c| c.split('.').next() == id.split('.').next())
        .collect();
    Err(Error::Input(format!(
        "{section}: unknown check id {id:?}{}",
        if near.is_empty() {
            String::from("; ids look like config.api-key-from-secret (see docs/config.md)")
        } else {
            format!("; did you mean one of {}", near.join(", "))
        }
    )))
}

/// `2026-03-01` or `2026-03-01T10:00:00Z`, as a calendar date in UTC.
fn parse_date(text: &str) -> Option<Date> {
    if let Ok(date) = text.trim().parse::<Date>() {
        return Some(date);
    }
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.to_zoned(TimeZone::UTC).date())
}

/// Rejects ids that do not exist, disabled checks without a reason and attestations without a
/// person or a valid date (a date in the future is refused: nobody attests ahead of time).
pub fn validate(config: &Policy, now: jiff::Timestamp) -> Result<()> {
    let today = now.to_zoned(TimeZone::UTC).date();
    for id in config.severity.keys() {
        known(id, "severity")?;
    }
    for disabled in config.disabled {
        known(&disabled.id, "disabled")?;
        if disabled.reason.trim().is_empty() {
            return Err(Error::Input(format!(
                "disabled: {} needs a reason (why does the check not apply here?)",
                disabled.id
            )));
        }
    }
    for (id, attestation) in config.attestations {
        known(id, "attestations")?;
        if attestation.by.trim().is_empty() {
            return Err(Error::Input(format!(
                "attestations.{id}.by: say who attests"
            )));
        }
        let at = parse_date(&attestation.at).ok_or_else(|| {
            Error::Input(format!(
                "attestations.{id}.at: {:?} is not a date such as 2026-03-01",
                attestation.at
            ))
        })?;
        if at > today {
            return Err(Error::Input(format!(
                "attestations.{id}.at: {at} is in the future"
            )));
        }
        if let Some(expires) = &attestation.expires {
            parse_date(expires).ok_or_else(|| {
                Error::Input(format!(
                    "attestations.{id}.expires: {expires:?} is not a date such as 2026-09-01"
                ))
            })?;
        }
    }
    Ok(())
}

/// Applies disabled checks, attestations and severity overrides, in that order.
pub fn apply(findings: Vec<Finding>, config: &Policy, now: jiff::Timestamp) -> Vec<Finding> {
    let today = now.to_zoned(TimeZone::UTC).date();
    let mut seen_disabled = HashSet::new();
    let mut out = Vec::with_capacity(findings.len());
    for mut finding in findings {
        if let Some(disabled) = config.disabled.iter().find(|d| d.id == finding.id) {
            // One line per check (and subject) is enough for something turned off.
            if !seen_disabled.insert((finding.id.clone(), finding.subject.clone())) {
                continue;
            }
            finding.status = Status::Skipped;
            finding.measured = Some(format!("disabled in the config: {}", disabled.reason));
            finding.expected = None;
            finding.remediation = None;
            finding.location = None;
        } else if matches!(finding.status, Status::Manual | Status::Skipped)
            && let Some(attestation) = config.attestations.get(&finding.id)
        {
            attest(&mut finding, attestation, today);
        }
        if let Some(severity) = config.severity.get(&finding.id) {
            finding.severity = (*severity).into();
        }
        out.push(finding);
    }
    out
}

fn attest(finding: &mut Finding, attestation: &Attestation, today: Date) {
    let expired = attestation
        .expires
        .as_deref()
        .and_then(parse_date)
        .filter(|e| *e < today);
    let mut text = format!("attested by {} on {}", attestation.by, attestation.at);
    if let Some(note) = &attestation.note {
        text.push_str(&format!(" ({note})"));
    }
    if let Some(expired) = expired {
        finding.status = Status::Manual;
        finding.measured = Some(format!("{text}; expired on {expired}"));
        finding.remediation = Some(format!(
            "review it again and renew attestations.{} in kubectl-posthog.yaml",
            finding.id
        ));
        return;
    }
    finding.status = Status::Pass;
    finding.measured = Some(text);
    finding.remediation = None;
    if let Some(link) = &attestation.link {
        finding.evidence = Some(link.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::new_finding;
    use crate::report::Severity;

    fn now() -> jiff::Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn config(yaml: &str) -> crate::config::Config {
        crate::config::Config::parse(yaml).unwrap()
    }

    fn policy(config: &crate::config::Config) -> Policy<'_> {
        Policy {
            severity: &config.severity,
            attestations: &config.attestations,
            disabled: &config.disabled,
        }
    }

    #[test]
    fn unknown_ids_and_missing_reasons_are_errors() {
        let err = validate(&policy(&config("severity: {infra.pbd: p1}")), now()).unwrap_err();
        assert!(err.to_string().contains("did you mean"), "{err}");
        assert_eq!(err.exit().code(), 2);
        let err = validate(
            &policy(&config("disabled: [{id: infra.pdb, reason: \"  \"}]")),
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("needs a reason"), "{err}");
    }

    #[test]
    fn attestation_dates_are_checked() {
        let future = config("attestations: {docs.on-call: {by: a, at: 2027-01-01}}");
        assert!(
            validate(&policy(&future), now())
                .unwrap_err()
                .to_string()
                .contains("future")
        );
        let bad = config("attestations: {docs.on-call: {by: a, at: yesterday}}");
        assert!(validate(&policy(&bad), now()).is_err());
        let ok = config("attestations: {docs.on-call: {by: a, at: 2026-05-01T09:00:00Z}}");
        validate(&policy(&ok), now()).unwrap();
    }

    #[test]
    fn attestation_turns_manual_into_pass_until_it_expires() {
        let cfg = config(
            "attestations:
  docs.on-call: {by: alice, at: 2026-05-01, link: https://wiki/oncall}
  code.error-handling: {by: bob, at: 2025-01-01, expires: 2026-01-01}
",
        );
        let findings = apply(
            vec![
                new_finding("docs.on-call", Status::Manual),
                new_finding("code.error-handling", Status::Manual),
                new_finding("infra.pdb", Status::Fail),
            ],
            &policy(&cfg),
            now(),
        );
        assert_eq!(findings[0].status, Status::Pass);
        assert_eq!(
            findings[0].measured.as_deref(),
            Some("attested by alice on 2026-05-01")
        );
        assert_eq!(findings[0].evidence.as_deref(), Some("https://wiki/oncall"));
        assert_eq!(findings[1].status, Status::Manual);
        assert!(
            findings[1]
                .measured
                .as_deref()
                .unwrap()
                .contains("expired on 2026-01-01")
        );
        assert_eq!(findings[2].status, Status::Fail);
    }

    #[test]
    fn a_measured_failure_is_not_overridden_by_an_attestation() {
        let cfg = config("attestations: {infra.pdb: {by: a, at: 2026-01-01}}");
        let findings = apply(
            vec![new_finding("infra.pdb", Status::Fail)],
            &policy(&cfg),
            now(),
        );
        assert_eq!(findings[0].status, Status::Fail);
    }

    #[test]
    fn disabled_and_severity() {
        let cfg = config(
            "disabled: [{id: code.no-hardcoded-credentials, reason: scanned elsewhere}]\nseverity: {infra.pdb: p1}\n",
        );
        let findings = apply(
            vec![
                new_finding("code.no-hardcoded-credentials", Status::Fail).at("a.js", Some(1)),
                new_finding("code.no-hardcoded-credentials", Status::Fail).at("b.js", Some(2)),
                new_finding("infra.pdb", Status::Fail),
            ],
            &policy(&cfg),
            now(),
        );
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].status, Status::Skipped);
        assert_eq!(
            findings[0].measured.as_deref(),
            Some("disabled in the config: scanned elsewhere")
        );
        assert_eq!(findings[1].severity, Severity::P1);
    }
}
