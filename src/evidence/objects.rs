//! The Kubernetes objects of the bundle: the Deployment (and canary), ReplicaSets and pods as
//! YAML with `managedFields` stripped and every credential in them blanked (embedded documents too),
//! events, HPA/PDB, the rollout history, and the referenced Secrets by name and key name only.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::logs::short_error;
use super::workload::{Workload, revision};
use crate::kube::Cluster;
use crate::redact::{Redactor, redacted_value};

/// Drops what makes YAML long without telling anything about an incident.
pub fn strip(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
}

/// An object as YAML with every credential in it (and in the documents embedded in it, such as
/// `last-applied-configuration`) blanked ([`redact_document`]); returns how many.
pub fn redacted_yaml<T: Serialize>(object: &T, redactor: &Redactor) -> (String, usize) {
    let (value, count) = redacted_value(object, redactor);
    (yaml(&value), count)
}

/// As [`redacted_yaml`], for a `kind: List` of objects.
pub fn redacted_yaml_list<T: Serialize>(items: &[T], redactor: &Redactor) -> (String, usize) {
    let (value, count) = redacted_value(&items, redactor);
    let items = match value {
        serde_json::Value::Array(items) => items,
        _ => Vec::new(),
    };
    (yaml_list(&items), count)
}

/// A list of objects as one YAML document (`kind: List`, as `kubectl get -o yaml` prints).
pub fn yaml_list<T: Serialize>(items: &[T]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a, T> {
        api_version: &'static str,
        kind: &'static str,
        items: &'a [T],
    }
    serde_saphyr::to_string(&List {
        api_version: "v1",
        kind: "List",
        items,
    })
    .unwrap_or_default()
}

pub fn yaml<T: Serialize>(object: &T) -> String {
    serde_saphyr::to_string(object).unwrap_or_default()
}

/// Events, HPAs and PDBs: each list can fail on its own (RBAC, an API the cluster lacks).
pub struct Related {
    pub events: Result<Vec<Event>, String>,
    pub hpas: Result<Vec<HorizontalPodAutoscaler>, String>,
    pub pdbs: Result<Vec<PodDisruptionBudget>, String>,
}

pub async fn fetch_related(
    cluster: &Cluster,
    workload: &Workload,
    since: jiff::Timestamp,
) -> Related {
    let ns = &cluster.namespace;
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(cluster.client.clone(), ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), ns);
    let params = ListParams::default();
    let (events, hpas, pdbs) =
        tokio::join!(events.list(&params), hpas.list(&params), pdbs.list(&params));
    let names = involved_names(workload);
    let canary_prefix = format!("{}-canary", workload.name());
    let deployments: Vec<&str> = [
        Some(workload.name()),
        workload
            .canary
            .as_ref()
            .and_then(|c| c.metadata.name.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let labels = workload
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref()?.labels.clone())
        .unwrap_or_default();
    Related {
        events: events
            .map(|list| {
                let mut items: Vec<Event> = list
                    .items
                    .into_iter()
                    .filter(|e| {
                        let name = e.involved_object.name.clone().unwrap_or_default();
                        // Earlier canaries' Deployment, ReplicaSets and pods are gone, their
                        // events are not (issue 18 item 1).
                        names.contains(&name) || name.starts_with(&canary_prefix)
                    })
                    .filter(|e| event_time(e).is_none_or(|t| t >= since))
                    .collect();
                items.sort_by_key(event_time);
                items
            })
            .map_err(|e| format!("list events: {}", short_error(&e))),
        hpas: hpas
            .map(|list| {
                list.items
                    .into_iter()
                    .filter(|h| {
                        let target = &h.spec.as_ref().map(|s| s.scale_target_ref.clone());
                        target.as_ref().is_some_and(|t| {
                            t.kind == "Deployment" && deployments.contains(&t.name.as_str())
                        })
                    })
                    .collect()
            })
            .map_err(|e| format!("list horizontalpodautoscalers: {}", short_error(&e))),
        pdbs: pdbs
            .map(|list| {
                list.items
                    .into_iter()
                    .filter(|p| {
                        p.spec
                            .as_ref()
                            .and_then(|s| s.selector.as_ref())
                            .and_then(|s| s.match_labels.as_ref())
                            .is_some_and(|m| {
                                !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v))
                            })
                    })
                    .collect()
            })
            .map_err(|e| format!("list poddisruptionbudgets: {}", short_error(&e))),
    }
}

/// Names of every object an incident's events can be about.
fn involved_names(workload: &Workload) -> Vec<String> {
    let mut names = vec![workload.name().to_string()];
    names.extend(
        workload
            .canary
            .as_ref()
            .and_then(|c| c.metadata.name.clone()),
    );
    names.extend(
        workload
            .replica_sets
            .iter()
            .filter_map(|rs| rs.metadata.name.clone()),
    );
    names.extend(
        workload
            .pods
            .iter()
            .filter_map(|(p, _)| p.metadata.name.clone()),
    );
    names
}

