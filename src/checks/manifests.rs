//! Offline mode: `-f FILE|DIR|-` read the way `kubectl apply -f` reads them (multi-document YAML or
//! JSON, `List` kinds, a directory's `.yaml`/`.yml`/`.json` files, stdin for kustomize or helm
//! output) into the same [`ClusterFacts`] the live mode produces, with file and line kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

use super::facts::{AlertRule, ClusterFacts, Obj, Origin, SecretFacts};
use super::yaml::{LineMap, parse_documents};

const STDIN: &str = "<stdin>";

/// Where manifests come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    pub fn parse(raw: &str) -> Input {
        if raw == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(raw))
        }
    }
}

/// Reads every input into facts. Objects without a namespace get `default_namespace`
/// (what `kubectl apply` would do with the same files).
pub fn load(inputs: &[Input], recursive: bool, default_namespace: &str) -> Result<ClusterFacts> {
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err(Error::Usage("-f - can be given only once".to_string()));
    }
    let cap = manifest_cap();
    let mut texts = Vec::new();
    let mut seen_dirs = std::collections::HashSet::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let text = read_capped(std::io::stdin().lock(), cap, STDIN)?;
                texts.push((STDIN.to_string(), text));
            }
            Input::Path(path) => {
                for file in files(path, recursive, &mut seen_dirs)? {
                    let name = file.display().to_string();
                    let opened = std::fs::File::open(&file)
                        .map_err(|e| Error::Input(format!("cannot read manifest {name}: {e}")))?;
                    texts.push((name.clone(), read_capped(opened, cap, &name)?));
                }
            }
        }
    }
    let mut facts = ClusterFacts::default();
    for (name, text) in &texts {
        add_text(&mut facts, name, text, default_namespace)?;
    }
    (facts.files, facts.texts) = texts.into_iter().unzip();
    Ok(facts)
}

/// The environment variable that overrides [`DEFAULT_MANIFEST_CAP`] (bytes).
pub const MANIFEST_CAP_ENV: &str = "KUBECTL_POSTHOG_MAX_MANIFEST_BYTES";
/// The largest manifest file (or stdin) read: 64 MiB, far above any real `kustomize build`.
pub const DEFAULT_MANIFEST_CAP: u64 = 64 << 20;

fn manifest_cap() -> u64 {
    std::env::var(MANIFEST_CAP_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MANIFEST_CAP)
}

