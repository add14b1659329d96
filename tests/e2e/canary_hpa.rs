//! Issue 15: a canary on a Deployment whose `spec.replicas` an HPA owns. The simulator's HPA
//! controller really scales the stable (autoscaling/v2, CPU utilization from a scripted cost per
//! request, the load set by the test), the real binary drives the canary, Prometheus judges it.
//! What must hold: the tool never writes the stable's replicas (so the two never undo each
//! other), the canary follows the HPA's scaling at the step's share within one pod, and the HPA
//! object is exactly as it was after a promotion, an abort, and kill -9 + `--resume`.

use std::time::{Duration, Instant};

use kubectl_posthog::canary::state::Phase;
use serde_json::Value;
use simcluster::{MetricScript, PodBehavior, ReplicaWrite, Usage};

use crate::canary::{
    CANARY, Env, FAST, LENIENT, REPLICAS, STABLE, finish, healthy, json, ready, spawn,
};
use crate::prom;
use crate::support::run;

/// Sim seconds per real second: the HPA syncs every 15 sim s, so every 1.5 s here.
pub(crate) const SPEED: f64 = 10.0;
/// 1 millicore per request/s and no idle cost: the HPA wants `⌈load / 50⌉` pods in all,
/// however many pods share the load (the canary's included, as upstream counts them).
const COST_PER_RPS: f64 = 1.0;
/// 180 requests/s: 4 pods at 45 % of their 100m (inside the 0.1 tolerance of 50 %), so the
/// HPA keeps the stable at 4 before the canary.
pub(crate) const CALM: f64 = 180.0;

pub(crate) fn costly() -> PodBehavior {
    PodBehavior {
        usage: Usage {
            cpu: MetricScript {
                base: 0.0,
                per_rps: COST_PER_RPS,
            },
            ..Usage::default()
        },
        ..healthy()
    }
}

/// `web` (its Deployment and Service) and the HPA on it.
fn manifest(ns: &str) -> String {
    format!("{}---\n{}", stable_manifest(ns), hpa_manifest(ns))
}

/// `web` at 4 replicas with a Service, no HPA.
pub(crate) fn stable_manifest(ns: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: {REPLICAS}
  progressDeadlineSeconds: 600
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: {STABLE}
        ports: [{{containerPort: 8080}}]
        resources:
          requests: {{cpu: 100m}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"
    )
}

/// HPA `web` on Deployment `web`: 2 to 12 replicas at 50 % CPU.
pub(crate) fn hpa_manifest(ns: &str) -> String {
    format!(
        "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web, namespace: {ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 2
  maxReplicas: 12
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
"
    )
}

/// `web` at 4 ready replicas under the calm load, with its HPA having synced at least once.
pub(crate) async fn start(ns: &str) -> Env {
    let env = Env::start_with(ns, costly(), costly(), true, SPEED, &manifest(ns)).await;
    env.sim.set_load(ns, "app=web", CALM).expect("load");
    assert!(
        env.sim
            .wait_until(Duration::from_secs(20), |s| hpa(s, ns)
                .pointer("/status/currentMetrics/0/resource/current/averageUtilization")
                .is_some())
            .await,
        "the HPA never synced: {}",
        hpa(&env.sim, ns)
    );
    assert_eq!(
        replicas(&env, "web"),
        i64::from(REPLICAS),
        "{}",
        hpa(&env.sim, ns)
    );
    env
}

pub(crate) fn hpa(sim: &simcluster::SimCluster, ns: &str) -> Value {
    sim.get("autoscaling/v2", "HorizontalPodAutoscaler", Some(ns), "web")
        .expect("the HPA exists")
}

/// The HPA's spec, the part a canary must leave exactly as it was.
pub(crate) fn hpa_spec(env: &Env) -> Value {
    hpa(&env.sim, &env.ns)["spec"].clone()
}

pub(crate) fn replicas(env: &Env, name: &str) -> i64 {
    env.deployment(name)
        .and_then(|d| d["spec"]["replicas"].as_i64())
        .unwrap_or(-1)
}

/// Every change of the stable's `spec.replicas`: all the HPA's, none the tool's, and no write
/// ever put back what another writer had just replaced.
pub(crate) fn assert_only_the_hpa_scaled_the_stable(env: &Env) -> Vec<ReplicaWrite> {
    let writes = env.sim.replica_writes(&env.ns, "web");
    let tools: Vec<&ReplicaWrite> = writes
        .iter()
        .filter(|w| w.writer != "horizontal-pod-autoscaler")
        .collect();
    assert!(
        tools.is_empty(),
        "the stable's replicas written by a client: {writes:?}"
    );
    for pair in writes.windows(2) {
        assert!(
            !(pair[0].writer != pair[1].writer && pair[1].to == pair[0].from),
            "{} undid {}'s write: {writes:?}",
            pair[1].writer,
            pair[0].writer
        );
    }
    writes
}

