//! Every check passing and failing, on facts built from manifests in the test (the weakest test
//! that proves the point: no cluster, no network). Remote answers are constructed directly.

use std::time::Duration;

use crate::config::Config;
use crate::posthog::client::PersonalKeyInfo;
use crate::posthog::{
    PersonalKeyCheck, ProjectKeyCheck, Region, StatusIncident, StatusSnapshot, StatusSource,
};
use crate::report::{Finding, Severity, Status};

use super::checklist::{Inputs, evaluate};
use super::endpoints::RegionChoice;
use super::facts::ClusterFacts;
use super::local::{LocalFacts, TestsEvidence};
use super::manifests::add_text;
use super::policy::Policy;
use super::remote::{HealthAnswer, PersonalKeyResult, Probe, SharedRemote, SubjectRemote};
use super::scan::ScanResult;
use super::{Sections, Subject, TestStatus};

/// A Deployment that passes every machine check, with its Secret, Service, PDB and alert rules.
pub(crate) const GOOD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: posthog-integration
  annotations:
    kubectl-posthog/runbook: https://wiki.example.com/runbooks/posthog
spec:
  replicas: 3
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: posthog-integration}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: posthog-integration}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: app
          image: ghcr.io/acme/app@sha256:0123456789abcdef
          env:
            - name: POSTHOG_API_KEY
              valueFrom:
                secretKeyRef: {name: posthog-secrets, key: api-key}
            - name: POSTHOG_HOST
              value: https://eu.i.posthog.com
            - name: POSTHOG_WEBHOOK_URL
              value: https://hooks.example.com/posthog
            - name: POSTHOG_WEBHOOK_SECRET
              valueFrom:
                secretKeyRef: {name: posthog-secrets, key: webhook-secret}
            - name: POSTHOG_FALLBACK
              value: "false"
            - name: POSTHOG_CIRCUIT_BREAKER
              value: "on"
            - name: RATE_LIMIT_MODE
              value: queue
          readinessProbe:
            httpGet: {path: /health, port: 8080}
          livenessProbe:
            httpGet: {path: /livez, port: 8080}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
---
apiVersion: v1
kind: Secret
metadata: {name: posthog-secrets}
stringData:
  api-key: phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u
  webhook-secret: whsec_0123456789
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: posthog-integration}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: posthog-integration}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: posthog-alerts}
spec:
  groups:
    - name: posthog
      rules:
        - alert: PostHogApiDown
          expr: sum(increase(http_requests_total{app="posthog-integration",status=~"5.."}[1m])) > 10
          labels: {severity: P1}
        - alert: PostHogHighLatency
          expr: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 5
          labels: {severity: P2}
        - alert: PostHogRateLimited
          expr: sum(increase(posthog_errors_total{status="429"}[1m])) > 5
          labels: {severity: P2}
        - alert: PostHogAuthFailures
          expr: sum(increase(posthog_errors_total{status=~"401|403"}[5m])) > 0
          labels: {severity: P1}
"#;