/// Reads at most `cap` bytes; more is an input error naming the file and the cap (`-f /dev/zero`
/// read until out of memory).
fn read_capped(reader: impl Read, cap: u64, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Input(format!("cannot read manifest {name}: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(Error::Input(format!(
            "manifest {name} is larger than {cap} bytes (set {MANIFEST_CAP_ENV} to read more)"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Error::Input(format!("manifest {name} is not UTF-8 text")))
}

/// The manifest files under `path`. Symlinks are followed, but a directory is walked at most once
/// per real path (a link cycle walked forever); only regular files are read (a FIFO named
/// `x.yaml` blocked forever, a link to `/dev/zero` read until out of memory).
fn files(
    path: &Path,
    recursive: bool,
    seen_dirs: &mut std::collections::HashSet<PathBuf>,
) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::Input(format!(
            "cannot read {}: {e}; pass a manifest file, a directory or - for stdin",
            path.display()
        ))
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !meta.is_dir() {
        return Err(Error::Input(format!(
            "{} is not a regular file or a directory (a device, FIFO or socket is not read)",
            path.display()
        )));
    }
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen_dirs.insert(real) {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(path)
        .map_err(|e| Error::Input(format!("cannot list {}: {e}", path.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::Input(format!("cannot list {}: {e}", path.display())))?;
        let child = entry.path();
        // A dangling link or an unreadable entry is skipped, as it is not a manifest.
        let Ok(meta) = std::fs::metadata(&child) else {
            continue;
        };
        if meta.is_dir() {
            if recursive {
                found.extend(files(&child, true, seen_dirs)?);
            }
        } else if child
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            if !meta.is_file() {
                return Err(Error::Input(format!(
                    "{} is not a regular file (a device, FIFO or socket is not read)",
                    child.display()
                )));
            }
            found.push(child);
        }
    }
    found.sort();
    Ok(found)
}

/// Adds the objects of one file's text (public for tests and for the demo's in-memory manifests).
pub fn add_text(
    facts: &mut ClusterFacts,
    file: &str,
    text: &str,
    default_namespace: &str,
) -> Result<()> {
    let documents =
        parse_documents(text).map_err(|e| Error::Input(format!("{file}: not valid YAML: {e}")))?;
    for doc in documents {
        let origin = Origin::file(file, doc.line, doc.lines);
        add_value(facts, doc.value, origin, default_namespace)?;
    }
    Ok(())
}

fn add_value(
    facts: &mut ClusterFacts,
    mut value: Value,
    origin: Origin,
    default_namespace: &str,
) -> Result<()> {
    let at = match origin.line {
        Some(line) => format!("{}:{line}", origin.file.clone().unwrap_or_default()),
        None => origin.file.clone().unwrap_or_default(),
    };
    let Some(kind) = value
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(Error::Input(format!(
            "{at}: a document without `kind` is not a Kubernetes object"
        )));
    };
    if kind.ends_with("List") && value.get("items").is_some_and(Value::is_array) {
        let items = match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for (i, item) in items.into_iter().enumerate() {
            let lines: LineMap = origin.lines.subtree(&format!("/items/{i}"));
            let line = lines.line("");
            let item_origin = Origin {
                file: origin.file.clone(),
                line: line.or(origin.line),
                lines,
            };
            add_value(facts, item, item_origin, default_namespace)?;
        }
        return Ok(());
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        && !meta.contains_key("namespace")
    {
        meta.insert(
            "namespace".to_string(),
            Value::String(default_namespace.to_string()),
        );
    }
    match kind.as_str() {
        "Deployment" => facts.deployments.push(typed(value, origin, &kind, &at)?),
        "Service" => facts.services.push(typed(value, origin, &kind, &at)?),
        "PodDisruptionBudget" => facts.pdbs.push(typed(value, origin, &kind, &at)?),
        "HorizontalPodAutoscaler" => {
            if value.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v2") {
                facts.hpas.push(typed(value, origin, &kind, &at)?);
            } else {
                facts
                    .ignored_kinds
                    .insert(format!("{kind} (not autoscaling/v2)"));
            }
        }
        "ConfigMap" => facts.config_maps.push(typed(value, origin, &kind, &at)?),
        "Secret" => {
            let secret: Obj<k8s_openapi::api::core::v1::Secret> = typed(value, origin, &kind, &at)?;
            facts
                .secrets
                .push(SecretFacts::from_secret(&secret.object, secret.origin));
        }
        "PrometheusRule" => {
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let namespace = value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let source = format!("PrometheusRule {namespace}/{name}");
            let rules = prometheus_rules(&value, &origin, &source);
            facts.alert_rules.extend(rules);
            facts.alert_sources.push(source);
        }
        other => {
            facts.ignored_kinds.insert(other.to_string());
        }
    }
    Ok(())
}

/// The alerting rules of a PrometheusRule object (`spec.groups[].rules[]` with an `alert`).
pub fn prometheus_rules(value: &Value, origin: &Origin, source: &str) -> Vec<AlertRule> {
    let mut rules = Vec::new();
    let groups = value.pointer("/spec/groups").and_then(Value::as_array);
    for (gi, group) in groups.into_iter().flatten().enumerate() {
        let list = group.get("rules").and_then(Value::as_array);
        for (ri, rule) in list.into_iter().flatten().enumerate() {
            let Some(name) = rule.get("alert").and_then(Value::as_str) else {
                continue;
            };
            let expr = match rule.get("expr") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let lines = origin
                .lines
                .subtree(&format!("/spec/groups/{gi}/rules/{ri}"));
            rules.push(AlertRule {
                name: name.to_string(),
                expr,
                severity: rule
                    .pointer("/labels/severity")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                for_seconds: rule
                    .get("for")
                    .and_then(Value::as_str)
                    .and_then(prometheus_seconds),
                source: source.to_string(),
                origin: Origin {
                    file: origin.file.clone(),
                    line: lines.line("").or(origin.line),
                    lines,
                },
            });
        }
    }
    rules
}

