//! Step 3, staying up through change: replicas (or an HPA floor), a PodDisruptionBudget, the
//! rolling-update strategy and progress deadline, a revision to roll back to, and the health
//! endpoint reporting PostHog connectivity.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::posthog::{HealthShape, parse_health};
use crate::report::{Finding, Status};

use super::remote::{Probe, SubjectRemote};
use super::{Subject, selector};

pub fn check(s: &Subject, remote: &SubjectRemote) -> Vec<Finding> {
    vec![
        health_endpoint(s, &remote.health),
        replicas(s),
        hpa_canary_steps(s),
        pdb(s),
        rolling_update(s),
        progress_deadline(s),
        rollback_history(s),
    ]
}

fn template_labels(s: &Subject) -> std::collections::BTreeMap<String, String> {
    s.deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn spec_replicas(s: &Subject) -> i32 {
    s.deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1)
}

fn replicas(s: &Subject) -> Finding {
    let id = "infra.replicas";
    let min = s.thresholds.min_replicas;
    let replicas = spec_replicas(s);
    let (floor, mut measured) = match hpa_of(s) {
        Some(h) => {
            let spec = h.object.spec.as_ref();
            let floor = spec.and_then(|s| s.min_replicas).unwrap_or(1);
            let max = spec.map(|s| s.max_replicas).unwrap_or(floor);
            (
                floor,
                format!("HPA {} minReplicas {floor} (max {max})", h.name()),
            )
        }
        None => (replicas, format!("replicas {replicas}")),
    };
    if let Some(status) = &s.deploy.object.status {
        measured.push_str(&format!(
            ", {} ready of {}",
            status.ready_replicas.unwrap_or(0),
            status.replicas.unwrap_or(0)
        ));
    }
    if let Some(pods) = &s.facts.pods {
        let labels =
            |p: &k8s_openapi::api::core::v1::Pod| p.metadata.labels.clone().unwrap_or_default();
        let selector = s.deploy.object.spec.as_ref().map(|spec| &spec.selector);
        let restarts: i32 = pods
            .iter()
            .filter(|p| selector.is_some_and(|sel| selector::matches(sel, &labels(p))))
            .flat_map(|p| {
                p.status
                    .iter()
                    .flat_map(|st| st.container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .sum();
        measured.push_str(&format!(", {restarts} container restarts"));
    }
    let finding = if floor >= min {
        s.finding(id, Status::Pass).measured(measured)
    } else {
        s.finding(id, Status::Fail)
            .measured(measured)
            .expected(format!(
                "at least {min} (thresholds.minReplicas), so one pod can go while another serves"
            ))
            .remediation(format!(
                "kubectl scale deployment/{} --replicas={min} (and set it in the manifest)",
                s.name
            ))
    };
    s.locate(finding, "/spec/replicas")
}

type HpaObj = super::facts::Obj<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>;

/// The HPAs that target the Deployment (more than one: Kubernetes scales it by none).
fn hpas_of<'a>(s: &'a Subject) -> Vec<&'a HpaObj> {
    s.facts
        .hpas
        .iter()
        .filter(|h| {
            h.namespace() == s.namespace
                && h.object.spec.as_ref().is_some_and(|spec| {
                    spec.scale_target_ref.kind == "Deployment"
                        && spec.scale_target_ref.name == s.name
                })
        })
        .collect()
}

fn hpa_of<'a>(s: &'a Subject) -> Option<&'a HpaObj> {
    hpas_of(s).into_iter().next()
}

/// The canary's default steps (`canary::plan::DEFAULT_STEPS`, which checks may not import).
pub(crate) const CANARY_STEPS: [u32; 3] = [10, 50, 100];

/// Beside an HPA the canary keeps the stable at the HPA's count and puts `⌈S·w/(100−w)⌉` canary
/// pods on top (README, "Canary with an HPA"). A weight is unreachable when even one canary pod
/// beside the HPA's floor is more than it, `1/(minReplicas+1) > w`: at low load the step then
/// exposes that larger share. The same rule as `canary::plan::weight_reachable`.
pub fn unreachable_weight(min_replicas: u32, weight: u32) -> bool {
    weight < 100 && u64::from(weight) * (u64::from(min_replicas) + 1) < 100
}

