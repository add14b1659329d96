//! The undo patch, computed exactly as `kubectl rollout undo` computes it
//! (kubectl `pkg/polymorphichelpers/rollback.go` and `pkg/util/deployment`):
//!
//! - the history is the ReplicaSets matching the Deployment's selector whose controller
//!   ownerReference carries the Deployment's UID; a ReplicaSet's revision is its
//!   `deployment.kubernetes.io/revision` annotation (absent counts as 0, unparsable is skipped);
//! - `--to-revision 0` picks the second-highest revision, any other number the first
//!   ReplicaSet carrying it;
//! - a paused Deployment is refused; a template that already equals the target's (ignoring
//!   `pod-template-hash`) is "already at revision N" and changes nothing;
//! - otherwise ONE JSON patch replaces `/spec/template` with the ReplicaSet's template minus the
//!   hash label, and `/metadata/annotations` with the Deployment's own values of the annotations
//!   kubectl preserves plus every other annotation of the ReplicaSet.
//!
//! Two deliberate additions, neither of which changes the resulting object:
//! the patch also replaces `/metadata/resourceVersion` with the version the plan was computed
//! from, which the API server treats as a precondition (a Deployment changed under us answers
//! 409 and the caller re-reads instead of rolling back to a revision chosen from stale history);
//! and this tool's own canary annotations are preserved like kubectl's, so rolling back to an
//! old ReplicaSet can never resurrect the state of a canary that ran long ago.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::core::{Selector, SelectorExt};
use serde_json::Value;

use crate::annotations::{COMMAND_ANNOTATION, STATE_ANNOTATION};

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
pub const HASH_LABEL: &str = "pod-template-hash";

/// Annotations kubectl keeps from the Deployment instead of copying them from the ReplicaSet
/// (`annotationsToSkip` in rollback.go).
pub const KUBECTL_PRESERVED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// This tool's annotations, preserved the same way (see the module header).
pub const TOOL_PRESERVED: [&str; 2] = [STATE_ANNOTATION, COMMAND_ANNOTATION];

/// Why an undo cannot be computed; the messages are kubectl's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    #[error("no rollout history found for deployment {name:?}")]
    NoHistory { name: String },
    #[error("unable to find specified revision {revision} in history")]
    RevisionNotFound {
        revision: i64,
        /// The revisions that do exist, for the hint.
        available: Vec<i64>,
    },
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    Paused { name: String },
    #[error("deployment {name:?} has an invalid selector: {detail}")]
    BadSelector { name: String, detail: String },
}

/// One revision of a Deployment: a ReplicaSet it controls.
#[derive(Debug, Clone, Copy)]
pub struct Revision<'a> {
    pub number: i64,
    pub replica_set: &'a ReplicaSet,
}

/// What an undo will do.
#[derive(Debug, Clone, PartialEq)]
pub struct UndoPlan {
    pub name: String,
    /// The Deployment's own revision annotation before the undo.
    pub current_revision: Option<i64>,
    pub target_revision: i64,
    pub target_replica_set: String,
    /// The target ReplicaSet's `pod-template-hash`: it selects the pods the rollback waits for.
    pub target_hash: Option<String>,
    /// The revision the target becomes once the controller adopts it: one above every other
    /// revision (the Deployment controller's rule). Rolling back "to" it again is a no-op.
    pub resulting_revision: i64,
    /// The target ReplicaSet's template without the hash label: what the Deployment will run.
    pub target_template: PodTemplateSpec,
    pub action: UndoAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UndoAction {
    /// The template already matches the target revision: nothing to send.
    AlreadyAt,
    /// Send this RFC 6902 patch.
    Patch {
        patch: json_patch::Patch,
        annotations: BTreeMap<String, String>,
    },
}

/// kubectl's `deploymentutil.Revision`: no annotation is revision 0, a malformed one is `None`.
pub fn revision_of(annotations: Option<&BTreeMap<String, String>>) -> Option<i64> {
    match annotations.and_then(|a| a.get(REVISION_ANNOTATION)) {
        None => Some(0),
        Some(text) => text.parse().ok(),
    }
}

/// The Deployment's history, in the order the ReplicaSets were given (the API's list order,
/// which is what kubectl iterates): ReplicaSets matching the selector and controlled by it.
pub fn history<'a>(
    deployment: &Deployment,
    replica_sets: &'a [ReplicaSet],
) -> Result<Vec<Revision<'a>>, UndoError> {
    let selector = selector_of(deployment)?;
    let uid = deployment.metadata.uid.as_deref();
    Ok(replica_sets
        .iter()
        .filter(|rs| {
            let labels = rs.metadata.labels.clone().unwrap_or_default();
            selector.matches(&labels) && uid.is_some_and(|uid| controlled_by(rs, uid))
        })
        .filter_map(|rs| {
            revision_of(rs.metadata.annotations.as_ref()).map(|number| Revision {
                number,
                replica_set: rs,
            })
        })
        .collect())
}

