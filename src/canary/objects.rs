//! The Kubernetes objects and patches a canary writes, built by pure functions from the stable
//! Deployment: the canary Deployment, the promotion patch, and the image arguments.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::state::CANARY_OF_ANNOTATION;

/// The value of the track label on the canary's pods.
pub const CANARY_TRACK: &str = "canary";
/// Marks objects this tool created.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kubectl-posthog");

/// The canary Deployment's name for a stable Deployment.
pub fn canary_name(stable: &str) -> String {
    format!("{stable}-canary")
}

/// One `--image [CONTAINER=]IMAGE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArg {
    pub container: Option<String>,
    pub image: String,
}

impl ImageArg {
    pub fn parse(raw: &str) -> Result<ImageArg, String> {
        let raw = raw.trim();
        // `registry:5000/app:1` has a colon but no '=': only '=' separates a container name.
        let (container, image) = match raw.split_once('=') {
            Some((c, i)) => (Some(c.trim().to_string()), i.trim().to_string()),
            None => (None, raw.to_string()),
        };
        if image.is_empty() || image.contains(char::is_whitespace) {
            return Err(format!(
                "invalid --image {raw:?}: write IMAGE or CONTAINER=IMAGE, e.g. app=ghcr.io/acme/app:2.0"
            ));
        }
        if container.as_deref().is_some_and(str::is_empty) {
            return Err(format!(
                "invalid --image {raw:?}: the container name before '=' is empty"
            ));
        }
        Ok(ImageArg { container, image })
    }
}

/// Container name → image of the pod template's containers.
/// Images as people read them in reports and events: `IMAGE, IMAGE` in container order.
pub fn images_text(images: &BTreeMap<String, String>) -> String {
    images.values().cloned().collect::<Vec<_>>().join(", ")
}

pub fn template_images(deployment: &Deployment) -> BTreeMap<String, String> {
    containers(deployment)
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

fn containers(deployment: &Deployment) -> &[k8s_openapi::api::core::v1::Container] {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
}

/// Resolves `--image` arguments against the stable's containers: a bare image needs exactly
/// one container; a named container must exist. Returns only the containers that change.
pub fn resolve_images(
    stable: &Deployment,
    args: &[ImageArg],
) -> Result<BTreeMap<String, String>, String> {
    let current = template_images(stable);
    let names: Vec<&str> = current.keys().map(String::as_str).collect();
    let mut images = BTreeMap::new();
    for arg in args {
        let container = match &arg.container {
            Some(name) => {
                if !current.contains_key(name) {
                    return Err(format!(
                        "container {name:?} not found in the pod template (containers: {})",
                        names.join(", ")
                    ));
                }
                name.clone()
            }
            None => match names.as_slice() {
                [only] => (*only).to_string(),
                _ => {
                    return Err(format!(
                        "the pod template has {} containers ({}): write --image CONTAINER=IMAGE",
                        names.len(),
                        names.join(", ")
                    ));
                }
            },
        };
        images.insert(container, arg.image.clone());
    }
    Ok(images)
}

/// The canary Deployment: the stable's template with the new images, the stable's pod labels
/// plus `track_label: canary` (so the Service that selects the stable's pods selects these
/// too), owned by the stable so deleting the stable removes it.
pub fn canary_deployment(
    stable: &Deployment,
    images: &BTreeMap<String, String>,
    track_label: &str,
    replicas: u32,
) -> Result<Deployment, String> {
    let stable_name = stable.metadata.name.clone().unwrap_or_default();
    let spec = stable
        .spec
        .as_ref()
        .ok_or_else(|| format!("deployment {stable_name} has no spec"))?;
    if spec
        .selector
        .match_labels
        .as_ref()
        .is_some_and(|l| l.contains_key(track_label))
        || spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .is_some_and(|l| l.contains_key(track_label))
    {
        return Err(format!(
            "the stable's pods already carry the label {track_label:?}: set canary.labels.track \
             to a key they do not use"
        ));
    }
    let mut template = spec.template.clone();
    let template_meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    template_meta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(track_label.to_string(), CANARY_TRACK.to_string());
    if let Some(pod_spec) = template.spec.as_mut() {
        for container in &mut pod_spec.containers {
            if let Some(image) = images.get(&container.name) {
                container.image = Some(image.clone());
            }
        }
    }
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(track_label.to_string(), CANARY_TRACK.to_string());

    let mut labels = stable.metadata.labels.clone().unwrap_or_default();
    labels.insert(track_label.to_string(), CANARY_TRACK.to_string());
    labels.insert(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string());
    let owner = stable.metadata.uid.clone().map(|uid| OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: stable_name.clone(),
        uid,
        controller: Some(false),
        block_owner_deletion: Some(false),
    });
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(canary_name(&stable_name)),
            namespace: stable.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                CANARY_OF_ANNOTATION.to_string(),
                stable_name,
            )])),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            selector,
            template,
            strategy: spec.strategy.clone(),
            min_ready_seconds: spec.min_ready_seconds,
            progress_deadline_seconds: spec.progress_deadline_seconds,
            revision_history_limit: Some(1),
            paused: None,
        }),
        status: None,
    })
}

