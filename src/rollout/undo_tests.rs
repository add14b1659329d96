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