fn hpa_canary_steps(s: &Subject) -> Finding {
    let id = "infra.hpa-canary-steps";
    let all = hpas_of(s);
    if all.len() > 1 {
        let names: Vec<String> = all.iter().map(|h| h.name()).collect();
        return s
            .finding(id, Status::Fail)
            .measured(format!(
                "{} HPAs target deployment/{}: {}; Kubernetes scales it by none of them \
                 (AmbiguousSelector in `kubectl describe hpa`)",
                all.len(),
                s.name,
                names.join(", ")
            ))
            .expected("at most one HorizontalPodAutoscaler per Deployment")
            .remediation(format!(
                "keep one: kubectl delete hpa {} (and remove it from the manifests)",
                names[1..].join(" ")
            ));
    }
    let Some(hpa) = hpa_of(s) else {
        return s
            .finding(id, Status::Pass)
            .measured("no HPA targets the Deployment: the canary sizes the stable itself");
    };
    let min = hpa
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.min_replicas)
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(1);
    let steps = s.canary_steps.unwrap_or(&CANARY_STEPS);
    let percent = |w: &u32| format!("{w}%");
    let measured = format!(
        "HPA {} minReplicas {min}; canary steps {}",
        hpa.name(),
        steps.iter().map(percent).collect::<Vec<_>>().join(", ")
    );
    let unreachable: Vec<u32> = steps
        .iter()
        .copied()
        .filter(|&w| unreachable_weight(min, w))
        .collect();
    let Some(&lowest) = unreachable.first() else {
        return s.finding(id, Status::Pass).measured(measured);
    };
    let share = 100.0 / f64::from(min + 1);
    let needed = 100_u32.div_ceil(lowest).saturating_sub(1);
    s.finding(id, Status::Warn)
        .measured(format!(
            "{measured}: {} unreachable at the floor, where one canary pod beside {min} stable \
             pods is already {share:.0}% of the traffic",
            unreachable
                .iter()
                .map(percent)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .expected(format!(
            "one canary pod at most each step's weight beside minReplicas stable pods \
             (minReplicas ≥ {needed} for {lowest}%)"
        ))
        .remediation(format!(
            "kubectl patch hpa {} -p '{{\"spec\":{{\"minReplicas\":{needed}}}}}' (and in the \
             manifest), or start the canary at a weight of at least {share:.0}% (canary.steps)",
            hpa.name()
        ))
}

fn pdb(s: &Subject) -> Finding {
    let id = "infra.pdb";
    let labels = template_labels(s);
    let found = s.facts.pdbs.iter().find(|p| {
        p.namespace() == s.namespace
            && p.object
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref())
                .is_some_and(|sel| selector::matches(sel, &labels))
    });
    let Some(pdb) = found else {
        return s
            .finding(id, Status::Fail)
            .measured(format!(
                "no PodDisruptionBudget in namespace {} selects the pods",
                s.namespace
            ))
            .expected("a PDB with maxUnavailable: 1 (or minAvailable below replicas)")
            .remediation(format!(
                "kubectl create poddisruptionbudget {}-pdb --selector={} --max-unavailable=1",
                s.name,
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
    };
    let spec = pdb.object.spec.clone().unwrap_or_default();
    let rule = match (&spec.min_available, &spec.max_unavailable) {
        (Some(min), _) => format!("minAvailable {}", int_or_string(min)),
        (None, Some(max)) => format!("maxUnavailable {}", int_or_string(max)),
        (None, None) => "no limit set".to_string(),
    };
    let replicas = spec_replicas(s);
    let blocks_all = match (&spec.min_available, &spec.max_unavailable) {
        (_, Some(IntOrString::Int(0))) => true,
        (_, Some(IntOrString::String(p))) if p.trim() == "0%" => true,
        (Some(IntOrString::Int(n)), None) => *n >= replicas,
        (Some(IntOrString::String(p)), None) => p.trim() == "100%",
        _ => false,
    };
    let allowed = pdb.object.status.as_ref().map(|st| st.disruptions_allowed);
    let mut measured = format!("PDB {} ({rule})", pdb.name());
    if let Some(n) = allowed {
        measured.push_str(&format!(", {n} disruptions allowed now"));
    }
    if blocks_all {
        return s
            .finding(id, Status::Warn)
            .measured(measured)
            .expected("at least one pod may be evicted, or node drains hang")
            .remediation("use maxUnavailable: 1");
    }
    s.finding(id, Status::Pass).measured(measured)
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn rolling_update(s: &Subject) -> Finding {
    let id = "infra.rolling-update";
    let strategy = s
        .deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.strategy.clone());
    let kind = strategy
        .as_ref()
        .and_then(|st| st.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".to_string());
    if kind != "RollingUpdate" {
        return s.locate(
            s.finding(id, Status::Fail)
                .measured(format!(
                    "strategy {kind}: every rollout stops all pods first"
                ))
                .expected("RollingUpdate")
                .remediation("set strategy.type: RollingUpdate with maxUnavailable: 0 or 1"),
            "/spec/strategy",
        );
    }
    let params = strategy
        .and_then(|st| st.rolling_update)
        .unwrap_or_default();
    let unavailable = params
        .max_unavailable
        .as_ref()
        .map(int_or_string)
        .unwrap_or_else(|| "25%".to_string());
    let surge = params
        .max_surge
        .as_ref()
        .map(int_or_string)
        .unwrap_or_else(|| "25%".to_string());
    let measured = format!("RollingUpdate maxUnavailable {unavailable}, maxSurge {surge}");
    let replicas = spec_replicas(s);
    let all_down = match params.max_unavailable {
        Some(IntOrString::Int(n)) => n >= replicas,
        Some(IntOrString::String(ref p)) => p.trim() == "100%",
        None => false,
    };
    if all_down {
        return s.locate(
            s.finding(id, Status::Fail)
                .measured(measured)
                .expected(format!("maxUnavailable below replicas ({replicas})"))
                .remediation("lower maxUnavailable so some pods keep serving during a rollout"),
            "/spec/strategy",
        );
    }
    s.finding(id, Status::Pass).measured(measured)
}

fn progress_deadline(s: &Subject) -> Finding {
    let id = "infra.progress-deadline";
    let max = s.thresholds.max_progress_deadline_seconds;
    let set = s
        .deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.progress_deadline_seconds);
    let (seconds, shown) = match set {
        Some(n) => (n, format!("progressDeadlineSeconds {n}")),
        None => (
            600,
            "progressDeadlineSeconds 600 (Kubernetes default)".to_string(),
        ),
    };
    if seconds > max {
        return s.locate(
            s.finding(id, Status::Warn)
                .measured(shown)
                .expected(format!(
                    "at most {max}s (thresholds.maxProgressDeadlineSeconds)"
                ))
                .remediation(
                    "lower progressDeadlineSeconds so a stuck rollout is reported as failed sooner",
                ),
            "/spec/progressDeadlineSeconds",
        );
    }
    s.finding(id, Status::Pass).measured(shown)
}

fn rollback_history(s: &Subject) -> Finding {
    let id = "infra.rollback-history";
    let limit = s
        .deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.revision_history_limit)
        .unwrap_or(10);
    if limit == 0 {
        return s.locate(
            s.finding(id, Status::Fail)
                .measured("revisionHistoryLimit 0: old ReplicaSets are deleted")
                .expected("at least 1, so `kubectl rollout undo` has a revision to go back to")
                .remediation("set revisionHistoryLimit: 10 (the default)"),
            "/spec/revisionHistoryLimit",
        );
    }
    let mut measured = format!("revisionHistoryLimit {limit}");
    if s.facts.authoritative {
        let uid = s.deploy.object.metadata.uid.clone().unwrap_or_default();
        let revision = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .and_then(|r| r.parse::<i64>().ok())
        };
        let current = revision(&s.deploy.object.metadata).unwrap_or(0);
        let mut earlier: Vec<i64> = s
            .facts
            .replica_sets
            .iter()
            .filter(|rs| {
                rs.object
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid && o.controller == Some(true))
            })
            .filter_map(|rs| revision(&rs.object.metadata))
            .filter(|r| *r < current)
            .collect();
        earlier.sort_unstable();
        match earlier.last() {
            Some(previous) => measured.push_str(&format!(
                "; revision {current}, {} earlier kept (rollback goes to {previous})",
                earlier.len()
            )),
            None => measured.push_str(&format!("; revision {current}, no earlier revision yet")),
        }
    }
    s.finding(id, Status::Pass).measured(measured)
}

