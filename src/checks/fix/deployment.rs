//! The strategic-merge patch that answers a Deployment's fixable findings: the API key from a
//! Secret, probes on the health path, the grace period, the rollout strategy and its limits, and
//! the runbook's switches. Containers and their `env` merge by name, as `kubectl patch` and
//! kustomize merge them; `null` removes a field (the literal `value` the key replaces).

use k8s_openapi::api::core::v1::Container;
use serde_json::{Map, Value, json};

use crate::report::Status;

use super::super::Subject;
use super::super::env::EnvSource;
use super::{Fix, Wanted};

/// The patch being built for one Deployment, and the fixes it makes.
struct Builder<'s, 'a> {
    s: &'s Subject<'a>,
    file: &'s str,
    spec: Map<String, Value>,
    pod: Map<String, Value>,
    containers: Vec<(String, Map<String, Value>)>,
    fixes: Vec<Fix>,
}

impl Builder<'_, '_> {
    fn fix(&mut self, id: &str, change: String, todo: Option<String>) {
        self.fixes
            .push(Fix::new(id, self.s, self.file, change, todo));
    }

    fn container(&mut self, name: &str) -> &mut Map<String, Value> {
        let i = slot(&mut self.containers, name);
        &mut self.containers[i].1
    }
}

/// The patch (or `None` when nothing is fixable) and the fixes it makes.
pub fn patch(s: &Subject, wanted: &Wanted, file: &str) -> (Option<Value>, Vec<Fix>) {
    let mut b = Builder {
        s,
        file,
        spec: Map::new(),
        pod: Map::new(),
        containers: Vec::new(),
        fixes: Vec::new(),
    };
    api_key(&mut b, wanted);
    probes(&mut b, wanted);
    rollout(&mut b, wanted);
    switches(&mut b, wanted);
    let Builder {
        mut spec,
        mut pod,
        containers,
        fixes,
        ..
    } = b;
    if !containers.is_empty() {
        let list: Vec<Value> = containers
            .into_iter()
            .map(|(name, mut fields)| {
                fields.insert("name".into(), json!(name));
                Value::Object(fields)
            })
            .collect();
        pod.insert("containers".into(), Value::Array(list));
    }
    if !pod.is_empty() {
        spec.insert("template".into(), json!({"spec": pod}));
    }
    if spec.is_empty() {
        return (None, fixes);
    }
    let patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.name},
        "spec": spec,
    });
    (Some(patch), fixes)
}

/// The API key from the Secret the config names, instead of a literal or a ConfigMap.
fn api_key(b: &mut Builder, wanted: &Wanted) {
    let s = b.s;
    if !wanted.fails(s, "config.api-key-from-secret") {
        return;
    }
    let name = &s.names.api_key_env;
    let secret_ref = json!({"name": s.names.secret, "key": s.names.secret_key});
    let entry = json!({
        "name": name,
        "value": null,
        "valueFrom": {"secretKeyRef": secret_ref, "configMapKeyRef": null, "fieldRef": null},
    });
    let targets: Vec<String> = match s.env.get(name) {
        Some(var) if var.source != EnvSource::Literal && var.source.from_secret() => vec![],
        Some(var) => vec![var.container.clone()],
        None => s
            .posthog_containers()
            .iter()
            .map(|(_, c)| c.name.clone())
            .collect(),
    };
    for c in &targets {
        push_env(b.container(c), entry.clone());
    }
    if !targets.is_empty() {
        b.fix(
            "config.api-key-from-secret",
            format!(
                "{name} from Secret {} key {} instead of a literal",
                s.names.secret, s.names.secret_key
            ),
            Some(format!(
                "put the key in Secret {} (key {}): fill in secret-{}.yaml or create it from your vault; rotate the old key if it was committed",
                s.names.secret, s.names.secret_key, s.names.secret
            )),
        );
    }
}

/// Readiness and liveness probes on the health path, where a container has none.
fn probes(b: &mut Builder, wanted: &Wanted) {
    let s = b.s;
    let posthog = s.posthog_containers();
    for (id, field) in [
        ("infra.readiness-probe", "readinessProbe"),
        ("infra.liveness-probe", "livenessProbe"),
    ] {
        if !wanted.fails(s, id) {
            continue;
        }
        let path = health_path(s, &posthog);
        let mut added = Vec::new();
        for (_, c) in &posthog {
            let present = match field {
                "readinessProbe" => c.readiness_probe.is_some(),
                _ => c.liveness_probe.is_some(),
            };
            if present {
                continue;
            }
            let Some(port) = port_of(s, c) else { continue };
            let probe = match field {
                "readinessProbe" => {
                    json!({"httpGet": {"path": path, "port": port}, "periodSeconds": 10, "failureThreshold": 3})
                }
                _ => {
                    json!({"httpGet": {"path": path, "port": port}, "periodSeconds": 20, "failureThreshold": 3, "initialDelaySeconds": 10})
                }
            };
            b.container(&c.name).insert(field.to_string(), probe);
            added.push(format!("{}: GET {path}:{port}", c.name));
        }
        if !added.is_empty() {
            b.fix(
                id,
                format!("{field} {}", added.join(", ")),
                Some(format!("check that {path} answers 200 only when the pod can serve (a liveness probe on a dependency restarts pods when PostHog is down)")),
            );
        }
    }
}