pub(crate) fn now() -> jiff::Timestamp {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

/// Live-like facts: Secrets known and authoritative, as the cluster would give them.
fn facts(yaml: &str) -> ClusterFacts {
    let mut facts = ClusterFacts::default();
    add_text(&mut facts, "k8s/prod.yaml", yaml, "default").unwrap();
    facts.authoritative = true;
    facts
}

pub(crate) fn remote_ok() -> SubjectRemote {
    SubjectRemote {
        region: RegionChoice {
            region: Region::Eu,
            from: "POSTHOG_HOST".to_string(),
        },
        health: Probe::Done(HealthAnswer {
            via: "GET /health".to_string(),
            status: 200,
            body: r#"{"status":"healthy","posthog":{"connected":true,"latencyMs":12}}"#.to_string(),
            elapsed: Duration::from_millis(5),
        }),
        project_key: Probe::Done(ProjectKeyCheck::Valid { flags: 2 }),
        project_key_source: Some(
            "POSTHOG_API_KEY from secret posthog-secrets: phc_…9T0u".to_string(),
        ),
        personal_keys: vec![],
        status: Probe::Done(StatusSnapshot {
            source: StatusSource::IncidentIo,
            page_url: "https://www.posthogstatus.com/".to_string(),
            incidents: vec![],
            other_regions: 0,
            indicator: None,
        }),
        ingest: url::Url::parse("https://eu.i.posthog.com/").unwrap(),
        app: url::Url::parse("https://eu.posthog.com/").unwrap(),
    }
}

fn shared_ok() -> SharedRemote {
    SharedRemote {
        staging: Probe::Done(HealthAnswer {
            via: "GET https://staging.example.com/health".to_string(),
            status: 200,
            body: r#"{"status":"healthy","posthog":{"connected":true,"latencyMs":9}}"#.to_string(),
            elapsed: Duration::from_millis(20),
        }),
    }
}

fn local_ok() -> LocalFacts {
    let mut local = LocalFacts {
        root: ".".into(),
        tests: TestsEvidence::Junit {
            file: "reports/junit.xml".to_string(),
            tests: 120,
            failures: 0,
            errors: 0,
        },
        scan: Some(ScanResult {
            root: ".".into(),
            files_scanned: 10,
            files_skipped: 0,
            hits: vec![],
        }),
        ..LocalFacts::default()
    };
    for id in super::local::DOC_CHECKS {
        local.docs.insert(id, Some(format!("docs/{id}.md")));
    }
    local
}

struct Case {
    facts: ClusterFacts,
    config: Config,
    remote: SubjectRemote,
    shared: SharedRemote,
    local: LocalFacts,
}

impl Case {
    fn new(yaml: &str) -> Case {
        Case {
            facts: facts(yaml),
            config: Config::default(),
            remote: remote_ok(),
            shared: shared_ok(),
            local: local_ok(),
        }
    }

    fn good() -> Case {
        Case::new(GOOD)
    }

    fn config(mut self, yaml: &str) -> Case {
        self.config = Config::parse(yaml).unwrap();
        self
    }

    fn run(&self) -> Vec<Finding> {
        let sections = Sections {
            names: &self.config.names,
            thresholds: &self.config.thresholds,
            posthog: &self.config.posthog,
            canary_steps: self.config.canary.steps.as_deref(),
        };
        let subjects = vec![Subject::new(
            &self.facts.deployments[0],
            &self.facts,
            sections,
            false,
        )];
        let remotes = vec![self.remote.clone()];
        let alert_table =
            super::alerts::Table::new(&self.config.preflight, &self.config.canary).unwrap();
        evaluate(
            &Inputs {
                subjects: &subjects,
                remotes: &remotes,
                shared: &self.shared,
                local: &self.local,
                facts: &self.facts,
                alert_table: &alert_table,
                canary_queries: &[],
                policy: Policy {
                    severity: &self.config.severity,
                    attestations: &self.config.attestations,
                    disabled: &self.config.disabled,
                },
                posthog_host: None,
                status_url: Some("https://www.posthogstatus.com/api/v1/summary"),
            },
            now(),
        )
    }
}

fn find<'a>(findings: &'a [Finding], id: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

fn status(findings: &[Finding], id: &str) -> Status {
    find(findings, id).status
}

fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "GOOD lacks {from:?}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_good_deployment_passes_every_check() {
    let case = Case::good().config(
        "attestations:
  code.error-handling: {by: alice, at: 2026-05-01}
  code.production-logging: {by: alice, at: 2026-05-01}
",
    );
    let findings = case.run();
    let not_passing: Vec<String> = findings
        .iter()
        .filter(|f| {
            f.status != Status::Pass
                && f.id != "rollout.personal-key-valid"
                && f.id != "rollout.canary-query"
        })
        .map(|f| format!("{} {:?} {:?}", f.id, f.status, f.measured))
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    // Every catalog entry produced a finding.
    for def in super::catalog::CHECKS {
        assert!(
            findings.iter().any(|f| f.id == def.id),
            "missing {}",
            def.id
        );
    }
    // No value of a Secret appears anywhere.
    let text = format!("{findings:?}");
    assert!(!text.contains("a1B2c3D4e5F6"), "a key leaked");
    assert!(
        !text.contains("whsec_0123456789"),
        "a webhook secret leaked"
    );
}

