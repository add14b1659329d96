//! The HorizontalPodAutoscaler controller against offered load, judged by kubectl: `kubectl
//! autoscale` creates an HPA the controller acts on within one sync period, the default
//! 300 s stabilization window holds a scale-down, the pods of every Deployment the
//! target's selector matches count (a canary's too), writes go through the store (watches
//! see them), and broken metrics read like upstream's conditions and events.

use std::time::Duration;

use serde_json::Value;
use simcluster::{MetricScript, PodBehavior, SimCluster, Usage};

use crate::common::*;

const SHOP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, track: stable}
    spec:
      containers:
      - name: web
        image: shop:1
        resources:
          requests: {cpu: 100m}
"#;

/// 10m idle plus `per_rps` millicores per request/s.
fn costs(per_rps: f64) -> PodBehavior {
    PodBehavior {
        usage: Usage {
            cpu: MetricScript {
                base: 10.0,
                per_rps,
            },
            ..Usage::default()
        },
        ..PodBehavior::default()
    }
}

fn hpa(sim: &SimCluster, name: &str) -> Value {
    sim.get("autoscaling/v2", "HorizontalPodAutoscaler", None, name)
        .unwrap_or_else(|| panic!("hpa {name} exists"))
}

/// (status, reason, message) of one condition.
fn condition(hpa: &Value, type_: &str) -> (String, String, String) {
    let c = hpa
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or_default();
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

fn replicas(sim: &SimCluster, name: &str) -> i64 {
    deployment(sim, name)
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

/// Jumps the stopped clock once every Deployment has its pods and the kubelet scheduled
/// them (it starts a pod's clock then: a pod scheduled after the jump would lag behind).
async fn advance(sim: &SimCluster, secs: u64) {
    let settled = |s: &SimCluster| {
        let live: Vec<Value> = pods(s)
            .into_iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .collect();
        let wanted: i64 = s
            .list("apps/v1", "Deployment", Some("default"))
            .iter()
            .filter_map(|d| d.pointer("/spec/replicas").and_then(Value::as_i64))
            .sum();
        live.len() as i64 == wanted && live.iter().all(|p| p.pointer("/spec/nodeName").is_some())
    };
    assert!(
        sim.wait_until(WAIT, settled).await,
        "pods settle before the jump"
    );
    sim.clock().advance(Duration::from_secs(secs));
}

/// Events about HPAs, as "Reason: message".
fn hpa_events(sim: &SimCluster) -> Vec<String> {
    sim.list("v1", "Event", Some("default"))
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "HorizontalPodAutoscaler")
        .map(|e| {
            format!(
                "{}: {}",
                e["reason"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn kubectl_autoscale_scales_up_within_a_sync_and_down_after_the_window() {
    let sim = start(0.0).await;
    sim.script_image("shop:*", costs(1.0));
    sim.apply_yaml(SHOP).expect("apply");
    advance(&sim, 2).await;
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let k = Kubectl::new(&sim);
    // 60 requests/s over two pods: 10m + 30m of 100m requested = 40%, under 50%.
    sim.set_load("default", "app=web", 60.0).expect("load");
    let out = k.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=2",
        "--max=10",
    ]);
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling/web autoscaled"),
        "{out}"
    );
    let table = rows(&k.ok(&["get", "hpa"]));
    assert_eq!(
        table[0],
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    assert_eq!(
        &table[1][..7],
        [
            "web",
            "Deployment/web",
            "cpu:",
            "<unknown>/50%",
            "2",
            "10",
            "0"
        ],
        "before the first sync"
    );

    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| hpa(s, "web").pointer(
            "/status/currentMetrics/0/resource/current/averageUtilization"
        ) == Some(&40.into()))
            .await,
        "the first sync comes one period after creation: {}",
        hpa(&sim, "web")
    );
    let table = rows(&k.ok(&["get", "hpa", "web"]));
    assert_eq!(
        &table[1][..7],
        ["web", "Deployment/web", "cpu:", "40%/50%", "2", "10", "2"]
    );
    assert_eq!(
        condition(&hpa(&sim, "web"), "ScalingActive").1,
        "ValidMetricFound"
    );
    assert!(sim.hpa_scalings().is_empty());

    // The load grows: 160 requests/s → 90% → ratio 1.8 → ceil(1.8 × 2) = 4, within one sync.
    sim.set_load("default", "app=web", 160.0).expect("load");
    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| replicas(s, "web") == 4).await,
        "{}",
        hpa(&sim, "web")
    );
    let scalings = sim.hpa_scalings();
    assert_eq!(scalings.len(), 1);
    let up = &scalings[0];
    assert_eq!(
        (up.hpa.as_str(), up.target.as_str(), up.from, up.to),
        ("web", "Deployment/web", 2, 4)
    );
    assert_eq!(
        up.reason,
        "cpu resource utilization (percentage of request) above target"
    );
    let h = hpa(&sim, "web");
    assert_eq!(
        condition(&h, "AbleToScale"),
        (
            "True".into(),
            "SucceededRescale".into(),
            "the HPA controller was able to update the target scale to 4".into()
        )
    );
    assert!(h.pointer("/status/lastScaleTime").is_some());
    assert_eq!(h["status"]["desiredReplicas"], 4);
    assert!(
        hpa_events(&sim).contains(&"SuccessfulRescale: New size: 4; reason: cpu resource utilization (percentage of request) above target".to_string()),
        "{:?}",
        hpa_events(&sim)
    );

    // The load drops to 40 requests/s: 20% per pod, but the 4 recommended 15 s ago holds
    // the scale-down for the 300 s window.
    sim.set_load("default", "app=web", 40.0).expect("load");
    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| condition(&hpa(s, "web"), "AbleToScale").1
            == "ScaleDownStabilized")
            .await,
        "{}",
        hpa(&sim, "web")
    );
    assert_eq!(replicas(&sim, "web"), 4);
    advance(&sim, 240).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        replicas(&sim, "web"),
        4,
        "255 s after the last 4, still inside the window"
    );
    advance(&sim, 60).await;
    assert!(
        sim.wait_until(WAIT, |s| replicas(s, "web") == 2).await,
        "{}",
        hpa(&sim, "web")
    );
    let down = &sim.hpa_scalings()[1];
    assert_eq!(
        (down.from, down.to, down.reason.as_str()),
        (4, 2, "All metrics below target")
    );
    assert!(
        down.at.duration_since(up.at) > jiff::SignedDuration::from_secs(300),
        "{} → {}",
        up.at,
        down.at
    );

    let described = squeeze(&k.ok(&["describe", "hpa", "web"]));
    for line in [
        "Reference: Deployment/web",
        "Metrics: ( current / target ) resource cpu on pods (as a percentage of request): 20% (20m) / 50%",
        "Min replicas: 2",
        "Max replicas: 10",
        "Deployment pods: 4 current / 2 desired",
        "AbleToScale True SucceededRescale the HPA controller was able to update the target scale to 2",
        "ScalingActive True ValidMetricFound the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
        "ScalingLimited False DesiredWithinRange the desired count is within the acceptable range",
        "Normal SuccessfulRescale",
        "horizontal-pod-autoscaler New size: 4; reason: cpu resource utilization (percentage of request) above target",
        "horizontal-pod-autoscaler New size: 2; reason: All metrics below target",
    ] {
        assert!(described.contains(line), "{line:?} in:\n{described}");
    }
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=HorizontalPodAutoscaler",
    ]);
    assert!(events.contains("SuccessfulRescale"), "{events}");
    // Every write of spec.replicas came from the controller, none from a client.
    let client_writes: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.contains("/deployments/web") && matches!(r.method.as_str(), "PUT" | "PATCH")
        })
        .collect();
    assert!(client_writes.is_empty(), "{client_writes:?}");
    sim.shutdown().await;
}