/// An abort beside an HPA: the summary says the stable was left to it (the tool never sized
/// it), the canary is gone, the stable runs its old image, and the HPA's spec is `before`.
pub(crate) fn assert_aborted_leaving_the_hpa(env: &Env, report: &Value, before: &Value) {
    assert!(
        report["verdict"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("stable left to its HPA at"),
        "{report}"
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Aborted);
    assert!(env.deployment("web-canary").is_none());
    assert_eq!(env.stable_image(), STABLE);
    assert_eq!(
        &hpa_spec(env),
        before,
        "the HPA's spec is exactly as before"
    );
}

pub(crate) fn canary_driver(env: &Env, steps: &str, pause: &str) -> std::process::Child {
    spawn(
        env.canary(
            &prom::shared().prometheus.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                steps,
                "--pause",
                pause,
            ],
        )
        .args(FAST)
        .args(LENIENT),
    )
}

/// A canary with an HPA on the stable promotes; the HPA's spec is unchanged, the stable's
/// replicas were only ever the HPA's to write, and the canary ran at the step's share.
#[tokio::test(flavor = "multi_thread")]
async fn a_canary_with_an_hpa_promotes_leaving_the_hpa_and_its_replicas_alone() {
    let env = start("hpa-promote").await;
    let before = hpa_spec(&env);
    let child = canary_driver(&env, "50,100", "6s");
    let paused = env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    // 50 % beside the HPA's 4: 4 canary pods on top, the stable untouched.
    assert_eq!(
        (replicas(&env, "web"), replicas(&env, "web-canary")),
        (4, 4)
    );
    let autoscaler = paused
        .autoscaler
        .clone()
        .expect("the state records the HPA");
    assert_eq!(autoscaler.name, "web");
    let out = finish(child);
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "promoted", "{report}");
    assert!(
        out.stderr
            .contains("is scaled by HorizontalPodAutoscaler web"),
        "{}",
        out.stderr
    );
    assert_eq!(env.stable_image(), CANARY);
    assert!(env.deployment("web-canary").is_none());
    assert_eq!(
        hpa_spec(&env),
        before,
        "the HPA's spec is exactly as before"
    );
    assert_only_the_hpa_scaled_the_stable(&env);
    let canary_writers: Vec<String> = env
        .sim
        .replica_writes(&env.ns, "web-canary")
        .into_iter()
        .map(|w| w.writer)
        .collect();
    assert!(
        canary_writers.iter().all(|w| w == "kubectl-posthog"),
        "only the tool sizes the canary: {canary_writers:?}"
    );
}