#[test]
fn api_key_literal_fails_with_its_line() {
    let yaml = edit(
        "              valueFrom:\n                secretKeyRef: {name: posthog-secrets, key: api-key}",
        "              value: phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u",
    );
    let findings = Case::new(&yaml).run();
    let f = find(&findings, "config.api-key-from-secret");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.location.as_ref().map(|l| l.line), Some(Some(25)));
    assert!(f.measured.as_deref().unwrap().contains("phc_…9T0u"));
    assert_eq!(
        status(&findings, "code.no-hardcoded-credentials"),
        Status::Fail
    );
}

#[test]
fn secret_missing_key_fails_and_missing_env_fails() {
    let yaml = edit("key: api-key}", "key: apikey}");
    let findings = Case::new(&yaml).run();
    let f = find(&findings, "config.secret-present");
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(
        f.measured.as_deref().unwrap().contains("has no key apikey"),
        "{f:?}"
    );
    assert_eq!(status(&findings, "config.required-env"), Status::Fail);

    let yaml = edit(
        "            - name: POSTHOG_HOST\n              value: https://eu.i.posthog.com\n",
        "",
    );
    let findings = Case::new(&yaml).run();
    let f = find(&findings, "config.required-env");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.measured.as_deref(), Some("POSTHOG_HOST (not set)"));
    assert_eq!(status(&findings, "config.posthog-host"), Status::Warn);
}

#[test]
fn personal_key_where_a_project_key_belongs_is_p1() {
    let yaml = edit(
        "api-key: phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u",
        "api-key: phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543",
    );
    let findings = Case::new(&yaml).run();
    let f = find(&findings, "config.key-kind");
    assert_eq!((f.status, f.severity), (Status::Fail, Severity::P1));
    assert_eq!(
        f.measured.as_deref(),
        Some("POSTHOG_API_KEY holds phx_…6543, a personal API key (phx_)")
    );
}

#[test]
fn unrestricted_personal_key_scopes_fail() {
    let mut case = Case::good();
    let info = |scopes: &[&str]| PersonalKeyInfo {
        label: Some("ci".into()),
        mask_value: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        scoped_teams: None,
        scoped_organizations: None,
        last_used_at: None,
    };
    case.remote.personal_keys = vec![PersonalKeyResult {
        env: "POSTHOG_PERSONAL_API_KEY".into(),
        masked: "phx_…6543".into(),
        result: Probe::Done(PersonalKeyCheck::Valid(info(&["feature_flag:read"]))),
    }];
    let findings = case.run();
    assert_eq!(status(&findings, "config.key-scopes"), Status::Pass);
    assert_eq!(
        status(&findings, "rollout.personal-key-valid"),
        Status::Pass
    );

    case.remote.personal_keys[0].result = Probe::Done(PersonalKeyCheck::Valid(info(&["*"])));
    let findings = case.run();
    let f = find(&findings, "config.key-scopes");
    assert_eq!(f.status, Status::Fail);
    assert!(f.measured.as_deref().unwrap().contains("scopes *"), "{f:?}");

    case.remote.personal_keys[0].result = Probe::Done(PersonalKeyCheck::Rejected {
        status: 401,
        detail: "authentication_failed: Invalid personal API key.".into(),
    });
    let findings = case.run();
    assert_eq!(
        status(&findings, "rollout.personal-key-valid"),
        Status::Fail
    );
}

