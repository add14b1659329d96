//! `preflight --fix DIR`: reviewable files for the findings a machine can fix, and nothing
//! changed in the cluster. Pure: from the subjects and their findings to a list of files
//! (path and text) and of [`Fix`]es; the command writes them.
//!
//! ```text
//! DIR/kustomization.yaml          the input manifests (or the live Deployments) + the fixes
//! DIR/input/…                     a copy of each input file, or the live Deployment exported
//! DIR/patches/deployment-NAME.yaml  strategic-merge patch: key from a Secret, probes, grace
//!                                 period, strategy, deadline, history, the runbook's switches
//! DIR/prometheusrule-NAME.yaml    the checklist's four alerts, scoped to the Deployment
//! DIR/rules/NAME.rules.yaml       the same alerts as a Prometheus rule file (`rule_files:`)
//! DIR/pdb-NAME.yaml               a PodDisruptionBudget (maxUnavailable: 1)
//! DIR/secret-SECRET.yaml          the Secret the key moves to, without its value (not applied)
//! DIR/FIXES.md                    each fix, the finding it answers, what a person must still do
//! ```
//!
//! `kubectl kustomize DIR` builds the fixed manifests; preflight on them passes every fixed finding.

mod deployment;
mod objects;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::preflight::AlertRulesConfig;
use crate::prometheus::alert_table::Naming;
use crate::report::{Finding, Status};

use super::Subject;
use super::alerts::Table;
use super::facts::ClusterFacts;

/// One change `--fix` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fix {
    /// The finding id it answers.
    pub finding: String,
    /// `deployment/NAMESPACE/NAME`.
    pub subject: String,
    /// The file, relative to DIR.
    pub file: String,
    pub change: String,
    /// What a person must still do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
}

impl Fix {
    fn new(id: &str, s: &Subject, file: &str, change: String, todo: Option<String>) -> Fix {
        Fix {
            finding: id.to_string(),
            subject: format!("deployment/{}/{}", s.namespace, s.name),
            file: file.to_string(),
            change,
            todo,
        }
    }
}

/// The findings of a run, looked up per subject.
pub struct Wanted<'a> {
    findings: &'a [Finding],
}

impl Wanted<'_> {
    fn status(&self, s: &Subject, id: &str) -> Option<Status> {
        self.findings
            .iter()
            .filter(|f| f.id == id && (f.subject.is_none() || f.subject == s.label))
            .map(|f| f.status)
            .min_by_key(|st| match st {
                Status::Fail => 0,
                Status::Warn => 1,
                Status::Manual => 2,
                Status::Skipped => 3,
                Status::Pass => 4,
            })
    }

    /// The check failed or warned for `s`.
    fn fails(&self, s: &Subject, id: &str) -> bool {
        matches!(self.status(s, id), Some(Status::Fail | Status::Warn))
    }

    fn is(&self, s: &Subject, id: &str, status: Status) -> bool {
        self.status(s, id) == Some(status)
    }
}

/// What the fixes are written from.
pub struct Inputs<'a> {
    pub subjects: &'a [Subject<'a>],
    pub findings: &'a [Finding],
    pub facts: &'a ClusterFacts,
    /// The input files' texts, in `facts.files` order (offline); empty live.
    pub texts: &'a [String],
    pub table: &'a Table<'a>,
    pub naming: Naming,
    pub rules: &'a AlertRulesConfig,
    pub live: bool,
}

/// The files to write and the fixes they make.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixSet {
    pub files: Vec<(String, String)>,
    pub fixes: Vec<Fix>,
}

/// Everything `--fix` writes.
pub fn plan(inputs: &Inputs) -> Result<FixSet, String> {
    let wanted = Wanted {
        findings: inputs.findings,
    };
    let mut set = FixSet::default();
    let mut kustomization = Kustomization {
        resources: base(inputs, &mut set),
        patches: Vec::new(),
    };
    let mut secrets_written = Vec::new();
    for s in inputs.subjects {
        let explicit_namespace =
            inputs.live || s.deploy.origin.lines.exact("/metadata/namespace").is_some();
        let namespace = explicit_namespace.then_some(s.namespace.as_str());
        let file = format!("patches/deployment-{}-{}.yaml", s.namespace, s.name);
        let (patch, fixes) = deployment::patch(s, &wanted, &file);
        if let Some(patch) = patch {
            set.files.push((file.clone(), yaml(&patch)?));
            let mut target =
                json!({"group": "apps", "version": "v1", "kind": "Deployment", "name": s.name});
            if let Some(ns) = namespace {
                target["namespace"] = json!(ns);
            }
            kustomization
                .patches
                .push(json!({"path": file, "target": target}));
        }
        if fixes
            .iter()
            .any(|f| f.finding == "config.api-key-from-secret")
            && !secrets_written.contains(&(&s.namespace, &s.names.secret))
        {
            secrets_written.push((&s.namespace, &s.names.secret));
            let path = format!("secret-{}.yaml", s.names.secret);
            set.files.push((path, objects::secret(s, namespace)));
        }
        set.fixes.extend(fixes);
        whole_objects(s, namespace, &wanted, inputs, &mut set, &mut kustomization)?;
    }
    let text = yaml(&json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": kustomization.resources,
        "patches": kustomization.patches,
    }))?;
    set.files.push((
        "kustomization.yaml".to_string(),
        format!("# Written by kubectl posthog preflight --fix: review, then `kubectl apply -k` this directory.\n{text}"),
    ));
    set.files
        .push(("FIXES.md".to_string(), markdown(&set.fixes)));
    Ok(set)
}