/// A load rise mid-canary: the HPA scales the stable up, the canary follows at the step's
/// share (within one pod of the total), ready capacity never drops below what the HPA wants;
/// `canary abort` then removes the canary and leaves the HPA and the stable's size to the HPA.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_rise_mid_canary_scales_both_and_the_share_follows_the_weight() {
    let env = start("hpa-load").await;
    let before = hpa_spec(&env);
    let mut child = canary_driver(&env, "25,100", "1h");
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    // 25 % beside 4 stable pods: ⌈4·25/75⌉ = 2 canary pods.
    assert_eq!(replicas(&env, "web-canary"), 2);
    assert_eq!(replicas(&env, "web"), 4);
    // 480 requests/s: the HPA wants ⌈480/50⌉ = 10 pods; the canary follows with ⌈10/3⌉ = 4.
    env.sim.set_load(&env.ns, "app=web", 480.0).expect("load");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut least_ready_over_wanted = i64::MAX;
    loop {
        let (stable_ready, canary_ready) = (ready(&env.sim, "web"), ready(&env.sim, "web-canary"));
        let wanted = hpa(&env.sim, &env.ns)["status"]["desiredReplicas"]
            .as_i64()
            .unwrap_or(0);
        least_ready_over_wanted =
            least_ready_over_wanted.min(i64::from(stable_ready + canary_ready) - wanted);
        if replicas(&env, "web") == 10
            && replicas(&env, "web-canary") == 4
            && stable_ready == 10
            && canary_ready == 4
        {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            panic!("the driver ended: {}", finish(child).stderr);
        }
        assert!(
            Instant::now() < deadline,
            "never settled: stable {} ({stable_ready} ready), canary {} ({canary_ready} ready), HPA {}",
            replicas(&env, "web"),
            replicas(&env, "web-canary"),
            hpa(&env.sim, &env.ns)["status"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The share: 4 of 14 ready pods, 28.6 % for a weight of 25 %: 0.5 pod off.
    let (canary, total): (f64, f64) = (4.0, 14.0);
    assert!((canary - 0.25 * total).abs() <= 1.0, "{canary} of {total}");
    assert!(
        least_ready_over_wanted >= -6,
        "ready capacity lags the HPA's want only while new pods start: {least_ready_over_wanted}"
    );
    // It stays there: no write undoes another for a few more syncs.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        (replicas(&env, "web"), replicas(&env, "web-canary")),
        (10, 4)
    );
    assert_eq!(
        env.state()
            .and_then(|s| s.autoscaler)
            .map(|a| a.canary_replicas),
        Some(4)
    );

    let out = run(&mut env.control(&["abort", "deploy/web", "--timeout", "30s"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let driver = finish(child);
    let report = json(&driver.stdout);
    assert_eq!(
        report["details"]["outcome"], "aborted-by-operator",
        "{}",
        driver.stdout
    );
    assert_aborted_leaving_the_hpa(&env, &report, &before);
    let writes = assert_only_the_hpa_scaled_the_stable(&env);
    assert!(
        writes.iter().any(|w| w.to == 10),
        "the HPA did scale the stable up: {writes:?}"
    );
}

/// kill -9 mid-step, then `--resume` without flags: the resumed run knows the stable is
/// HPA-managed (from the state), follows the HPA, promotes, and leaves the HPA as it was.
#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_canary_with_an_hpa_then_resume_leaves_the_hpa_as_it_was() {
    let env = start("hpa-kill").await;
    let before = hpa_spec(&env);
    let mut child = canary_driver(&env, "50,100", "8s");
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(
        (replicas(&env, "web"), replicas(&env, "web-canary")),
        (4, 4)
    );
    // While nobody drives it the load rises and the HPA scales the stable.
    env.sim.set_load(&env.ns, "app=web", 480.0).expect("load");
    assert!(
        env.sim
            .wait_until(Duration::from_secs(30), |s| s
                .get("apps/v1", "Deployment", Some(&env.ns), "web")
                .and_then(|d| d["spec"]["replicas"].as_i64())
                .is_some_and(|r| r > 4))
            .await,
        "the HPA never scaled: {}",
        hpa(&env.sim, &env.ns)["status"]
    );
    let out = run(env
        .control(&["deploy/web", "--resume"])
        .args(["--prometheus-url", &prom::shared().prometheus.url]));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert_eq!(json(&out.stdout)["details"]["outcome"], "promoted");
    assert!(
        out.stderr.contains("the HPA has the stable at"),
        "the resumed run follows the HPA: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("changed by someone else"),
        "the HPA's scaling is no conflict: {}",
        out.stderr
    );
    assert_eq!(env.stable_image(), CANARY);
    assert!(env.deployment("web-canary").is_none());
    assert_eq!(
        hpa_spec(&env),
        before,
        "the HPA's spec is exactly as before"
    );
    assert_only_the_hpa_scaled_the_stable(&env);
}

/// Issue 15, view item 5: on a 1-replica Deployment 10 % and 50 % are both `1 canary + 1
/// stable`; the plan says each step's share, merges the two with a warning, and
/// `--strict-weights` refuses it (exit 2) before anything changes.
#[tokio::test(flavor = "multi_thread")]
async fn steps_that_collapse_on_one_replica_are_merged_or_refused() {
    let env = Env::start("one-replica", healthy(), true).await;
    env.sim
        .apply_yaml(&crate::canary::manifest(&env.ns, 1))
        .expect("scale to 1");
    assert!(
        env.sim
            .wait_until(Duration::from_secs(20), |s| ready(s, "web") == 1
                && s.list("v1", "Pod", Some("one-replica")).len() == 1)
            .await
    );
    env.sim.clear_requests();
    let prom = prom::shared().prometheus.url.clone();
    let table = run(env
        .canary(&prom, &["deploy/web", "--image", CANARY, "--dry-run"])
        .args(["-o", "table"]));
    assert_eq!(table.code, 0, "{}{}", table.stdout, table.stderr);
    assert!(
        table
            .stdout
            .contains("Step 1: 10%: 1 canary + 1 stable pods (50% of traffic)"),
        "{}",
        table.stdout
    );
    assert!(
        !table.stdout.contains("Step 2: 50%"),
        "the 50 % step is merged into the first: {}",
        table.stdout
    );
    assert!(
        table.stderr.contains(
            "note: steps 10%, 50% all run 1 canary + 1 stable pods (50% of traffic): merged into \
             one step, pausing 15m"
        ),
        "{}",
        table.stderr
    );
    let strict = run(env
        .canary(
            &prom,
            &["deploy/web", "--image", CANARY, "--strict-weights"],
        )
        .args(FAST));
    assert_eq!(strict.code, 2, "{}{}", strict.stdout, strict.stderr);
    assert!(
        strict
            .stderr
            .contains("--strict-weights refuses steps that expose the same share"),
        "{}",
        strict.stderr
    );
    assert!(
        env.sim
            .requests()
            .iter()
            .all(|r| !matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")),
        "nothing was changed"
    );
}
