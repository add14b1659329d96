//! The files `--fix` writes for a Deployment with every fixable gap (end-to-end tests build them
//! with the real `kubectl kustomize` and run the checklist on the result).

use super::*;
use crate::checks::Sections;
use crate::checks::manifests::add_text;

const GAPS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  replicas: 3
  revisionHistoryLimit: 0
  progressDeadlineSeconds: 3600
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/web:1
          ports: [{name: http, containerPort: 8080}]
          env:
            - name: POSTHOG_API_KEY
              value: phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u
"#;

#[test]
fn every_fixable_gap_gets_a_fix_and_the_key_never_leaves_the_input() {
    let config = crate::config::Config::default();
    let mut facts = ClusterFacts::default();
    add_text(&mut facts, "gaps.yaml", GAPS, "default").unwrap();
    facts.files = vec!["gaps.yaml".into()];
    facts.texts = vec![GAPS.into()];
    let sections = Sections {
        names: &config.names,
        thresholds: &config.thresholds,
        posthog: &config.posthog,
        canary_steps: config.canary.steps.as_deref(),
    };
    let subjects = vec![Subject::new(&facts.deployments[0], &facts, sections, false)];
    let table = Table::new(&config.preflight, &config.canary).unwrap();
    let mut findings = Vec::new();
    for s in &subjects {
        findings.extend(crate::checks::configuration::check(
            s,
            &crate::checks::tests::remote_ok(),
        ));
        findings.extend(crate::checks::infrastructure::check(s));
        findings.extend(crate::checks::availability::check(
            s,
            &crate::checks::tests::remote_ok(),
        ));
        findings.push(crate::checks::code_quality::rate_limit_backoff(s));
    }
    findings.extend(crate::checks::alerts::alerting(&facts, &table));
    let set = plan(&Inputs {
        subjects: &subjects,
        findings: &findings,
        facts: &facts,
        texts: &facts.texts,
        table: &table,
        naming: Naming::from_config(&config.canary),
        rules: &config.preflight.alert_rules,
        live: false,
    })
    .unwrap();
    let mut ids: Vec<&str> = set.fixes.iter().map(|f| f.finding.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "code.rate-limit-backoff",
            "config.api-key-from-secret",
            "infra.alerting",
            "infra.circuit-breaker",
            "infra.graceful-degradation",
            "infra.liveness-probe",
            "infra.pdb",
            "infra.progress-deadline",
            "infra.readiness-probe",
            "infra.rollback-history",
            "infra.rolling-update",
            "infra.termination-grace",
        ]
    );
    let file = |name: &str| {
        set.files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in {:?}",
                    set.files.iter().map(|f| &f.0).collect::<Vec<_>>()
                )
            })
    };
    let patch = file("patches/deployment-prod-web.yaml");
    assert!(patch.contains("secretKeyRef"), "{patch}");
    assert!(patch.contains("port: http"), "{patch}");
    assert!(!patch.contains("phc_"), "{patch}");
    let secret = file("secret-posthog-secrets.yaml");
    assert!(secret.contains("api-key: \"\""), "{secret}");
    assert!(!secret.contains("phc_a1"), "{secret}");
    let rule = file("prometheusrule-prod-web.yaml");
    assert!(rule.contains("PostHogApiDown"), "{rule}");
    assert!(
        rule.contains(r#"pod=~\"web-[a-z0-9]+-[a-z0-9]+\""#)
            || rule.contains(r#"pod=~"web-[a-z0-9]+-[a-z0-9]+""#),
        "{rule}"
    );
    let kustomization = file("kustomization.yaml");
    assert!(
        kustomization.contains("input/01-gaps.yaml"),
        "{kustomization}"
    );
    assert!(!kustomization.contains("secret-"), "{kustomization}");
    let fixes = file("FIXES.md");
    assert!(fixes.contains("| `infra.pdb` |"), "{fixes}");
}