/// A Prometheus duration (`1m`, `90s`, `1h30m`) in seconds.
pub fn prometheus_seconds(text: &str) -> Option<f64> {
    humantime::parse_duration(text.trim())
        .ok()
        .map(|d| d.as_secs_f64())
}

fn typed<T: DeserializeOwned>(
    value: Value,
    origin: Origin,
    kind: &str,
    at: &str,
) -> Result<Obj<T>> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let object = serde_json::from_value(value)
        .map_err(|e| Error::Input(format!("{at}: {kind} {name} is not valid: {e}")))?;
    Ok(Obj { object, origin })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFESTS: &str = "\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: prod
    spec:
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
            - name: app
              image: app:1
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: posthog
spec:
  groups:
    - name: posthog
      rules:
        - alert: PostHogApiDown
          expr: sum(increase(x{status=~\"5..\"}[1m])) > 10
          for: 2m
          labels: {severity: critical}
        - record: job:x:rate5m
          expr: rate(x[5m])
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: c}
";

    #[test]
    fn lists_rules_and_namespaces() {
        let mut facts = ClusterFacts::default();
        add_text(&mut facts, "all.yaml", MANIFESTS, "default").unwrap();
        assert_eq!(facts.services.len(), 1);
        assert_eq!(facts.services[0].namespace(), "default");
        assert_eq!(facts.services[0].origin.line, Some(4));
        let deploy = &facts.deployments[0];
        assert_eq!(deploy.namespace(), "prod");
        assert_eq!(deploy.origin.line, Some(10));
        assert_eq!(
            deploy
                .origin
                .locate("/spec/template/spec/containers/0/image"),
            Some(("all.yaml".to_string(), Some(24)))
        );
        assert_eq!(facts.alert_rules.len(), 1);
        assert_eq!(facts.alert_rules[0].name, "PostHogApiDown");
        assert_eq!(facts.alert_rules[0].origin.line, Some(34));
        assert_eq!(facts.alert_rules[0].severity.as_deref(), Some("critical"));
        assert_eq!(facts.alert_rules[0].for_seconds, Some(120.0));
        assert!(facts.ignored_kinds.contains("Certificate"));
    }

    #[test]
    fn invalid_objects_name_file_and_line() {
        let mut facts = ClusterFacts::default();
        let err = add_text(
            &mut facts,
            "bad.yaml",
            "a: 1\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: many}\n",
            "default",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            "bad.yaml:1: a document without `kind` is not a Kubernetes object"
        );
        let err = add_text(
            &mut facts,
            "bad.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: many}\n",
            "default",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bad.yaml:1: Deployment x is not valid"),
            "{err}"
        );
    }

    #[test]
    fn directories_read_yaml_files_and_recurse_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kind: nope").unwrap();
        std::fs::write(
            dir.path().join("sub/b.yml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
        )
        .unwrap();
        let flat = load(&[Input::Path(dir.path().to_path_buf())], false, "default").unwrap();
        assert_eq!(flat.services.len(), 1);
        let deep = load(&[Input::Path(dir.path().to_path_buf())], true, "default").unwrap();
        assert_eq!(deep.services.len(), 2);
        let err = load(
            &[Input::Path(dir.path().join("missing.yaml"))],
            false,
            "default",
        )
        .unwrap_err();
        assert_eq!(err.exit().code(), 2);
    }
}