/// Whether an existing Deployment named like the canary is ours and runs these images.
pub fn canary_matches(
    existing: &Deployment,
    stable: &str,
    images: &BTreeMap<String, String>,
) -> CanaryMatch {
    let ours = existing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CANARY_OF_ANNOTATION))
        .is_some_and(|s| s == stable);
    if !ours {
        return CanaryMatch::NotOurs;
    }
    let current = template_images(existing);
    if images.iter().all(|(c, i)| current.get(c) == Some(i)) {
        CanaryMatch::Same
    } else {
        CanaryMatch::DifferentImages
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryMatch {
    Same,
    DifferentImages,
    NotOurs,
}

/// Promotion as one RFC 6902 patch of the stable: each changed container's image (guarded by a
/// `test` of its name, so a template edited meanwhile fails instead of being overwritten), the
/// original replica count, and a change-cause for `kubectl rollout history`.
///
/// `replicas` is `None` when an HPA owns them: the promotion then writes the template only.
pub fn promotion_patch(
    stable: &Deployment,
    images: &BTreeMap<String, String>,
    replicas: Option<u32>,
    change_cause: &str,
) -> Result<json_patch::Patch, String> {
    let mut ops = Vec::new();
    // Conditional on the stable as read: a change by anyone since fails the patch.
    if let Some(version) = &stable.metadata.resource_version {
        ops.push(serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}));
    }
    for (index, container) in containers(stable).iter().enumerate() {
        let Some(image) = images.get(&container.name) else {
            continue;
        };
        let path = format!("/spec/template/spec/containers/{index}");
        ops.push(serde_json::json!({"op": "test", "path": format!("{path}/name"), "value": container.name}));
        ops.push(
            serde_json::json!({"op": "replace", "path": format!("{path}/image"), "value": image}),
        );
    }
    let conditions = usize::from(stable.metadata.resource_version.is_some());
    if ops.len() != images.len() * 2 + conditions {
        return Err("a container of the canary is missing from the stable's template".to_string());
    }
    if let Some(replicas) = replicas {
        ops.push(serde_json::json!({"op": "replace", "path": "/spec/replicas", "value": replicas}));
    }
    if stable.metadata.annotations.is_some() {
        ops.push(serde_json::json!({
            "op": "add",
            "path": "/metadata/annotations/kubernetes.io~1change-cause",
            "value": change_cause,
        }));
    }
    serde_json::from_value(serde_json::Value::Array(ops)).map_err(|e| e.to_string())
}

/// The autoscaling/v2 HPA whose `scaleTargetRef` is Deployment `stable` (the first, by name,
/// when several are: the HPA controller itself refuses to act on such a target).
pub fn autoscaler_of<'a>(
    hpas: &'a [HorizontalPodAutoscaler],
    stable: &str,
) -> Option<&'a HorizontalPodAutoscaler> {
    autoscalers_of(hpas, stable).into_iter().next()
}

