//! The objects `--fix` writes whole: the PrometheusRule with the checklist's alerts, a
//! PodDisruptionBudget, the Secret a key moves to (without its value), and a live Deployment
//! exported as a manifest (what the cluster set, such as `status` and `uid`, left out).

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use crate::config::preflight::AlertRulesConfig;
use crate::prometheus::alert_table::{Family, Naming};

use super::super::Subject;
use super::super::alerts::Table;

/// The Deployment's own runbook annotation, which the documentation check reads too.
pub fn runbook_annotation(s: &Subject) -> Option<String> {
    s.deploy
        .object
        .metadata
        .annotations
        .as_ref()?
        .get("kubectl-posthog/runbook")
        .cloned()
}

fn metadata(name: &str, namespace: Option<&str>) -> Value {
    let mut meta =
        json!({"name": name, "labels": {"app.kubernetes.io/managed-by": "kubectl-posthog"}});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    meta
}

/// The checklist's four alerts for the Deployment's own pods.
pub fn prometheus_rule(
    s: &Subject,
    namespace: Option<&str>,
    table: &Table,
    naming: &Naming,
    config: &AlertRulesConfig,
) -> Result<Value, String> {
    let duration = |text: &Option<String>, default: &str, key: &str| -> Result<String, String> {
        let text = text.as_deref().unwrap_or(default);
        humantime::parse_duration(text)
            .map(|d| format!("{}s", d.as_secs().max(1)))
            .map_err(|e| format!("preflight.alertRules.{key} {text:?}: {e}"))
    };
    let window = duration(&config.window, "5m", "window")?;
    let wait = duration(&config.for_, "1m", "for")?;
    let selector = naming.deployment_selector(&s.namespace, &s.name);
    let runbook = config.runbook_url.clone().or_else(|| runbook_annotation(s));
    let rules: Vec<Value> = table
        .lines
        .iter()
        .map(|line| {
            let name = match line.family {
                Family::ServerErrors => table.names.api_down.first(),
                Family::Latency => table.names.high_latency.first(),
                Family::RateLimited => table.names.rate_limited.first(),
                Family::AuthFailures => table.names.auth_failures.first(),
            }
            .cloned()
            .unwrap_or_else(|| line.rule_name.to_string());
            let mut annotations = json!({
                "summary": format!("{}: {} on deployment/{}", line.alert, line.condition(), s.name),
                "description": format!(
                    "The checklist's alert table: {} ({}). Value: {{{{ $value }}}}.",
                    line.title(),
                    line.id
                ),
            });
            if let Some(url) = &runbook {
                annotations["runbook_url"] = json!(url);
            }
            json!({
                "alert": name,
                "expr": naming.rule_expr(line, &selector, &window),
                "for": wait,
                "labels": {
                    "severity": line.severity.label(),
                    "deployment": s.name,
                    "checklist": line.alert,
                },
                "annotations": annotations,
            })
        })
        .collect();
    Ok(json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(&format!("{}-posthog-alerts", s.name), namespace),
        "spec": {"groups": [{"name": format!("posthog-{}", s.name), "rules": rules}]},
    }))
}

/// A PodDisruptionBudget over the Deployment's selector that lets one pod go at a time.
pub fn pdb(s: &Subject, namespace: Option<&str>) -> Value {
    let selector = s
        .deploy
        .object
        .spec
        .as_ref()
        .map(|spec| serde_json::to_value(&spec.selector).unwrap_or_default())
        .unwrap_or_default();
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(&format!("{}-pdb", s.name), namespace),
        "spec": {"maxUnavailable": 1, "selector": selector},
    })
}

/// The Secret the key moves to, with an empty value and how to set it. Not among the
/// kustomization's resources: applying it would overwrite a real Secret with nothing.
pub fn secret(s: &Subject, namespace: Option<&str>) -> String {
    let ns = namespace
        .map(|n| format!("\n  namespace: {n}"))
        .unwrap_or_default();
    format!(
        "# The Secret {name} that {var} now reads (key {key}). Not applied by the kustomization:\n\
         # set the value here and apply this file once, or create the Secret from your vault:\n\
         #   kubectl create secret generic {name} -n {namespace} --from-literal={key}=phc_…\n\
         # Never commit the value.\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}{ns}\ntype: Opaque\nstringData:\n  {key}: \"\"\n",
        name = s.names.secret,
        key = s.names.secret_key,
        var = s.names.api_key_env,
        namespace = s.namespace,
    )
}

/// A live Deployment as a manifest: what the cluster set (`status`, `uid`, `resourceVersion`,
/// revisions, managed fields) is left out.
pub fn export(deploy: &Deployment) -> String {
    let mut value = serde_json::to_value(deploy).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        object.insert("apiVersion".into(), json!("apps/v1"));
        object.insert("kind".into(), json!("Deployment"));
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "ownerReferences",
        ] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.retain(|k, _| {
                !k.starts_with("deployment.kubernetes.io/")
                    && k != "kubectl.kubernetes.io/last-applied-configuration"
            });
        }
    }
    serde_saphyr::to_string(&value).unwrap_or_default()
}