/// The grace period, the strategy, the progress deadline and the revision history.
fn rollout(b: &mut Builder, wanted: &Wanted) {
    let s = b.s;
    if wanted.fails(s, "infra.termination-grace") {
        let flush = s.thresholds.sdk_shutdown_seconds;
        b.pod
            .insert("terminationGracePeriodSeconds".into(), json!(flush + 15));
        b.fix(
            "infra.termination-grace",
            format!(
                "terminationGracePeriodSeconds {} (SDK flush {flush}s + 15s)",
                flush + 15
            ),
            Some("call the SDK's shutdown()/close() on SIGTERM so the grace period is used".into()),
        );
    }
    if wanted.fails(s, "infra.rolling-update") {
        b.spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
        );
        b.fix(
            "infra.rolling-update",
            "RollingUpdate with maxUnavailable: 0, maxSurge: 1".into(),
            None,
        );
    }
    if wanted.fails(s, "infra.progress-deadline") {
        let seconds = s.thresholds.max_progress_deadline_seconds.min(600);
        b.spec
            .insert("progressDeadlineSeconds".into(), json!(seconds));
        b.fix(
            "infra.progress-deadline",
            format!("progressDeadlineSeconds {seconds}"),
            None,
        );
    }
    if wanted.fails(s, "infra.rollback-history") {
        b.spec.insert("revisionHistoryLimit".into(), json!(10));
        b.fix(
            "infra.rollback-history",
            "revisionHistoryLimit 10".into(),
            None,
        );
    }
}

/// The runbook's switches (`POSTHOG_FALLBACK`, `RATE_LIMIT_MODE`, `POSTHOG_CIRCUIT_BREAKER`),
/// off, on the containers that talk to PostHog.
fn switches(b: &mut Builder, wanted: &Wanted) {
    let s = b.s;
    let posthog = s.posthog_containers();
    for (id, name, value) in [
        ("infra.graceful-degradation", &s.names.fallback_env, "false"),
        ("code.rate-limit-backoff", &s.names.rate_limit_env, "off"),
        ("infra.circuit-breaker", &s.names.circuit_breaker_env, "off"),
    ] {
        if !wanted.is(s, id, Status::Manual) || posthog.is_empty() {
            continue;
        }
        for (_, c) in &posthog {
            push_env(b.container(&c.name), json!({"name": name, "value": value}));
        }
        b.fix(
            id,
            format!("{name}={value} on the PostHog containers (the switch the runbook flips)"),
            Some(format!(
                "make the application read {name}: a switch nobody reads does nothing"
            )),
        );
    }
}

/// The index of container `name` in the patch, added when new.
fn slot(containers: &mut Vec<(String, Map<String, Value>)>, name: &str) -> usize {
    match containers.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            containers.push((name.to_string(), Map::new()));
            containers.len() - 1
        }
    }
}

fn push_env(container: &mut Map<String, Value>, entry: Value) {
    let env = container
        .entry("env")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = env {
        list.push(entry);
    }
}

/// `names.healthPath`, else a probe's path already set on a container, else `/health`.
fn health_path(s: &Subject, containers: &[(usize, &Container)]) -> String {
    let existing = containers.iter().find_map(|(_, c)| {
        [&c.readiness_probe, &c.liveness_probe]
            .into_iter()
            .flatten()
            .find_map(|p| p.http_get.as_ref().and_then(|h| h.path.clone()))
    });
    let path = s
        .names
        .health_path
        .clone()
        .or(existing)
        .unwrap_or_else(|| "/health".to_string());
    match path.starts_with('/') {
        true => path,
        false => format!("/{path}"),
    }
}

/// The port the health endpoint is on: the container's first port (by name when it has one),
/// else the target port of a Service in front of the pods; `None` when nothing says.
fn port_of(s: &Subject, c: &Container) -> Option<Value> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    if let Some(p) = c.ports.iter().flatten().next() {
        return Some(match &p.name {
            Some(name) => json!(name),
            None => json!(p.container_port),
        });
    }
    let labels = s
        .deploy
        .object
        .spec
        .as_ref()
        .and_then(|spec| spec.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    s.facts.services.iter().find_map(|svc| {
        let spec = svc.object.spec.as_ref()?;
        let selector = spec.selector.as_ref()?;
        if svc.namespace() != s.namespace
            || selector.is_empty()
            || !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        {
            return None;
        }
        let port = spec.ports.iter().flatten().next()?;
        Some(match &port.target_port {
            Some(IntOrString::Int(n)) => json!(n),
            // A named target port means nothing without a container port of that name.
            Some(IntOrString::String(_)) => return None,
            None => json!(port.port),
        })
    })
}