/// Every HPA that targets the stable, by name (more than one: Kubernetes scales it by none,
/// with `AmbiguousSelector`).
pub fn autoscalers_of<'a>(
    hpas: &'a [HorizontalPodAutoscaler],
    stable: &str,
) -> Vec<&'a HorizontalPodAutoscaler> {
    let mut found: Vec<&HorizontalPodAutoscaler> = hpas
        .iter()
        .filter(|h| {
            h.spec.as_ref().is_some_and(|spec| {
                let target = &spec.scale_target_ref;
                target.kind == "Deployment"
                    && target.name == stable
                    && target
                        .api_version
                        .as_deref()
                        .is_none_or(|v| v.starts_with("apps/"))
            })
        })
        .collect();
    found.sort_by_key(|h| h.metadata.name.clone());
    found
}

/// A fingerprint of a Deployment's spec without `spec.replicas` (FNV-1a of its JSON, whose
/// keys serde_json keeps sorted): equal before and after an HPA's scaling, different after any
/// other change to the spec.
pub fn spec_fingerprint(deployment: &Deployment) -> String {
    let mut spec = serde_json::to_value(&deployment.spec).unwrap_or_default();
    if let Some(map) = spec.as_object_mut() {
        map.remove("replicas");
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in spec.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A JSON merge patch of `spec.replicas`.
pub fn scale_patch(replicas: u32) -> serde_json::Value {
    serde_json::json!({ "spec": { "replicas": replicas } })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn stable() -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "7",
                "labels": {"app": "web"},
                "annotations": {"deployment.kubernetes.io/revision": "3"}
            },
            "spec": {
                "replicas": 10,
                "progressDeadlineSeconds": 120,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "app", "image": "ghcr.io/acme/app:1.0"},
                        {"name": "proxy", "image": "envoy:1.30"}
                    ]}
                }
            },
            "status": {"replicas": 10}
        }))
        .unwrap()
    }

    #[test]
    fn image_arguments() {
        assert_eq!(
            ImageArg::parse("app=ghcr.io/acme/app:2.0").unwrap(),
            ImageArg {
                container: Some("app".into()),
                image: "ghcr.io/acme/app:2.0".into()
            }
        );
        assert_eq!(
            ImageArg::parse("registry:5000/app:2").unwrap().container,
            None
        );
        assert!(ImageArg::parse("=x").is_err());
        assert!(ImageArg::parse("app=").is_err());
    }

    #[test]
    fn bare_image_needs_a_single_container() {
        let err = resolve_images(&stable(), &[ImageArg::parse("x:2").unwrap()]).unwrap_err();
        assert!(
            err.contains("CONTAINER=IMAGE") && err.contains("app, proxy"),
            "{err}"
        );
        let err = resolve_images(&stable(), &[ImageArg::parse("nope=x:2").unwrap()]).unwrap_err();
        assert!(err.contains("\"nope\" not found"), "{err}");
        let images = resolve_images(&stable(), &[ImageArg::parse("app=x:2").unwrap()]).unwrap();
        assert_eq!(images, BTreeMap::from([("app".into(), "x:2".into())]));
    }

    #[test]
    fn canary_shares_the_stables_pod_labels_plus_the_track() {
        let images = BTreeMap::from([("app".to_string(), "ghcr.io/acme/app:2.0".to_string())]);
        let canary = canary_deployment(&stable(), &images, "track", 1).unwrap();
        assert_eq!(canary.metadata.name.as_deref(), Some("web-canary"));
        assert_eq!(canary.metadata.resource_version, None);
        let spec = canary.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        let selector = spec.selector.match_labels.as_ref().unwrap();
        assert_eq!(selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(selector.get("track").map(String::as_str), Some("canary"));
        let labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(labels.get("track").map(String::as_str), Some("canary"));
        let images = template_images(&canary);
        assert_eq!(images["app"], "ghcr.io/acme/app:2.0");
        assert_eq!(
            images["proxy"], "envoy:1.30",
            "untouched containers keep their image"
        );
        let owner = &canary.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), ("web", "u-1"));
        assert_eq!(spec.progress_deadline_seconds, Some(120));
        assert_eq!(
            canary_matches(
                &canary,
                "web",
                &BTreeMap::from([("app".into(), "ghcr.io/acme/app:2.0".into())])
            ),
            CanaryMatch::Same
        );
        assert_eq!(
            canary_matches(
                &canary,
                "web",
                &BTreeMap::from([("app".into(), "ghcr.io/acme/app:3.0".into())])
            ),
            CanaryMatch::DifferentImages
        );
        assert_eq!(
            canary_matches(&stable(), "web", &BTreeMap::new()),
            CanaryMatch::NotOurs
        );
    }

    #[test]
    fn a_stable_already_using_the_track_label_is_refused() {
        let mut s = stable();
        s.spec
            .as_mut()
            .unwrap()
            .template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("track".into(), "stable".into());
        let err = canary_deployment(&s, &BTreeMap::new(), "track", 1).unwrap_err();
        assert!(err.contains("canary.labels.track"), "{err}");
    }

    #[test]
    fn promotion_patch_sets_images_replicas_and_change_cause() {
        let images = BTreeMap::from([("proxy".to_string(), "envoy:1.31".to_string())]);
        let patch = promotion_patch(&stable(), &images, Some(10), "canary promoted").unwrap();
        let json = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                // Conditional on the stable as read: anyone's change since fails it.
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "proxy"},
                {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "envoy:1.31"},
                {"op": "replace", "path": "/spec/replicas", "value": 10},
                {"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": "canary promoted"}
            ])
        );
        let mut doc = serde_json::to_value(stable()).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        let patched: Deployment = serde_json::from_value(doc).unwrap();
        assert_eq!(template_images(&patched)["proxy"], "envoy:1.31");
        let missing = BTreeMap::from([("gone".to_string(), "x".to_string())]);
        assert!(promotion_patch(&stable(), &missing, Some(10), "").is_err());
    }

    #[test]
    fn with_an_hpa_the_promotion_leaves_replicas_alone() {
        let images = BTreeMap::from([("app".to_string(), "ghcr.io/acme/app:2.0".to_string())]);
        let patch = promotion_patch(&stable(), &images, None, "promoted").unwrap();
        let json = serde_json::to_value(&patch).unwrap();
        assert!(
            !json.to_string().contains("/spec/replicas"),
            "the HPA owns spec.replicas: {json}"
        );
    }

    fn hpa(name: &str, kind: &str, target: &str) -> HorizontalPodAutoscaler {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
                     "minReplicas": 2, "maxReplicas": 10}
        }))
        .unwrap()
    }

    #[test]
    fn the_hpa_of_the_stable_is_the_one_targeting_it() {
        let hpas = [
            hpa("other", "Deployment", "api"),
            hpa("ss", "StatefulSet", "web"),
            hpa("web-b", "Deployment", "web"),
            hpa("web-a", "Deployment", "web"),
        ];
        let found = autoscaler_of(&hpas, "web").and_then(|h| h.metadata.name.as_deref());
        assert_eq!(found, Some("web-a"));
        assert!(autoscaler_of(&hpas, "cart").is_none());
    }

    #[test]
    fn the_fingerprint_ignores_replicas_only() {
        let before = stable();
        let mut scaled = stable();
        scaled.spec.as_mut().unwrap().replicas = Some(4);
        assert_eq!(spec_fingerprint(&before), spec_fingerprint(&scaled));
        let images = BTreeMap::from([("app".to_string(), "x:2".to_string())]);
        let edited = canary_deployment(&before, &images, "track", 1).unwrap();
        assert_ne!(spec_fingerprint(&before), spec_fingerprint(&edited));
    }
}