/// The label selector as the API takes it (`app=web,tier in (a,b)`).
pub fn selector_of(deployment: &Deployment) -> Result<Selector, UndoError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let selector = deployment
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    Selector::try_from(selector).map_err(|e| UndoError::BadSelector {
        name,
        detail: e.to_string(),
    })
}

fn controlled_by(rs: &ReplicaSet, uid: &str) -> bool {
    rs.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// kubectl's `deploymentRevision`: the ReplicaSet to roll back to.
pub fn select_revision<'a>(
    deployment: &Deployment,
    replica_sets: &'a [ReplicaSet],
    to_revision: i64,
) -> Result<Revision<'a>, UndoError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let revisions = history(deployment, replica_sets)?;
    let not_found = || UndoError::RevisionNotFound {
        revision: to_revision,
        available: sorted_numbers(&revisions),
    };
    if to_revision < 0 {
        return Err(not_found());
    }
    if to_revision > 0 {
        return revisions
            .iter()
            .find(|r| r.number == to_revision)
            .copied()
            .ok_or_else(not_found);
    }
    // The same scan as kubectl, ties included: strict comparisons keep the first seen.
    let mut latest: Option<Revision<'a>> = None;
    let mut previous: Option<Revision<'a>> = None;
    for revision in revisions {
        let latest_number = latest.map_or(-1, |r| r.number);
        if latest_number < revision.number {
            previous = latest;
            latest = Some(revision);
        } else if previous.map_or(-1, |r| r.number) < revision.number {
            previous = Some(revision);
        }
    }
    previous.ok_or(UndoError::NoHistory { name })
}

fn sorted_numbers(revisions: &[Revision<'_>]) -> Vec<i64> {
    let mut numbers: Vec<i64> = revisions.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// The whole undo, decided: kubectl's refusals in kubectl's order (history, then paused), the
/// "already at" skip, or the patch to send.
pub fn undo_patch(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    to_revision: i64,
) -> Result<UndoPlan, UndoError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let target = select_revision(deployment, replica_sets, to_revision)?;
    let spec = deployment.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Err(UndoError::Paused { name });
    }
    let target_template = without_hash(
        &target
            .replica_set
            .spec
            .as_ref()
            .and_then(|s| s.template.clone())
            .unwrap_or_default(),
    );
    let target_name = target.replica_set.metadata.name.as_deref();
    let resulting_revision = history(deployment, replica_sets)?
        .iter()
        .filter(|r| r.replica_set.metadata.name.as_deref() != target_name)
        .map(|r| r.number)
        .max()
        .unwrap_or(0)
        + 1;
    let plan = |action| UndoPlan {
        resulting_revision,
        name: name.clone(),
        current_revision: revision_of(deployment.metadata.annotations.as_ref())
            .filter(|_| has_revision(deployment)),
        target_revision: target.number,
        target_replica_set: target.replica_set.metadata.name.clone().unwrap_or_default(),
        target_hash: target
            .replica_set
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HASH_LABEL))
            .cloned(),
        target_template: target_template.clone(),
        action,
    };
    if equal_ignore_hash(&target_template, &spec.template) {
        return Ok(plan(UndoAction::AlreadyAt));
    }
    let annotations = restored_annotations(
        deployment.metadata.annotations.as_ref(),
        target.replica_set.metadata.annotations.as_ref(),
    );
    let resource_version = deployment
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut ops = vec![
        serde_json::json!({"op": "replace", "path": "/spec/template", "value": target_template}),
        serde_json::json!({"op": "replace", "path": "/metadata/annotations", "value": annotations}),
    ];
    if !resource_version.is_empty() {
        ops.push(serde_json::json!({
            "op": "replace", "path": "/metadata/resourceVersion", "value": resource_version,
        }));
    }
    // Built from plain JSON values with fixed op names: it always parses.
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).unwrap_or(json_patch::Patch(Vec::new()));
    Ok(plan(UndoAction::Patch { patch, annotations }))
}