#[test]
fn webhooks_over_http_or_with_literal_secrets_fail() {
    let yaml = edit(
        "https://hooks.example.com/posthog",
        "http://hooks.example.com/posthog",
    );
    let findings = Case::new(&yaml).run();
    let f = find(&findings, "config.webhook-https");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.location.as_ref().and_then(|l| l.line), Some(30));

    let yaml = edit(
        "              valueFrom:\n                secretKeyRef: {name: posthog-secrets, key: webhook-secret}",
        "              value: whsec_inline",
    );
    let findings = Case::new(&yaml).run();
    assert_eq!(status(&findings, "config.webhook-secret"), Status::Fail);
}

#[test]
fn unknown_hosts_fail_unless_configured_as_self_hosted() {
    let yaml = edit(
        "https://eu.i.posthog.com",
        "https://posthog.internal.example",
    );
    let findings = Case::new(&yaml).run();
    assert_eq!(status(&findings, "config.posthog-host"), Status::Fail);
    let findings = Case::new(&yaml)
        .config("posthog: {host: https://posthog.internal.example}")
        .run();
    assert_eq!(status(&findings, "config.posthog-host"), Status::Pass);
    let findings = Case::good().config("posthog: {region: us}").run();
    let f = find(&findings, "config.posthog-host");
    assert_eq!(f.status, Status::Fail, "a key only works in its own region");
}

#[test]
fn scan_hits_and_test_failures_fail() {
    let mut case = Case::good();
    case.local
        .scan
        .as_mut()
        .unwrap()
        .hits
        .push(super::scan::ScanHit {
            path: "src/app.js".into(),
            line: 7,
            column: 14,
            kind: crate::posthog::KeyKind::Personal,
            masked: "phx_…6543".into(),
        });
    case.local.tests = TestsEvidence::Junit {
        file: "junit.xml".into(),
        tests: 10,
        failures: 2,
        errors: 0,
    };
    let findings = case.run();
    let f = find(&findings, "code.no-hardcoded-credentials");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.location.as_ref().map(|l| l.to_string()).as_deref(),
        Some("src/app.js:7")
    );
    assert_eq!(status(&findings, "code.tests-passing"), Status::Fail);

    case.local.scan = None;
    case.local.tests = TestsEvidence::Reported {
        status: TestStatus::Passed,
        link: Some("https://ci.example.com/run/1".into()),
    };
    let findings = case.run();
    assert_eq!(
        status(&findings, "code.no-hardcoded-credentials"),
        Status::Skipped
    );
    assert_eq!(status(&findings, "code.tests-passing"), Status::Pass);
}

#[test]
fn offline_secret_manifests_are_committed_keys() {
    let mut case = Case::good();
    case.facts.authoritative = false;
    let findings = case.run();
    let f = find(&findings, "code.no-hardcoded-credentials");
    assert_eq!(f.status, Status::Fail);
    // stringData.api-key of the Secret document.
    assert_eq!(f.location.as_ref().and_then(|l| l.line), Some(53));
}

#[test]
fn attestation_lines_are_manual_until_attested() {
    let mut case = Case::good();
    let yaml = edit(
        "            - name: RATE_LIMIT_MODE\n              value: queue\n",
        "",
    );
    case.facts = facts(&yaml);
    let findings = case.run();
    for id in [
        "code.error-handling",
        "code.production-logging",
        "code.rate-limit-backoff",
    ] {
        assert_eq!(status(&findings, id), Status::Manual, "{id}");
    }
    case.local.tests = TestsEvidence::None;
    assert_eq!(status(&case.run(), "code.tests-passing"), Status::Manual);
}