const CANARY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-canary
spec:
  replicas: 1
  selector:
    matchLabels: {app: web, track: canary}
  template:
    metadata:
      labels: {app: web, track: canary}
    spec:
      containers:
      - name: web
        image: shop:2
        resources:
          requests: {cpu: 100m}
"#;

fn hpa_yaml(name: &str, target: &str) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: {name}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  minReplicas: 1\n  maxReplicas: 10\n  metrics:\n  - type: Resource\n    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}\n"
    )
}

#[tokio::test]
async fn the_stable_hpa_counts_canary_pods_and_writes_through_the_store() {
    let sim = start(0.0).await;
    sim.script_image("shop:1", costs(1.0));
    // The canary's image costs three times as much per request.
    sim.script_image("shop:2", costs(3.0));
    sim.apply_yaml(SHOP).expect("apply");
    sim.apply_yaml(CANARY).expect("apply");
    advance(&sim, 2).await;
    assert!(
        sim.wait_until(WAIT, |s| rolled_out(s, "web")
            && rolled_out(s, "web-canary"))
            .await
    );
    // 90 requests/s over three ready pods: 40m, 40m and the canary's 100m of 300m = 60%.
    sim.set_load("default", "app=web", 90.0).expect("load");
    sim.apply_yaml(&hpa_yaml("web", "web")).expect("hpa");
    let before = deployment(&sim, "web");
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    advance(&sim, 15).await;
    // ratio 1.2 over the 3 pods the selector app=web matches → ceil(3.6) = 4.
    assert!(
        sim.wait_until(WAIT, |s| replicas(s, "web") == 4).await,
        "{}",
        hpa(&sim, "web")
    );
    let h = hpa(&sim, "web");
    assert_eq!(
        h.pointer("/status/currentMetrics/0/resource/current/averageUtilization"),
        Some(&60.into())
    );
    assert_eq!(
        h.pointer("/status/currentMetrics/0/resource/current/averageValue"),
        Some(&"60m".into())
    );
    assert_eq!(
        h["status"]["currentReplicas"], 2,
        "the target's replicas, not the pods counted"
    );
    assert_eq!(replicas(&sim, "web-canary"), 1, "only the target is scaled");
    let after = deployment(&sim, "web");
    assert_eq!(
        after["metadata"]["generation"],
        before["metadata"]["generation"].as_i64().unwrap_or(0) + 1
    );
    assert_eq!(
        after["spec"]["template"], before["spec"]["template"],
        "only spec.replicas changed"
    );
    let watched = http()
        .get(format!(
            "{}/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion={rv}&timeoutSeconds=1&fieldSelector=metadata.name%3Dweb",
            sim.url()
        ))
        .send()
        .await
        .expect("watch")
        .text()
        .await
        .expect("body");
    assert!(
        watched.lines().any(|l| serde_json::from_str::<Value>(l)
            .is_ok_and(|e| e["type"] == "MODIFIED" && e["object"]["spec"]["replicas"] == 4)),
        "watchers see the HPA's write: {watched}"
    );

    // A second HPA on the canary: its pods are selected by both, which upstream refuses.
    sim.apply_yaml(&hpa_yaml("web-canary", "web-canary"))
        .expect("hpa");
    advance(&sim, 15).await;
    let ambiguous = "pods by selector app=web,track=canary are controlled by multiple HPAs: [default/web default/web-canary]";
    assert!(
        sim.wait_until(WAIT, |s| condition(&hpa(s, "web-canary"), "ScalingActive")
            .2
            == ambiguous)
            .await,
        "{}",
        hpa(&sim, "web-canary")
    );
    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| condition(&hpa(s, "web"), "ScalingActive").1
            == "AmbiguousSelector")
            .await,
        "{}",
        hpa(&sim, "web")
    );
    assert!(
        condition(&hpa(&sim, "web"), "ScalingActive")
            .2
            .starts_with("pods by selector app=web are controlled by multiple HPAs")
    );
    assert!(
        hpa_events(&sim)
            .iter()
            .any(|e| e.starts_with("AmbiguousSelector: "))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_requests_disabled_scaling_pods_metrics_and_policies() {
    let sim = start(0.0).await;
    let mut queue = costs(1.0);
    queue
        .usage
        .pods
        .insert("queue_depth".into(), MetricScript::fixed(30.0));
    sim.script_image("shop:*", queue);
    sim.apply_yaml(&SHOP.replace("        resources:\n          requests: {cpu: 100m}\n", ""))
        .expect("apply");
    advance(&sim, 2).await;
    let k = Kubectl::new(&sim);
    k.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu=50%",
        "--min=2",
        "--max=10",
    ]);
    advance(&sim, 15).await;
    let missing = |s: &SimCluster| condition(&hpa(s, "web"), "ScalingActive");
    assert!(
        sim.wait_until(WAIT, |s| missing(s).1 == "FailedGetResourceMetric")
            .await,
        "{}",
        hpa(&sim, "web")
    );
    let (status, _, message) = missing(&sim);
    assert_eq!(status, "False");
    assert!(
        message.starts_with("the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container web of Pod web-"),
        "{message}"
    );
    let events = hpa_events(&sim);
    assert!(
        events.iter().any(|e| e.starts_with(
            "FailedGetResourceMetric: failed to get cpu utilization: missing request for cpu"
        )),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("FailedComputeMetricsReplicas: invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization: missing request for cpu")),
        "{events:?}"
    );
    let table = rows(&k.ok(&["get", "hpa", "web"]));
    assert_eq!(&table[1][2..7], ["cpu:", "<unknown>/50%", "2", "10", "2"]);
    assert!(squeeze(&k.ok(&["describe", "hpa", "web"])).contains("ScalingActive False FailedGetResourceMetric the HPA was unable to compute the replica count"));

    k.ok(&["scale", "deployment", "web", "--replicas=0"]);
    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| missing(s)
            == (
                "False".into(),
                "ScalingDisabled".into(),
                "scaling is disabled since the replica count of the target is zero".into()
            ))
        .await,
        "{}",
        hpa(&sim, "web")
    );
    assert_eq!(
        replicas(&sim, "web"),
        0,
        "a target scaled to zero is left alone"
    );

    // A Pods metric with a scale-up policy of one pod per minute: 30 per pod against 10.
    k.ok(&["scale", "deployment", "web", "--replicas=2"]);
    k.ok(&["delete", "hpa", "web"]);
    sim.apply_yaml(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: queue}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 10\n  metrics:\n  - type: Pods\n    pods: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: \"10\"}}\n  behavior:\n    scaleUp: {policies: [{type: Pods, value: 1, periodSeconds: 60}]}\n",
    )
    .expect("hpa");
    let stored = hpa(&sim, "queue");
    assert_eq!(
        stored.pointer("/spec/behavior/scaleUp/selectPolicy"),
        Some(&"Max".into()),
        "defaulted: {stored}"
    );
    assert_eq!(
        stored.pointer("/spec/behavior/scaleDown/policies/0/type"),
        Some(&"Percent".into())
    );
    advance(&sim, 2).await;
    advance(&sim, 15).await;
    assert!(
        sim.wait_until(WAIT, |s| replicas(s, "web") == 3).await,
        "{}",
        hpa(&sim, "queue")
    );
    let h = hpa(&sim, "queue");
    assert_eq!(condition(&h, "ScalingLimited").1, "ScaleUpLimit", "{h}");
    let table = rows(&k.ok(&["get", "hpa", "queue"]));
    assert_eq!(
        &table[1][..6],
        ["queue", "Deployment/web", "30/10", "2", "10", "2"]
    );
    let described = squeeze(&k.ok(&["describe", "hpa", "queue"]));
    assert!(
        described.contains("\"queue_depth\" on pods: 30 / 10"),
        "{described}"
    );
    sim.shutdown().await;
}
