//! kube-rs against the simulator: typed get/list, the four patch types, replace with a stale
//! resourceVersion, raw watches (including 410 Gone) and `kube::runtime::watcher` relisting.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;
use simcluster::{Fault, SimOptions};

use crate::common::*;

#[tokio::test]
async fn typed_get_list_and_all_patch_types() {
    let sim = start(5.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let api: Api<Deployment> = Api::namespaced(client(&sim).await, "default");
    let d = api.get("web").await.expect("get");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let list = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let p = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/replicas", "value": 2}
                ]))
                .expect("json patch"),
            ),
        )
        .await
        .expect("json patch applies");
    assert_eq!(p.spec.as_ref().and_then(|s| s.replicas), Some(2));

    let p = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "core"}}})),
        )
        .await
        .expect("merge");
    assert_eq!(
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("team"))
            .map(String::as_str),
        Some("core")
    );
    assert_eq!(
        p.metadata.generation,
        Some(2),
        "labels do not bump generation"
    );

    let p = api.patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "A", "value": "1"}]}]}}}}))).await.expect("strategic");
    let c = &p
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("nginx:1"),
        "strategic merge keeps the image"
    );
    assert_eq!(c.env.as_ref().map(Vec::len), Some(1));

    let apply = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4}});
    let p = api
        .patch("web", &PatchParams::apply("simtest"), &Patch::Apply(&apply))
        .await
        .expect("apply");
    assert_eq!(p.spec.as_ref().and_then(|s| s.replicas), Some(4));
    // Server-side apply creates what is missing.
    let mut other = apply.clone();
    other["metadata"]["name"] = json!("api");
    other["spec"] = json!({"replicas": 1, "selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:1"}]}}});
    api.patch("api", &PatchParams::apply("simtest"), &Patch::Apply(&other))
        .await
        .expect("apply creates");
    assert!(sim.get("apps/v1", "Deployment", None, "api").is_some());
    // Apply without a field manager is refused like the apiserver does.
    let raw = http()
        .patch(format!(
            "{}/apis/apps/v1/namespaces/default/deployments/web",
            sim.url()
        ))
        .header("content-type", "application/apply-patch+yaml")
        .body("spec: {replicas: 1}")
        .send()
        .await
        .expect("raw apply");
    assert_eq!(raw.status().as_u16(), 400);

    // Stale resourceVersion -> 409 Conflict.
    let mut stale = d.clone();
    stale.spec.as_mut().expect("spec").replicas = Some(7);
    let err = api
        .replace("web", &PostParams::default(), &stale)
        .await
        .expect_err("stale update fails");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = api
        .create(&PostParams::default(), &d)
        .await
        .expect_err("duplicate");
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"));
    sim.shutdown().await;
}

