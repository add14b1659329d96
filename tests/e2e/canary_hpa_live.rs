//! Issue 15: an HPA created or deleted while a canary runs. The canary planned without an HPA
//! sizes the stable at each step; once an HPA targets the stable (it appears between two looks,
//! and may scale the stable before the driver sees it) the driver takes it on: it never writes
//! the stable's replicas again, the canary follows the HPA's count, and an abort leaves the
//! stable to the HPA. An HPA deleted mid-canary leaves the stable as it is.

use std::time::{Duration, Instant};

use kubectl_posthog::canary::state::Phase;

use crate::canary::{Env, finish, json, ready};
use crate::canary_hpa::{
    CALM, SPEED, assert_aborted_leaving_the_hpa, assert_only_the_hpa_scaled_the_stable,
    canary_driver, costly, hpa, hpa_manifest, hpa_spec, replicas, stable_manifest, start,
};
use crate::support::run;

/// Polls `done` every 100 ms for up to `secs`, failing with `what` (and the driver's stderr
/// if it ended meanwhile).
fn settle(
    child: &mut std::process::Child,
    secs: u64,
    what: &dyn Fn() -> String,
    done: &dyn Fn() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if let Ok(Some(_)) = child.try_wait() {
            panic!("the driver ended: {}", what());
        }
        assert!(Instant::now() < deadline, "never settled: {}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// No HPA when the canary starts (it scales the stable 4 → 2 at 50 %); one is created mid-step
/// and the load rises. The driver takes the HPA on, says so, never writes the stable's replicas
/// after the HPA exists (so no write of either undoes the other's), the canary follows the
/// HPA's count at the step's share, and the abort leaves the stable to the HPA.
#[tokio::test(flavor = "multi_thread")]
async fn an_hpa_created_mid_canary_is_taken_on_and_never_fought() {
    let ns = "hpa-appears";
    let env = Env::start_with(ns, costly(), costly(), true, SPEED, &stable_manifest(ns)).await;
    env.sim.set_load(ns, "app=web", CALM).expect("load");
    let mut child = canary_driver(&env, "50,100", "1h");
    let paused = env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    assert!(paused.autoscaler.is_none(), "{paused:?}");
    assert_eq!(
        (replicas(&env, "web"), replicas(&env, "web-canary")),
        (2, 2),
        "without an HPA the step sizes the stable"
    );

    // The simulator's clock (the writes' times), not the creation time: that is in seconds.
    let since = env.sim.clock().now();
    env.sim.apply_yaml(&hpa_manifest(ns)).expect("the HPA");
    let before = hpa_spec(&env);
    // 480 requests/s over 4 pods: the HPA scales the stable up; the canary follows at 50 %.
    env.sim.set_load(ns, "app=web", 480.0).expect("load");
    let what = || {
        format!(
            "stable {} ({} ready), canary {} ({} ready), state {:?}, HPA {}",
            replicas(&env, "web"),
            ready(&env.sim, "web"),
            replicas(&env, "web-canary"),
            ready(&env.sim, "web-canary"),
            env.state().map(|s| s.autoscaler),
            hpa(&env.sim, ns)["status"]
        )
    };
    settle(&mut child, 60, &what, &|| {
        let (stable, canary) = (replicas(&env, "web"), replicas(&env, "web-canary"));
        env.state()
            .and_then(|s| s.autoscaler)
            .is_some_and(|a| a.name == "web")
            && stable > 2
            && canary == stable
            && ready(&env.sim, "web-canary") as i64 == canary
    });
    // It stays there for a few more syncs: neither writer moves the other's count back.
    std::thread::sleep(Duration::from_secs(5));
    let (stable, canary) = (replicas(&env, "web"), replicas(&env, "web-canary"));
    assert_eq!(
        canary,
        stable,
        "50 %: as many canary pods as stable ones ({})",
        what()
    );

    // `canary status` names the HPA the canary now follows.
    let status = json(&run(&mut env.control(&["status", "deploy/web"])).stdout);
    let autoscaler = status["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == "canary.autoscaler"))
        .map(|f| f["measured"].to_string())
        .unwrap_or_default();
    assert!(
        autoscaler.contains("HorizontalPodAutoscaler web scales the stable"),
        "{status}"
    );

    let out = run(&mut env.control(&["abort", "deploy/web", "--timeout", "30s"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The abort's count is the stable's now (the HPA's), not the count before the canary.
    let stable_now = replicas(&env, "web");
    assert!(
        out.stdout
            .contains(&format!("stable {stable_now}/{stable_now} ready"))
            || out
                .stdout
                .contains(&format!("\"{stable_now}/{stable_now} ready\"")),
        "{}",
        out.stdout
    );
    let driver = finish(child);
    assert!(
        driver
            .stderr
            .contains("HorizontalPodAutoscaler web now scales deployment/web"),
        "{}",
        driver.stderr
    );
    // The canary's count when the HPA was taken on is the one it had (it read "from 0").
    assert!(
        driver.stderr.contains("canary scaled from 2 to"),
        "{}",
        driver.stderr
    );
    let report = json(&driver.stdout);
    assert_eq!(
        report["details"]["outcome"], "aborted-by-operator",
        "{report}"
    );
    assert_aborted_leaving_the_hpa(&env, &report, &before);

    let writes = env.sim.replica_writes(ns, "web");
    let (tool_before, tool_after): (Vec<_>, Vec<_>) = writes
        .iter()
        .filter(|w| w.writer != "horizontal-pod-autoscaler")
        .partition(|w| w.at < since);
    assert_eq!(
        tool_before
            .iter()
            .map(|w| (w.from, w.to))
            .collect::<Vec<_>>(),
        vec![(4, 2)],
        "the step's one write, before the HPA: {writes:?}"
    );
    assert!(
        tool_after.is_empty(),
        "the stable written after the HPA appeared: {writes:?}"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.writer == "horizontal-pod-autoscaler" && w.to > 2),
        "the HPA scaled the stable: {writes:?}"
    );
    // The HPA's first write (2 → 4) follows the load, not a fight: the step's write came before
    // the HPA existed, and none came after.
}

/// An HPA created while the canary's pods start, before the step would size the stable: the
/// driver looks for one just before that write and leaves the stable alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_hpa_created_before_the_steps_write_stops_that_write() {
    let ns = "hpa-before-write";
    let slow = simcluster::PodBehavior {
        ready_after: Duration::from_secs(40),
        ..costly()
    };
    let env = Env::start_with(ns, costly(), slow, true, SPEED, &stable_manifest(ns)).await;
    env.sim.set_load(ns, "app=web", CALM).expect("load");
    let mut child = canary_driver(&env, "50,100", "1h");
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Progressing);
    assert!(
        env.sim
            .wait_until(Duration::from_secs(20), |_| replicas(&env, "web-canary")
                == 2)
            .await
    );
    // The canary's pods take 40 sim s (4 s here) to be ready: the HPA comes first.
    env.sim.apply_yaml(&hpa_manifest(ns)).expect("the HPA");
    let what = || {
        format!(
            "state {:?}, stable {}",
            env.state().map(|s| (s.phase, s.autoscaler)),
            replicas(&env, "web")
        )
    };
    settle(&mut child, 60, &what, &|| {
        env.state()
            .is_some_and(|s| s.phase == Phase::Paused && s.autoscaler.is_some())
    });
    assert_ne!(
        replicas(&env, "web"),
        2,
        "the step did not shrink the stable: {}",
        what()
    );
    let out = run(&mut env.control(&["abort", "deploy/web", "--timeout", "30s"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    finish(child);
    assert_only_the_hpa_scaled_the_stable(&env);
}

/// The HPA the canary follows is deleted mid-canary: the next step says so, the stable keeps
/// the replicas it had (nothing writes them), the canary is still sized from them, a human's
/// scaling after that is a conflict again, and the promotion writes the template only.
#[tokio::test(flavor = "multi_thread")]
async fn an_hpa_deleted_mid_canary_leaves_the_stable_as_it_is() {
    let env = start("hpa-goes").await;
    let mut child = canary_driver(&env, "25,50,100", "1h");
    env.wait_state(Duration::from_secs(30), |s| {
        s.phase == Phase::Paused && s.step == 0
    });
    env.sim
        .delete(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some(&env.ns),
            "web",
        )
        .expect("deleted");
    let out = run(&mut env.control(&["promote", "deploy/web"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let what = || {
        format!(
            "state {:?}",
            env.state().map(|s| (s.phase, s.step, s.autoscaler))
        )
    };
    settle(&mut child, 60, &what, &|| {
        env.state().is_some_and(|s| {
            s.phase == Phase::Paused && s.step == 1 && s.autoscaler.is_some_and(|a| a.gone)
        })
    });
    // 50 % beside the stable's 4: 4 canary pods, the stable as the HPA left it.
    assert_eq!(
        (replicas(&env, "web"), replicas(&env, "web-canary")),
        (4, 4)
    );
    // With the HPA gone, a human's `kubectl scale` is a conflict (it was once credited to the
    // deleted HPA and followed): the canary holds, saying what changed.
    let scale = run(std::process::Command::new(crate::support::kubectl())
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", &env.ns, "scale", "deployment/web", "--replicas=5"]));
    assert_eq!(scale.code, 0, "{}", scale.stderr);
    let held = env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Held);
    assert!(
        held.reason
            .as_deref()
            .is_some_and(|r| r.contains("it was scaled from 4 to 5 replicas")),
        "{held:?}"
    );
    assert_eq!(
        replicas(&env, "web-canary"),
        4,
        "the canary did not follow the human"
    );
    let out = run(&mut env.control(&["promote", "deploy/web"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let driver = finish(child);
    assert_eq!(driver.code, 0, "{}", driver.stderr);
    assert!(
        driver.stderr.contains(
            "HorizontalPodAutoscaler web was deleted: deployment/web keeps its 4 replicas"
        ),
        "{}",
        driver.stderr
    );
    assert_eq!(replicas(&env, "web"), 5, "the human's count is kept");
    assert!(env.deployment("web-canary").is_none());
    let tools: Vec<_> = env
        .sim
        .replica_writes(&env.ns, "web")
        .into_iter()
        .filter(|w| w.writer == "kubectl-posthog")
        .collect();
    assert!(
        tools.is_empty(),
        "the tool wrote the stable's replicas: {tools:?}"
    );
}

/// The driver is killed at 50 % (the stable scaled 4 → 2) and, while nobody drives the canary,
/// an HPA pinned at 2 replicas is created. `rollback` aborts the canary from here: its abort
/// finds the HPA the state does not know, leaves the stable's replicas to it (restoring 4 would
/// be undone by the HPA at once) and says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_finds_an_hpa_created_while_nobody_drove_the_canary() {
    let ns = "hpa-while-left";
    let env = Env::start_with(ns, costly(), costly(), true, SPEED, &stable_manifest(ns)).await;
    env.sim.set_load(ns, "app=web", CALM).expect("load");
    let mut child = canary_driver(&env, "50,100", "1h");
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(replicas(&env, "web"), 2);
    let since = env.sim.clock().now();
    let pinned = hpa_manifest(ns).replace("maxReplicas: 12", "maxReplicas: 2");
    env.sim.apply_yaml(&pinned).expect("the HPA");

    let out = run(crate::support::bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", ns, "-o", "json", "rollback", "deployment/web"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("HorizontalPodAutoscaler web now scales deployment/web: the abort leaves"),
        "{}",
        out.stderr
    );
    let canary = crate::rollback::measured(&json(&out.stdout), "rollback.canary");
    assert!(
        canary.contains("stable left to its HPA at 2 replicas"),
        "{canary}"
    );
    assert!(env.deployment("web-canary").is_none());
    // Two more HPA syncs: nothing moves the stable from where the HPA keeps it.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(replicas(&env, "web"), 2);
    let writes = env.sim.replica_writes(ns, "web");
    assert!(
        writes.iter().all(|w| w.at < since),
        "the stable's replicas written after the HPA appeared: {writes:?}"
    );
}