/// The `pod-template-hash` of the ReplicaSet running the Deployment's current template.
pub fn current_hash(deployment: &Deployment, replica_sets: &[ReplicaSet]) -> Option<String> {
    let template = deployment.spec.as_ref().map(|s| s.template.clone())?;
    history(deployment, replica_sets)
        .ok()?
        .into_iter()
        .find(|r| {
            r.replica_set
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &template))
        })
        .and_then(|r| {
            r.replica_set
                .metadata
                .labels
                .as_ref()?
                .get(HASH_LABEL)
                .cloned()
        })
}

fn has_revision(deployment: &Deployment) -> bool {
    deployment
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REVISION_ANNOTATION))
}

/// The Deployment's values of the preserved annotations, then every other annotation of the
/// ReplicaSet (kubectl's loop: a preserved key is never taken from the ReplicaSet).
pub fn restored_annotations(
    deployment: Option<&BTreeMap<String, String>>,
    replica_set: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let preserved = |key: &str| KUBECTL_PRESERVED.contains(&key) || TOOL_PRESERVED.contains(&key);
    let mut annotations: BTreeMap<String, String> = deployment
        .into_iter()
        .flatten()
        .filter(|(k, _)| preserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in replica_set.into_iter().flatten() {
        if !preserved(key) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    annotations
}

/// The template with the `pod-template-hash` label removed (an emptied label map is kept empty,
/// as Go's `delete` leaves it; it compares equal to no labels).
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    template
}

/// kubectl's `equalIgnoreHash`: `apiequality.Semantic.DeepEqual` of the two templates without
/// the hash label. Semantic equality treats nil and empty maps and lists alike, so both sides
/// are compared as JSON with empty values pruned. (Quantities are compared as the API server
/// stored them; it canonicalises them, so "1000m" never meets "1" here.)
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalised(&without_hash(a)) == normalised(&without_hash(b))
}

fn normalised(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    prune(&mut value);
    value
}