#[tokio::test]
async fn raw_watch_resumes_and_expires() {
    let sim = start_with(SimOptions {
        watch_history: 20,
        ..SimOptions::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client(&sim).await, "default");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c0"}})).expect("cm"),
        )
        .await
        .expect("create");
    let rv = first.metadata.resource_version.clone().expect("rv");
    for i in 1..5 {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).expect("cm"),
        )
        .await
        .expect("create");
    }
    // Resume from rv: exactly the four later creations.
    let mut stream = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .expect("watch")
        .boxed();
    let mut added = Vec::new();
    while let Ok(Ok(Some(ev))) =
        tokio::time::timeout(Duration::from_secs(3), stream.try_next()).await
    {
        match ev {
            WatchEvent::Added(cm) => added.push(cm.metadata.name.unwrap_or_default()),
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
        if added.len() == 4 {
            break;
        }
    }
    assert_eq!(added, ["c1", "c2", "c3", "c4"]);
    // Push the first event out of the 20-event window: resuming from it is 410 Gone.
    for i in 5..40 {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).expect("cm"),
        )
        .await
        .expect("create");
    }
    let mut stream = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => {
            assert_eq!(e.code, 410);
            assert!(
                e.message.contains("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn runtime_watcher_relists_after_410() {
    let sim = start_with(SimOptions {
        watch_history: 10,
        ..SimOptions::default()
    })
    .await;
    // Every watch ends after 300 ms, so the watcher resumes from its last resourceVersion.
    sim.inject(Fault::DropWatches {
        after: Duration::from_millis(300),
    });
    let api: Api<ConfigMap> = Api::namespaced(client(&sim).await, "default");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "watched", "labels": {"w": "yes"}}}))
            .expect("cm"),
    )
    .await
    .expect("create");
    let cfg = watcher::Config::default().labels("w=yes");
    let mut events = watcher(api.clone(), cfg).boxed();
    let (mut inits, mut relisted, mut expired) = (0, false, false);
    let mut noise_done = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && !relisted {
        match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
            Ok(Some(Ok(watcher::Event::Init))) => inits += 1,
            Ok(Some(Ok(watcher::Event::InitDone))) if inits >= 2 => relisted = true,
            Ok(Some(Err(e))) => expired |= e.to_string().contains("too old resource version"),
            Ok(Some(Ok(watcher::Event::InitDone))) if !noise_done => {
                // Unlabelled writes the watch filters out: its resourceVersion falls behind
                // the 10-event history, so the resumed watch gets 410 and must relist.
                for i in 0..30 {
                    api.create(
                        &PostParams::default(),
                        &serde_json::from_value(json!({"metadata": {"name": format!("noise{i}")}}))
                            .expect("cm"),
                    )
                    .await
                    .expect("create");
                }
                noise_done = true;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert!(expired, "the resumed watch got 410 Gone");
    assert!(relisted, "the watcher relisted after 410 (inits: {inits})");
    let lists = sim
        .requests()
        .iter()
        .filter(|r| !r.is_watch && r.method == "GET" && r.path.ends_with("/configmaps"))
        .count();
    assert!(lists >= 2, "lists: {lists}");
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_sees_rollout_progress() {
    let sim = start(5.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let api: Api<Deployment> = Api::namespaced(client(&sim).await, "default");
    let cfg = watcher::Config::default().fields("metadata.name=web");
    let mut stream = watcher(api, cfg).boxed();
    let mut saw_complete = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(Ok(ev))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await
        else {
            break;
        };
        if let watcher::Event::Apply(d) | watcher::Event::InitApply(d) = ev {
            let s = d.status.unwrap_or_default();
            if s.available_replicas == Some(3) && s.updated_replicas == Some(3) {
                saw_complete = true;
                break;
            }
        }
    }
    assert!(
        saw_complete,
        "the watcher saw the Deployment become available"
    );
    sim.shutdown().await;
}

/// Every object the simulator writes must decode into k8s-openapi's typed structs, or
/// kube-rs users (the product) would fail on it.
#[tokio::test]
async fn typed_decoding_of_everything_the_controllers_write() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    use k8s_openapi::api::core::v1::{Endpoints, Event, Namespace, Node, Pod, Secret, Service};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    let sim = start(20.0).await;
    sim.script_image(
        "crashy:*",
        simcluster::PodBehavior {
            readiness: simcluster::Readiness::CrashLoop {
                after: Duration::from_secs(2),
                exit_code: 137,
                reason: "OOMKilled".into(),
            },
            ..Default::default()
        },
    );
    sim.apply_yaml(WEB).expect("apply");
    sim.apply_yaml(
        &WEB.replace("name: web", "name: crashy")
            .replace("app: web", "app: crashy")
            .replace("image: nginx:1", "image: crashy:1"),
    )
    .expect("apply");
    sim.apply_yaml(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec: {minAvailable: 2, selector: {matchLabels: {app: web}}}\n---\n\
         apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 2, maxReplicas: 5}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n",
    )
    .expect("apply");
    // The HPA controller's first sync comes one 15 s sync period after it sees the HPA.
    let hpa_synced = |s: &simcluster::SimCluster| {
        s.get("autoscaling/v2", "HorizontalPodAutoscaler", None, "web")
            .is_some_and(|h| h.pointer("/status/currentReplicas").is_some())
    };
    assert!(
        sim.wait_until(WAIT, |s| rolled_out(s, "web")
            && hpa_synced(s)
            && pods(s).iter().any(|p| p
                .pointer("/status/containerStatuses/0/restartCount")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
                > 0))
            .await
    );
    let c = client(&sim).await;
    let lp = ListParams::default();
    assert!(
        !Api::<Pod>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("pods")
            .items
            .is_empty()
    );
    assert!(
        !Api::<Event>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("events")
            .items
            .is_empty()
    );
    assert!(
        !Api::<ReplicaSet>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("rs")
            .items
            .is_empty()
    );
    assert!(
        !Api::<Endpoints>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("endpoints")
            .items
            .is_empty()
    );
    assert!(
        !Api::<Service>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("services")
            .items
            .is_empty()
    );
    assert!(
        !Api::<Deployment>::default_namespaced(c.clone())
            .list(&lp)
            .await
            .expect("deployments")
            .items
            .is_empty()
    );
    let secret = Api::<Secret>::default_namespaced(c.clone())
        .get("s")
        .await
        .expect("secret");
    assert_eq!(
        secret.data.and_then(|d| d.get("k").map(|b| b.0.clone())),
        Some(b"v".to_vec())
    );
    assert_eq!(
        Api::<Node>::all(c.clone())
            .list(&lp)
            .await
            .expect("nodes")
            .items
            .len(),
        1
    );
    assert!(
        Api::<Namespace>::all(c.clone())
            .list(&lp)
            .await
            .expect("namespaces")
            .items
            .len()
            >= 4
    );
    let pdb = Api::<PodDisruptionBudget>::default_namespaced(c.clone())
        .get("web")
        .await
        .expect("pdb");
    let st = pdb.status.expect("pdb status");
    assert_eq!(
        (
            st.current_healthy,
            st.desired_healthy,
            st.disruptions_allowed,
            st.expected_pods
        ),
        (3, 2, 1, 3)
    );
    let hpa = Api::<HorizontalPodAutoscaler>::default_namespaced(c.clone())
        .get("web")
        .await
        .expect("hpa");
    assert_eq!(hpa.status.and_then(|s| s.current_replicas), Some(3));
    let scale = Api::<Deployment>::default_namespaced(c)
        .get_scale("web")
        .await
        .expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    sim.shutdown().await;
}