/// When an event last happened: `lastTimestamp`, else `eventTime`, else `firstTimestamp`.
pub fn event_time(event: &Event) -> Option<jiff::Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
}

/// One revision of the rollout history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionRow {
    pub deployment: String,
    pub revision: u64,
    pub replica_set: String,
    pub created: Option<jiff::Timestamp>,
    pub images: Vec<String>,
    pub replicas: i32,
    pub ready: i32,
    pub change_cause: Option<String>,
    /// The numbers this ReplicaSet had before (`deployment.kubernetes.io/revision-history`):
    /// `rollout undo` renumbers the revision it brings back, so the first of these is the
    /// number it had when it was created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_revisions: Vec<u64>,
}

impl RevisionRow {
    /// The number the revision had when its ReplicaSet was created.
    pub fn first_revision(&self) -> u64 {
        self.earlier_revisions
            .iter()
            .copied()
            .chain(std::iter::once(self.revision))
            .min()
            .unwrap_or(self.revision)
    }
}

/// `kubectl rollout history`, with the images, creation time and replicas of each revision.
pub fn rollout_history(replica_sets: &[ReplicaSet]) -> Vec<RevisionRow> {
    let mut rows: Vec<RevisionRow> = replica_sets
        .iter()
        .map(|rs| {
            let owner = rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let images = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref()?.spec.as_ref())
                .map(|s| {
                    s.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default();
            let annotations: BTreeMap<String, String> =
                rs.metadata.annotations.clone().unwrap_or_default();
            RevisionRow {
                deployment: owner,
                revision: revision(rs),
                replica_set: rs.metadata.name.clone().unwrap_or_default(),
                created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                images,
                replicas: rs.status.as_ref().map_or(0, |s| s.replicas),
                ready: rs
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0),
                change_cause: annotations.get("kubernetes.io/change-cause").cloned(),
                earlier_revisions: annotations
                    .get("deployment.kubernetes.io/revision-history")
                    .map(|h| h.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.deployment
            .cmp(&b.deployment)
            .then(a.revision.cmp(&b.revision))
    });
    rows
}

pub fn rollout_history_text(rows: &[RevisionRow]) -> String {
    let mut out = String::new();
    let mut current = None;
    for row in rows {
        if current != Some(&row.deployment) {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("deployment.apps/{}\n", row.deployment));
            out.push_str("REVISION  CREATED               REPLICAS  READY  IMAGES  CHANGE-CAUSE\n");
            current = Some(&row.deployment);
        }
        out.push_str(&format!(
            "{:<9} {:<21} {:<9} {:<6} {}  {}\n",
            row.revision,
            row.created.map_or("-".to_string(), |t| t
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()),
            row.replicas,
            row.ready,
            row.images.join(","),
            row.change_cause.as_deref().unwrap_or("<none>")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_literal_env_values_are_blanked_and_references_kept() {
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(json!({"containers": [{"name": "app", "env": [
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "POSTHOG_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "SENTRY_DSN", "value": "https://k@sentry.io/1"}
        ]}]}))
        .unwrap();
        let (text, count) = redacted_yaml(&spec, &Redactor::patterns_only());
        assert_eq!(count, 2);
        assert!(
            !text.contains("hunter2") && !text.contains("k@sentry"),
            "{text}"
        );
        assert!(
            text.contains("LOG_LEVEL") && text.contains("info") && text.contains("secretKeyRef")
        );
    }

    #[test]
    fn history_reads_like_kubectl_with_images() {
        let rs = |name: &str, rev: &str, image: &str, cause: Option<&str>| -> ReplicaSet {
            let mut annotations = json!({"deployment.kubernetes.io/revision": rev});
            if let Some(c) = cause {
                annotations["kubernetes.io/change-cause"] = json!(c);
            }
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": annotations, "creationTimestamp": "2026-11-22T09:00:00Z",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
                "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
                "status": {"replicas": 2, "readyReplicas": 1}
            }))
            .unwrap()
        };
        let rows = rollout_history(&[
            rs("web-b", "2", "app:2", None),
            rs("web-a", "1", "app:1", Some("initial")),
        ]);
        assert_eq!(rows.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2]);
        let text = rollout_history_text(&rows);
        assert!(text.starts_with("deployment.apps/web\nREVISION"), "{text}");
        assert!(
            text.contains("1         2026-11-22T09:00:00Z  2         1      app:1  initial"),
            "{text}"
        );
        assert!(text.contains("app:2  <none>"), "{text}");
    }
}