struct Kustomization {
    resources: Vec<String>,
    patches: Vec<Value>,
}

/// The resources the fixes apply to: a copy of each input file, or the live Deployments.
fn base(inputs: &Inputs, set: &mut FixSet) -> Vec<String> {
    let mut resources = Vec::new();
    if inputs.live {
        for s in inputs.subjects {
            let path = format!("input/deployment-{}-{}.yaml", s.namespace, s.name);
            set.files
                .push((path.clone(), objects::export(&s.deploy.object)));
            resources.push(path);
        }
        return resources;
    }
    for (i, (name, text)) in inputs.facts.files.iter().zip(inputs.texts).enumerate() {
        let base = std::path::Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| *n != "<stdin>")
            .unwrap_or("stdin.yaml");
        let path = format!("input/{:02}-{base}", i + 1);
        set.files.push((path.clone(), text.clone()));
        resources.push(path);
    }
    resources
}

/// The PodDisruptionBudget and the PrometheusRule (with its plain rule file) of one Deployment.
fn whole_objects(
    s: &Subject,
    namespace: Option<&str>,
    wanted: &Wanted,
    inputs: &Inputs,
    set: &mut FixSet,
    kustomization: &mut Kustomization,
) -> Result<(), String> {
    let pdb_name = format!("{}-pdb", s.name);
    let taken = s
        .facts
        .pdbs
        .iter()
        .any(|p| p.namespace() == s.namespace && p.name() == pdb_name);
    if wanted.fails(s, "infra.pdb") && !taken {
        let path = format!("pdb-{}-{}.yaml", s.namespace, s.name);
        set.files
            .push((path.clone(), yaml(&objects::pdb(s, namespace))?));
        kustomization.resources.push(path.clone());
        set.fixes.push(Fix::new(
            "infra.pdb",
            s,
            &path,
            format!("PodDisruptionBudget {pdb_name} with maxUnavailable: 1"),
            None,
        ));
    }
    if !wanted.fails(s, "infra.alerting") {
        return Ok(());
    }
    let path = format!("prometheusrule-{}-{}.yaml", s.namespace, s.name);
    let rule = objects::prometheus_rule(s, namespace, inputs.table, &inputs.naming, inputs.rules)?;
    set.files.push((path.clone(), yaml(&rule)?));
    kustomization.resources.push(path.clone());
    // The same groups as a plain rule file, for a Prometheus without the Operator
    // (`rule_files:`) and for `promtool check rules`.
    let plain = json!({"groups": rule["spec"]["groups"].clone()});
    set.files.push((
        format!("rules/{}-{}.rules.yaml", s.namespace, s.name),
        yaml(&plain)?,
    ));
    let runbook = inputs.rules.runbook_url.is_some() || objects::runbook_annotation(s).is_some();
    let lines: Vec<String> = inputs.table.lines.iter().map(|l| l.title()).collect();
    set.fixes.push(Fix::new(
        "infra.alerting",
        s,
        &path,
        format!("PrometheusRule {}-posthog-alerts: {}", s.name, lines.join(", ")),
        Some(match runbook {
            true => "check that Prometheus (the Prometheus Operator's ruleSelector) picks the rule up, and remove older rules that differ".to_string(),
            false => "set preflight.alertRules.runbookUrl so each alert links its runbook; check that the Prometheus Operator's ruleSelector picks the rule up".to_string(),
        }),
    ));
    Ok(())
}

fn yaml(value: &Value) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| format!("cannot write YAML: {e}"))
}

/// `FIXES.md`: each fix with the finding it answers and what a person must still do.
pub fn markdown(fixes: &[Fix]) -> String {
    let mut out = String::from("# Fixes written by `kubectl posthog preflight --fix`\n\n");
    if fixes.is_empty() {
        out.push_str("Nothing a machine can fix was found.\n");
        return out;
    }
    out.push_str("Review each change, then `kubectl kustomize .` (or `kubectl apply -k .`). Nothing was changed in the cluster.\n\n");
    out.push_str("| finding | Deployment | change | file | still to do |\n|---|---|---|---|---|\n");
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    for f in fixes {
        out.push_str(&format!(
            "| `{}` | {} | {} | `{}` | {} |\n",
            f.finding,
            cell(&f.subject),
            cell(&f.change),
            f.file,
            cell(f.todo.as_deref().unwrap_or("—"))
        ));
    }
    out
}

#[cfg(test)]
mod tests;