#[test]
fn probes_resources_replicas_and_grace() {
    let yaml = edit(
        "          readinessProbe:\n            httpGet: {path: /health, port: 8080}\n",
        "",
    );
    let findings = Case::new(&yaml).run();
    assert_eq!(status(&findings, "infra.readiness-probe"), Status::Fail);
    let yaml = edit(
        "          livenessProbe:\n            httpGet: {path: /livez, port: 8080}\n",
        "",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.liveness-probe"),
        Status::Fail
    );
    let yaml = edit("            limits: {memory: 256Mi}\n", "");
    let f = Case::new(&yaml).run();
    assert_eq!(
        find(&f, "infra.resources").measured.as_deref(),
        Some("app: no limits.memory")
    );
    let yaml = edit("  replicas: 3\n", "  replicas: 1\n");
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.replicas"),
        Status::Fail
    );
    let hpa = format!(
        "{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: h}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: posthog-integration}}\n  minReplicas: 3\n  maxReplicas: 10\n",
        yaml
    );
    let f = Case::new(&hpa).run();
    assert_eq!(
        status(&f, "infra.replicas"),
        Status::Pass,
        "{:?}",
        find(&f, "infra.replicas")
    );
    // minReplicas 3: one canary pod beside 3 is 25 %, so the 10 % step cannot be reached.
    let steps = find(&f, "infra.hpa-canary-steps");
    assert_eq!(steps.status, Status::Warn, "{steps:?}");
    assert_eq!(
        steps.measured.as_deref(),
        Some(
            "HPA h minReplicas 3; canary steps 10%, 50%, 100%: 10% unreachable at the floor, \
             where one canary pod beside 3 stable pods is already 25% of the traffic"
        )
    );
    assert!(
        steps
            .remediation
            .as_deref()
            .unwrap()
            .contains(r#"kubectl patch hpa h -p '{"spec":{"minReplicas":9}}'"#),
        "{steps:?}"
    );
    let floor_nine = hpa.replace("minReplicas: 3", "minReplicas: 9");
    let f = Case::new(&floor_nine).run();
    assert_eq!(status(&f, "infra.hpa-canary-steps"), Status::Pass);
    let f = Case::new(&hpa)
        .config("canary:\n  steps: [25, 100]\n")
        .run();
    assert_eq!(
        status(&f, "infra.hpa-canary-steps"),
        Status::Pass,
        "25 % of 4 pods is reachable"
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.hpa-canary-steps"),
        Status::Pass,
        "no HPA"
    );
    let yaml = edit("      terminationGracePeriodSeconds: 45\n", "");
    let f = Case::new(&yaml).run();
    let grace = find(&f, "infra.termination-grace");
    assert_eq!(grace.status, Status::Fail);
    assert!(
        grace
            .measured
            .as_deref()
            .unwrap()
            .contains("30s (Kubernetes default)")
    );
}

#[test]
fn pdb_strategy_deadline_history_and_image() {
    let yaml = GOOD.replace("kind: PodDisruptionBudget", "kind: NotAPdb");
    assert_eq!(status(&Case::new(&yaml).run(), "infra.pdb"), Status::Fail);
    let yaml = edit("  maxUnavailable: 1\n", "  minAvailable: 3\n");
    assert_eq!(status(&Case::new(&yaml).run(), "infra.pdb"), Status::Warn);
    let yaml = edit(
        "    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}",
        "    type: Recreate",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.rolling-update"),
        Status::Fail
    );
    let yaml = edit(
        "progressDeadlineSeconds: 300",
        "progressDeadlineSeconds: 7200",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.progress-deadline"),
        Status::Warn
    );
    let yaml = edit(
        "  replicas: 3\n",
        "  replicas: 3\n  revisionHistoryLimit: 0\n",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.rollback-history"),
        Status::Fail
    );
    let yaml = edit(
        "ghcr.io/acme/app@sha256:0123456789abcdef",
        "ghcr.io/acme/app:latest",
    );
    let f = Case::new(&yaml).run();
    let image = find(&f, "infra.image-pinned");
    assert_eq!(image.status, Status::Fail);
    assert_eq!(image.location.as_ref().and_then(|l| l.line), Some(23));
    let yaml = edit(
        "ghcr.io/acme/app@sha256:0123456789abcdef",
        "ghcr.io/acme/app:1.4.2",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.image-pinned"),
        Status::Warn
    );
}

