//! Rollouts through kubectl: set image, rollout status (success and progress-deadline
//! failure), history, undo (with ReplicaSet reuse) and --to-revision, pause/resume, and the
//! Recreate strategy and history cleanup through the Rust API.

use std::time::Duration;

use serde_json::Value;
use simcluster::{PodBehavior, Readiness};

use crate::common::*;

fn image(sim: &simcluster::SimCluster) -> String {
    deployment(sim, "web")
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn revision_of(rs: &Value) -> String {
    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn set_image_status_history_and_undo() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    let status = k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(
        status.contains("deployment \"web\" successfully rolled out"),
        "{status}"
    );

    sim.clear_requests();
    let out = k.ok(&["set", "image", "deploy/web", "web=nginx:2"]);
    assert!(out.contains("deployment.apps/web image updated"), "{out}");
    let patch = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("set image patches");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    let status = k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    assert!(
        status.contains("out of 3 new replicas have been updated")
            || status.contains("old replicas are pending termination"),
        "saw progress: {status}"
    );
    // rollout status lists by name, then watches.
    let reqs = sim.requests();
    assert!(
        reqs.iter().any(|r| r.is_watch
            && r.query_param("fieldSelector").as_deref() == Some("metadata.name=web"))
    );
    assert_eq!(replicasets(&sim).len(), 2);

    let history = rows(&k.ok(&["rollout", "history", "deploy/web"]));
    assert_eq!(history[1], ["REVISION", "CHANGE-CAUSE"]);
    assert_eq!(
        history[2..],
        [
            vec!["1".to_string(), "<none>".into()],
            vec!["2".to_string(), "<none>".into()]
        ]
    );
    let rev1 = k.ok(&["rollout", "history", "deploy/web", "--revision=1"]);
    assert!(rev1.contains("Image:\tnginx:1"), "{rev1}");

    // Undo reuses revision 1's ReplicaSet, renumbered 3 with history "1".
    let out = k.run(&["rollout", "undo", "deploy/web"]);
    assert!(
        out.stdout.contains("deployment.apps/web rolled back"),
        "{out:?}"
    );
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(image(&sim), "nginx:1");
    let sets = replicasets(&sim);
    assert_eq!(sets.len(), 2, "no new ReplicaSet on rollback");
    let reused = sets
        .iter()
        .find(|rs| revision_of(rs) == "3")
        .expect("revision 3");
    assert_eq!(
        reused
            .pointer("/metadata/annotations/deployment.kubernetes.io~1revision-history")
            .and_then(Value::as_str),
        Some("1")
    );
    let history = rows(&k.ok(&["rollout", "history", "deploy/web"]));
    assert_eq!(
        history[2..]
            .iter()
            .map(|r| r[0].as_str())
            .collect::<Vec<_>>(),
        ["2", "3"]
    );
    assert_eq!(
        deployment(&sim, "web")
            .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
            .and_then(Value::as_str),
        Some("3")
    );

    k.ok(&["rollout", "undo", "deploy/web", "--to-revision=2"]);
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(image(&sim), "nginx:2");
    let err = k.fails(&["rollout", "undo", "deploy/web", "--to-revision=9"]);
    assert!(err.contains("unable to find specified revision 9"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rollout_status_fails_after_progress_deadline() {
    let sim = start(10.0).await;
    sim.script_image(
        "broken:*",
        PodBehavior {
            readiness: Readiness::NeverReady,
            ..Default::default()
        },
    );
    let k = Kubectl::new(&sim);
    k.apply(&WEB.replace(
        "  replicas: 3\n",
        "  replicas: 3\n  progressDeadlineSeconds: 20\n",
    ));
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    k.ok(&["set", "image", "deploy/web", "web=broken:1"]);
    let r = k.run(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(!r.ok, "rollout status must fail: {r:?}");
    assert!(
        r.stderr
            .contains("deployment \"web\" exceeded its progress deadline"),
        "{r:?}"
    );
    let d = deployment(&sim, "web");
    let progressing = d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert_eq!(progressing["status"], "False");
    // maxUnavailable 0 (25% of 3 rounds down): the old pods all keep serving.
    assert_eq!(
        d.pointer("/status/availableReplicas")
            .and_then(Value::as_i64),
        Some(3)
    );
    let pods_out = k.ok(&["get", "pods"]);
    assert!(
        pods_out
            .lines()
            .any(|l| l.contains("0/1") && l.contains("Running")),
        "{pods_out}"
    );
    let events = k.ok(&["get", "events", "--field-selector=reason=Unhealthy"]);
    assert!(events.contains("Readiness probe failed"), "{events}");
    sim.shutdown().await;
}

#[tokio::test]
async fn pause_blocks_rollout_until_resume() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    k.ok(&["set", "image", "deploy/web", "web=nginx:2"]);
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(
        k.ok(&["rollout", "pause", "deploy/web"])
            .contains("deployment.apps/web paused")
    );
    k.ok(&["set", "image", "deploy/web", "web=nginx:3"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(replicasets(&sim).len(), 2, "no new ReplicaSet while paused");
    let d = deployment(&sim, "web");
    assert!(
        d["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "DeploymentPaused")),
        "{d}"
    );
    let err = k.fails(&["rollout", "undo", "deploy/web"]);
    assert!(
        err.contains("you cannot rollback a paused deployment"),
        "{err}"
    );
    // Scaling still happens while paused.
    k.ok(&["scale", "deploy/web", "--replicas=4"]);
    assert!(sim.wait_until(WAIT, |s| pods(s).len() == 4).await);
    assert!(
        k.ok(&["rollout", "resume", "deploy/web"])
            .contains("deployment.apps/web resumed")
    );
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(replicasets(&sim).len(), 3);
    assert!(
        sim.wait_until(WAIT, |s| pods(s).len() == 4
            && pods(s).iter().all(|p| p
                .pointer("/spec/containers/0/image")
                .and_then(Value::as_str)
                == Some("nginx:3")))
            .await
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn crash_looping_pods_show_in_kubectl() {
    let sim = start(20.0).await;
    sim.script_image(
        "crashy:1",
        PodBehavior {
            readiness: Readiness::CrashLoop {
                after: Duration::from_secs(3),
                exit_code: 137,
                reason: "OOMKilled".into(),
            },
            ..Default::default()
        },
    );
    let k = Kubectl::new(&sim);
    k.apply(
        &WEB.replace("image: nginx:1", "image: crashy:1")
            .replace("replicas: 3", "replicas: 1"),
    );
    assert!(
        sim.wait_until(WAIT, |s| pods(s)
            .first()
            .and_then(|p| p
                .pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_i64))
            .unwrap_or(0)
            >= 2)
            .await
    );
    assert!(
        sim.wait_until(WAIT, |s| pods(s)
            .first()
            .and_then(|p| p
                .pointer("/status/containerStatuses/0/state/waiting/reason")
                .and_then(Value::as_str)
                .map(String::from))
            .as_deref()
            == Some("CrashLoopBackOff"))
            .await
    );
    let table = rows(&k.ok(&["get", "pods"]));
    let row = &table[1];
    assert_eq!(row[1], "0/1");
    assert_eq!(row[2], "CrashLoopBackOff");
    assert!(
        row[3].parse::<u32>().is_ok_and(|n| n >= 2) && row[4].starts_with('(') && row[5] == "ago)",
        "restarts like `2 (5s ago)`: {row:?}"
    );
    let pod = &pods(&sim)[0];
    assert_eq!(
        pod.pointer("/status/containerStatuses/0/lastState/terminated/exitCode")
            .and_then(Value::as_i64),
        Some(137)
    );
    assert_eq!(
        pod.pointer("/status/containerStatuses/0/lastState/terminated/reason")
            .and_then(Value::as_str),
        Some("OOMKilled")
    );
    let events = k.ok(&["get", "events"]);
    assert!(
        events.contains("BackOff") && events.contains("Back-off restarting failed container web"),
        "{events}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn recreate_strategy_and_history_limit() {
    let sim = start(10.0).await;
    let manifest = WEB.replace(
        "  replicas: 3\n",
        "  replicas: 2\n  revisionHistoryLimit: 1\n  strategy: {type: Recreate}\n",
    );
    sim.apply_yaml(&manifest).expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    for (i, tag) in ["nginx:2", "nginx:3", "nginx:4"].iter().enumerate() {
        sim.apply_yaml(&manifest.replace("nginx:1", tag))
            .expect("apply");
        // Recreate: never old and new pods at once.
        let mixed = std::cell::Cell::new(false);
        let done = sim
            .wait_until(WAIT, |s| {
                let images: std::collections::BTreeSet<String> = pods(s)
                    .iter()
                    .filter_map(|p| {
                        p.pointer("/spec/containers/0/image")
                            .and_then(Value::as_str)
                            .map(String::from)
                    })
                    .collect();
                if images.len() > 1 {
                    mixed.set(true);
                }
                rolled_out(s, "web") && images.len() == 1 && images.contains(*tag)
            })
            .await;
        assert!(done, "rollout {i} finishes");
        assert!(!mixed.get(), "Recreate never mixes versions");
    }
    // Only the current ReplicaSet and one old one survive.
    assert!(
        sim.wait_until(WAIT, |s| replicasets(s).len() == 2).await,
        "{:?}",
        replicasets(&sim).len()
    );
    let revs: Vec<String> = replicasets(&sim).iter().map(revision_of).collect();
    assert!(
        revs.contains(&"4".to_string()) && revs.contains(&"3".to_string()),
        "{revs:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn change_cause_and_min_ready_seconds() {
    let sim = start(0.0).await;
    let k = Kubectl::new(&sim);
    k.apply(&WEB.replace("  replicas: 3\n", "  replicas: 3\n  minReadySeconds: 10\n"));
    let advance = |secs: u64| sim.clock().advance(Duration::from_secs(secs));
    // The kubelet starts a pod's clock when it schedules it: advance only once all three are
    // scheduled, or a pod scheduled after the jump never becomes ready on this stopped clock.
    assert!(
        sim.wait_until(WAIT, |s| {
            let pods = pods(s);
            pods.len() == 3 && pods.iter().all(|p| p.pointer("/spec/nodeName").is_some())
        })
        .await
    );
    advance(2);
    assert!(
        sim.wait_until(WAIT, |s| deployment(s, "web")
            .pointer("/status/readyReplicas")
            .and_then(Value::as_i64)
            == Some(3))
            .await
    );
    let d = deployment(&sim, "web");
    assert_eq!(
        d.pointer("/status/availableReplicas"),
        None,
        "ready but not yet for minReadySeconds"
    );
    let available = d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
    advance(10);
    assert!(
        sim.wait_until(WAIT, |s| rolled_out(s, "web")).await,
        "available after minReadySeconds"
    );

    k.ok(&[
        "annotate",
        "deploy/web",
        "kubernetes.io/change-cause=bump to nginx:2",
    ]);
    k.ok(&["set", "image", "deploy/web", "web=nginx:2"]);
    for _ in 0..20 {
        advance(3);
        if sim
            .wait_until(Duration::from_millis(300), |s| {
                rolled_out(s, "web") && replicasets(s).len() == 2
            })
            .await
        {
            break;
        }
    }
    assert!(rolled_out(&sim, "web"));
    let history = k.ok(&["rollout", "history", "deploy/web"]);
    assert!(
        history
            .lines()
            .any(|l| l.starts_with('2') && l.contains("bump to nginx:2")),
        "{history}"
    );
    sim.shutdown().await;
}