/// Removes nulls and empty objects and arrays, bottom up.
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                prune(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn deployment(image: &str, revision: &str, extra: Value) -> Deployment {
        let mut annotations = json!({
            REVISION_ANNOTATION: revision,
            "kubernetes.io/change-cause": "deploy 3.0",
            "kubectl.kubernetes.io/last-applied-configuration": "{\"applied\":true}",
            "team": "payments",
        });
        if let (Some(a), Some(e)) = (annotations.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "prod", "uid": "dep-uid", "resourceVersion": "77",
            "annotations": annotations},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image,
                    "env": [{"name": "MODE", "value": "new"}]}]}
            }
        }
    }))
    .unwrap()
    }

    pub(crate) fn replica_set(
        name: &str,
        revision: Option<&str>,
        image: &str,
        owner: &str,
    ) -> ReplicaSet {
        let mut annotations = json!({
            "deployment.kubernetes.io/desired-replicas": "3",
            "deployment.kubernetes.io/max-replicas": "4",
            "kubernetes.io/change-cause": format!("deploy {image}"),
            "team": "payments",
        });
        if let Some(r) = revision {
            annotations[REVISION_ANNOTATION] = json!(r);
        }
        serde_json::from_value(json!({
            "metadata": {
                "name": name, "namespace": "prod",
                "labels": {"app": "web", HASH_LABEL: name},
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                    "uid": owner, "controller": true}]
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web", HASH_LABEL: name}},
                "template": {
                    "metadata": {"labels": {"app": "web", HASH_LABEL: name}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }
            }
        }))
        .unwrap()
    }

    /// A ReplicaSet of `d` whose template is `d`'s own (its image and env): the one running it.
    pub(crate) fn running_replica_set(d: &Deployment, name: &str, revision: &str) -> ReplicaSet {
        let template = &d.spec.as_ref().unwrap().template;
        let container = &template.spec.as_ref().unwrap().containers[0];
        let mut rs = replica_set(
            name,
            Some(revision),
            container.image.as_deref().unwrap_or_default(),
            "dep-uid",
        );
        rs.spec
            .as_mut()
            .unwrap()
            .template
            .as_mut()
            .unwrap()
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .env = container.env.clone();
        rs
    }

    fn names(revisions: &[Revision<'_>]) -> Vec<(i64, String)> {
        revisions
            .iter()
            .map(|r| (r.number, r.replica_set.metadata.name.clone().unwrap()))
            .collect()
    }

    #[test]
    fn history_is_owned_matching_replica_sets_with_kubectl_revision_parsing() {
        let d = deployment("app:3", "3", json!({}));
        let mut foreign = replica_set("other-1", Some("9"), "app:9", "other-uid");
        let mut unlabelled = replica_set("web-x", Some("8"), "app:8", "dep-uid");
        unlabelled.metadata.labels = Some(BTreeMap::from([("app".into(), "api".into())]));
        let mut not_controller = replica_set("web-y", Some("7"), "app:7", "dep-uid");
        not_controller.metadata.owner_references.as_mut().unwrap()[0].controller = Some(false);
        foreign.metadata.namespace = Some("prod".into());
        let rss = vec![
            replica_set("web-a", Some("1"), "app:1", "dep-uid"),
            foreign,
            unlabelled,
            not_controller,
            replica_set("web-b", None, "app:0", "dep-uid"),
            replica_set("web-c", Some("two"), "app:2", "dep-uid"),
            replica_set("web-d", Some("3"), "app:3", "dep-uid"),
        ];
        assert_eq!(
            names(&history(&d, &rss).unwrap()),
            [
                (1, "web-a".to_string()),
                (0, "web-b".into()),
                (3, "web-d".into())
            ],
            "missing revision annotation is 0, unparsable is skipped, foreign ones are ignored"
        );
    }

    #[test]
    fn default_target_is_the_second_highest_revision_in_any_order() {
        let d = deployment("app:5", "5", json!({}));
        let rss = vec![
            replica_set("web-c", Some("3"), "app:3", "dep-uid"),
            replica_set("web-e", Some("5"), "app:5", "dep-uid"),
            replica_set("web-a", Some("1"), "app:1", "dep-uid"),
            replica_set("web-d", Some("4"), "app:4", "dep-uid"),
        ];
        let target = select_revision(&d, &rss, 0).unwrap();
        assert_eq!(target.number, 4);
        assert_eq!(target.replica_set.metadata.name.as_deref(), Some("web-d"));
        let explicit = select_revision(&d, &rss, 1).unwrap();
        assert_eq!(explicit.replica_set.metadata.name.as_deref(), Some("web-a"));
    }

    #[test]
    fn equal_revisions_keep_the_first_seen_like_kubectl() {
        let d = deployment("app:5", "5", json!({}));
        let rss = vec![
            replica_set("web-e", Some("5"), "app:5", "dep-uid"),
            replica_set("web-p", Some("2"), "app:2", "dep-uid"),
            replica_set("web-q", Some("2"), "app:2b", "dep-uid"),
        ];
        let target = select_revision(&d, &rss, 0).unwrap();
        assert_eq!(target.replica_set.metadata.name.as_deref(), Some("web-p"));
    }

    #[test]
    fn refusals_use_kubectls_words() {
        let d = deployment("app:1", "1", json!({}));
        let only = vec![replica_set("web-a", Some("1"), "app:1", "dep-uid")];
        let err = select_revision(&d, &only, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no rollout history found for deployment \"web\""
        );
        let err = select_revision(&d, &[], 0).unwrap_err();
        assert!(matches!(err, UndoError::NoHistory { .. }));

        let err = select_revision(&d, &only, 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find specified revision 7 in history"
        );
        assert_eq!(
            err,
            UndoError::RevisionNotFound {
                revision: 7,
                available: vec![1]
            }
        );
        assert!(matches!(
            select_revision(&d, &only, -1).unwrap_err(),
            UndoError::RevisionNotFound { revision: -1, .. }
        ));
    }

    #[test]
    fn paused_is_refused_after_the_history_checks() {
        let mut d = deployment("app:2", "2", json!({}));
        d.spec.as_mut().unwrap().paused = Some(true);
        let rss = vec![
            replica_set("web-a", Some("1"), "app:1", "dep-uid"),
            replica_set("web-b", Some("2"), "app:2", "dep-uid"),
        ];
        let err = undo_patch(&d, &rss, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
        );
        // kubectl looks up the revision first: a missing one wins over the pause.
        assert!(matches!(
            undo_patch(&d, &rss, 9).unwrap_err(),
            UndoError::RevisionNotFound { .. }
        ));
    }

    #[test]
    fn matching_template_is_already_at_the_revision() {
        let d = deployment("app:1", "2", json!({}));
        let mut rs = replica_set("web-a", Some("1"), "app:1", "dep-uid");
        // The same template as the Deployment's, plus the hash label and an explicit empty map.
        let template = rs.spec.as_mut().unwrap().template.as_mut().unwrap();
        template.spec.as_mut().unwrap().containers[0].env =
            Some(vec![k8s_openapi::api::core::v1::EnvVar {
                name: "MODE".into(),
                value: Some("new".into()),
                ..Default::default()
            }]);
        template.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
        let rss = vec![rs, replica_set("web-b", Some("2"), "app:2", "dep-uid")];
        let plan = undo_patch(&d, &rss, 1).unwrap();
        assert_eq!(plan.action, UndoAction::AlreadyAt);
        assert_eq!((plan.current_revision, plan.target_revision), (Some(2), 1));
    }

    #[test]
    fn patch_replaces_template_and_annotations_as_kubectl_does() {
        let d = deployment(
            "app:3",
            "3",
            json!({
                "deployment.kubernetes.io/revision-history": "1",
                STATE_ANNOTATION: "{\"phase\":\"aborted\"}",
            }),
        );
        let mut old = replica_set("web-a", Some("1"), "app:1", "dep-uid");
        old.metadata.annotations.as_mut().unwrap().insert(
            STATE_ANNOTATION.into(),
            "{\"phase\":\"progressing\"}".into(),
        );
        let rss = vec![old, replica_set("web-c", Some("3"), "app:3", "dep-uid")];
        let plan = undo_patch(&d, &rss, 0).unwrap();
        assert_eq!(plan.target_replica_set, "web-a");
        assert_eq!(plan.target_hash.as_deref(), Some("web-a"));
        assert_eq!(plan.resulting_revision, 4, "one above every other revision");
        let UndoAction::Patch { patch, annotations } = &plan.action else {
            panic!("expected a patch, got {:?}", plan.action);
        };
        let expected_annotations = json!({
            // Preserved from the Deployment:
            REVISION_ANNOTATION: "3",
            "deployment.kubernetes.io/revision-history": "1",
            "kubectl.kubernetes.io/last-applied-configuration": "{\"applied\":true}",
            STATE_ANNOTATION: "{\"phase\":\"aborted\"}",
            // Everything else from the ReplicaSet (the Deployment's own change-cause is replaced):
            "kubernetes.io/change-cause": "deploy app:1",
            "team": "payments",
        });
        assert_eq!(
            serde_json::to_value(annotations).unwrap(),
            expected_annotations
        );
        assert_eq!(
            serde_json::to_value(patch).unwrap(),
            json!([
                {"op": "replace", "path": "/spec/template", "value": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]}
                }},
                {"op": "replace", "path": "/metadata/annotations", "value": expected_annotations},
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "77"},
            ])
        );

        let mut doc = serde_json::to_value(&d).unwrap();
        json_patch::patch(&mut doc, patch).unwrap();
        let patched: Deployment = serde_json::from_value(doc).unwrap();
        assert!(equal_ignore_hash(
            &patched.spec.unwrap().template,
            &rss[0].spec.as_ref().unwrap().template.clone().unwrap()
        ));
    }

    #[test]
    fn hash_label_alone_does_not_make_templates_differ() {
        let rs = replica_set("web-a", Some("1"), "app:1", "dep-uid");
        let template = rs.spec.unwrap().template.unwrap();
        let stripped = without_hash(&template);
        assert!(
            !stripped
                .metadata
                .as_ref()
                .unwrap()
                .labels
                .as_ref()
                .unwrap()
                .contains_key(HASH_LABEL)
        );
        assert!(equal_ignore_hash(&template, &stripped));
        let mut other = stripped.clone();
        other.spec.as_mut().unwrap().containers[0].image = Some("app:2".into());
        assert!(!equal_ignore_hash(&template, &other));
    }

    #[test]
    fn current_hash_is_the_replica_set_running_the_template() {
        let d = deployment("app:1", "2", json!({}));
        let running = running_replica_set(&d, "web-a", "2");
        let rss = vec![replica_set("web-b", Some("1"), "app:1", "dep-uid"), running];
        assert_eq!(current_hash(&d, &rss).as_deref(), Some("web-a"));
        assert_eq!(current_hash(&d, &rss[..1]), None);
    }
}