#[test]
fn alerting_and_switches() {
    let yaml = edit(
        "        - alert: PostHogRateLimited\n          expr: sum(increase(posthog_errors_total{status=\"429\"}[1m])) > 5\n          labels: {severity: P2}\n",
        "",
    );
    let f = Case::new(&yaml).run();
    let alerting = find(&f, "infra.alerting");
    assert_eq!(alerting.status, Status::Fail);
    assert!(
        alerting
            .measured
            .as_deref()
            .unwrap()
            .contains("missing: Rate Limited"),
        "{alerting:?}"
    );
    let yaml = edit(
        "            - name: POSTHOG_FALLBACK\n              value: \"false\"\n",
        "",
    );
    assert_eq!(
        status(&Case::new(&yaml).run(), "infra.graceful-degradation"),
        Status::Manual
    );
    let yaml = edit(
        "            - name: POSTHOG_CIRCUIT_BREAKER\n              value: \"on\"\n",
        "",
    );
    let f = Case::new(&yaml)
        .config(
            "attestations: {infra.circuit-breaker: {by: sre, at: 2026-05-02, link: https://pr/9}}",
        )
        .run();
    let cb = find(&f, "infra.circuit-breaker");
    assert_eq!(cb.status, Status::Pass);
    assert_eq!(
        cb.measured.as_deref(),
        Some("attested by sre on 2026-05-02")
    );
}