fn health_endpoint(s: &Subject, health: &Probe<crate::checks::remote::HealthAnswer>) -> Finding {
    let id = "infra.health-endpoint";
    let answer = match health {
        Probe::Done(answer) => answer,
        Probe::Skipped(why) => return s.finding(id, Status::Skipped).measured(why.clone()),
        Probe::Failed(cause) | Probe::RateLimited(cause) => {
            return s
                .finding(id, Status::Fail)
                .measured(format!("no answer: {cause}"))
                .remediation("check that the pods are ready and the Service routes to them (kubectl get endpoints)");
        }
    };
    let elapsed = answer.elapsed.as_millis();
    let head = format!("HTTP {} in {elapsed} ms", answer.status);
    let parsed = parse_health(&answer.body);
    let finding = match (answer.status, parsed) {
        (200..=299, Ok(report)) if report.posthog_connected() => s
            .finding(id, Status::Pass)
            .measured(format!("{head}: {}", report.describe())),
        (200..=299, Ok(report)) if report.shape == HealthShape::NoPostHog => s
            .finding(id, Status::Fail)
            .measured(format!("{head}: {}", report.describe()))
            .expected(r#"{"status":…, "posthog":{"connected":…, "latencyMs":…}}"#)
            .remediation("make the health endpoint ping PostHog and report posthog.connected and latencyMs (the checklist's healthCheck)"),
        (code, Ok(report)) => s
            .finding(id, Status::Fail)
            .measured(format!("{head}: {}", report.describe()))
            .expected("HTTP 2xx and posthog.connected=true")
            .remediation(if code < 300 {
                "the service cannot reach PostHog: check the key, the host and egress (kubectl logs)"
            } else {
                "the endpoint reports unhealthy: kubectl posthog triage"
            }),
        (_, Err(_)) => s
            .finding(id, Status::Fail)
            .measured(format!("{head}: the body is not JSON"))
            .expected(r#"{"status":…, "posthog":{"connected":…, "latencyMs":…}}"#)
            .remediation("return the checklist's JSON health shape"),
    };
    finding.evidence(answer.via.clone())
}