#[test]
fn health_endpoint_must_report_posthog_connected() {
    let mut case = Case::good();
    let answer = |status: u16, body: &str| {
        Probe::Done(HealthAnswer {
            via: "GET /health".into(),
            status,
            body: body.into(),
            elapsed: Duration::from_millis(3),
        })
    };
    case.remote.health = answer(200, r#"{"status":"ok"}"#);
    let f = case.run();
    assert_eq!(status(&f, "infra.health-endpoint"), Status::Fail);
    case.remote.health = answer(
        503,
        r#"{"status":"degraded","posthog":{"connected":false,"latencyMs":5000}}"#,
    );
    let f = case.run();
    let health = find(&f, "infra.health-endpoint");
    assert_eq!(health.status, Status::Fail);
    assert!(
        health
            .measured
            .as_deref()
            .unwrap()
            .contains("posthog.connected=false")
    );
    case.remote.health = Probe::Failed("GET … did not answer within 2s".into());
    assert_eq!(status(&case.run(), "infra.health-endpoint"), Status::Fail);
}

#[test]
fn documentation_from_annotation_file_or_manual() {
    let mut case = Case::good();
    case.local.docs.clear();
    let f = case.run();
    assert_eq!(
        find(&f, "docs.incident-runbook").measured.as_deref(),
        Some("annotation kubectl-posthog/runbook: https://wiki.example.com/runbooks/posthog")
    );
    assert_eq!(status(&f, "docs.on-call"), Status::Manual);
}

#[test]
fn staging_status_and_key_validation() {
    let mut case = Case::good();
    case.shared.staging = Probe::Done(HealthAnswer {
        via: "GET https://staging/health".into(),
        status: 502,
        body: "bad gateway".into(),
        elapsed: Duration::from_millis(1),
    });
    case.remote.status = Probe::Done(StatusSnapshot {
        source: StatusSource::IncidentIo,
        page_url: "https://www.posthogstatus.com/".into(),
        incidents: vec![StatusIncident {
            name: "Delayed ingestion".into(),
            status: "identified".into(),
            impact: "partial_outage".into(),
            url: Some("https://www.posthogstatus.com/incidents/1".into()),
            components: vec!["EU Cloud / Ingestion".into()],
        }],
        other_regions: 0,
        indicator: None,
    });
    case.remote.project_key = Probe::Done(ProjectKeyCheck::Rejected {
        status: 401,
        detail: "Project API key invalid.".into(),
    });
    let f = case.run();
    assert_eq!(status(&f, "rollout.staging-health"), Status::Fail);
    let incident = find(&f, "rollout.posthog-status");
    assert_eq!(
        (incident.status, incident.severity),
        (Status::Fail, Severity::P2)
    );
    assert!(
        incident
            .measured
            .as_deref()
            .unwrap()
            .contains("Delayed ingestion")
    );
    assert!(
        incident
            .measured
            .as_deref()
            .unwrap()
            .contains("https://www.posthogstatus.com/incidents/1")
    );
    let key = find(&f, "rollout.project-key-valid");
    assert_eq!((key.status, key.severity), (Status::Fail, Severity::P1));

    case.remote.status =
        Probe::Failed("cannot reach https://www.posthogstatus.com/api/v1/summary".into());
    case.remote.project_key = Probe::RateLimited("HTTP 429".into());
    let f = case.run();
    assert_eq!(status(&f, "rollout.posthog-status"), Status::Warn);
    assert_eq!(status(&f, "rollout.project-key-valid"), Status::Warn);
}

#[test]
fn disabled_checks_show_their_reason() {
    let f = Case::good()
        .config("disabled: [{id: infra.pdb, reason: singleton worker by design}]")
        .run();
    let pdb = find(&f, "infra.pdb");
    assert_eq!(pdb.status, Status::Skipped);
    assert_eq!(
        pdb.measured.as_deref(),
        Some("disabled in the config: singleton worker by design")
    );
}

/// Issue 14 item 3: a webhook URL is a credential; the finding showed it whole (userinfo,
/// `?token=`, a Slack secret path), and so did every output and the PR comment built from it.
#[test]
fn webhook_urls_show_scheme_and_host_only() {
    for url in [
        "https://hook-user:hook-pass-1@hooks.example.com/posthog?token=hook-token-1",
        "http://hooks.slack.com/services/T000/B000/slack-secret-path-1",
    ] {
        let yaml = edit("https://hooks.example.com/posthog", url);
        let findings = Case::new(&yaml).run();
        let text = serde_json::to_string(&findings).unwrap();
        for secret in [
            "hook-pass-1",
            "hook-token-1",
            "slack-secret-path-1",
            ".com/posthog",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let f = find(&findings, "config.webhook-https");
        assert!(
            f.measured.as_deref().unwrap().contains("hooks."),
            "{:?}",
            f.measured
        );
    }
}

/// Two HPAs on one Deployment: Kubernetes scales it by neither (AmbiguousSelector), and a
/// canary beside them would follow an HPA that does nothing. Found by a probe of issue 15.
#[test]
fn two_hpas_on_one_deployment_fail_the_hpa_check() {
    let hpa = |name: &str| {
        format!(
            "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: {name}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: posthog-integration}}\n  minReplicas: 9\n  maxReplicas: 10\n"
        )
    };
    let one = format!("{}{}", edit("", ""), hpa("a"));
    assert_eq!(
        status(&Case::new(&one).run(), "infra.hpa-canary-steps"),
        Status::Pass
    );
    let two = format!("{one}{}", hpa("b"));
    let f = Case::new(&two).run();
    let found = find(&f, "infra.hpa-canary-steps");
    assert_eq!(found.status, Status::Fail, "{found:?}");
    assert!(
        found
            .measured
            .as_deref()
            .is_some_and(|m| m.starts_with("2 HPAs target deployment/posthog-integration: a, b")),
        "{found:?}"
    );
    assert!(
        found
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("kubectl delete hpa b")),
        "{found:?}"
    );
}
