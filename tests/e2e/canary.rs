//! `canary` end to end: the real binary against the simulated cluster, judged by a real
//! Prometheus scraping the simulator's per-pod request counters (whose error rates and latency
//! each test scripts per image, so per track).
//!
//! Short settings keep each run to seconds: 1 s analysis interval, 5 s query window, 1 s scrape.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubectl_posthog::canary::state::{CanaryState, Phase};
use serde_json::Value;
use simcluster::{PodBehavior, Readiness, SimCluster, SimOptions, Traffic};

use crate::prom;
use crate::support::{bin, kubectl, run};

pub const STABLE: &str = "ghcr.io/acme/app:1.0";
pub const CANARY: &str = "ghcr.io/acme/app:2.0";
pub const REPLICAS: u32 = 4;

/// Flags every test passes: fast analysis and short deadlines.
pub const FAST: &[&str] = &[
    "--interval",
    "1s",
    "--window",
    "5s",
    "--timeout",
    "60s",
    "--progress-deadline",
    "30s",
];
/// A generous inconclusive limit for the first seconds of a step: a new pod needs two scrapes
/// before `rate()` has a value.
pub const LENIENT: &[&str] = &["--inconclusive-limit", "6"];

pub fn healthy() -> PodBehavior {
    PodBehavior {
        ready_after: Duration::from_millis(300),
        traffic: Traffic {
            rps: 20.0,
            status_shares: vec![(200, 1.0)],
            latency_p50_ms: 20.0,
            latency_p99_ms: 120.0,
        },
        ..PodBehavior::default()
    }
}

pub fn with_traffic(traffic: Traffic) -> PodBehavior {
    PodBehavior {
        traffic,
        ..healthy()
    }
}

pub fn manifest(ns: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 30
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: {STABLE}
        ports: [{{containerPort: 8080}}]
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

pub struct Env {
    pub sim: SimCluster,
    pub ns: String,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
    _registration: Option<prom::Registration>,
}

impl Env {
    /// A simulator with `web` (4 replicas of the stable image) ready, the canary image scripted
    /// with `canary`, scraped by the shared Prometheus unless `scraped` is false.
    pub async fn start(ns: &str, canary: PodBehavior, scraped: bool) -> Env {
        Env::start_with(ns, healthy(), canary, scraped, 1.0, &manifest(ns, REPLICAS)).await
    }

    /// As [`Env::start`], with the stable's behaviour, the sim clock's speed and the
    /// manifest (which must have `web` at [`REPLICAS`]) given.
    pub async fn start_with(
        ns: &str,
        stable: PodBehavior,
        canary: PodBehavior,
        scraped: bool,
        speed: f64,
        manifest: &str,
    ) -> Env {
        let sim = SimCluster::start(SimOptions {
            default_namespace: ns.into(),
            speed,
            ..SimOptions::default()
        })
        .await
        .expect("the simulator starts");
        sim.script_image(STABLE, stable);
        sim.script_image(CANARY, canary);
        sim.apply_yaml(manifest).expect("apply");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        let registration = scraped.then(|| prom::shared().register(&sim.url()));
        let env = Env {
            sim,
            ns: ns.into(),
            kubeconfig,
            dir,
            _registration: registration,
        };
        assert!(
            env.sim
                .wait_until(Duration::from_secs(20), |s| ready(s, "web") == REPLICAS)
                .await,
            "the stable never became ready"
        );
        env
    }

    /// `kubectl posthog -n NS -o json canary …` against this simulator.
    pub fn canary(&self, prometheus: &str, args: &[&str]) -> Command {
        let mut cmd = bin();
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns, "-o", "json", "canary"])
            .args(args)
            .args(["--prometheus-url", prometheus]);
        cmd
    }

    pub fn control(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns, "-o", "json", "canary"])
            .args(args);
        cmd
    }

    pub fn deployment(&self, name: &str) -> Option<Value> {
        self.sim.get("apps/v1", "Deployment", Some(&self.ns), name)
    }

    pub fn state(&self) -> Option<CanaryState> {
        crate::support::recorded_state(&self.sim, &self.ns, "web")
    }

    pub fn canary_pods(&self) -> usize {
        self.sim
            .list("v1", "Pod", Some(&self.ns))
            .iter()
            .filter(|p| p["metadata"]["labels"]["track"] == "canary")
            .count()
    }

    pub fn stable_image(&self) -> String {
        self.deployment("web").expect("web exists")["spec"]["template"]["spec"]["containers"][0]
            ["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (real time) until the canary's state satisfies `accept`.
    pub fn wait_state(
        &self,
        timeout: Duration,
        accept: impl Fn(&CanaryState) -> bool,
    ) -> CanaryState {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.state().filter(|s| accept(s)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the canary state never got there; last: {:?}",
                self.state().map(|s| (s.phase, s.step, s.reason))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stable is back at full capacity, on the old image, and no canary pod or Deployment is left.
    pub fn assert_restored(&self) {
        let web = self.deployment("web").expect("web exists");
        assert_eq!(web["spec"]["replicas"], REPLICAS, "{web}");
        assert_eq!(ready(&self.sim, "web"), REPLICAS, "stable ready");
        assert_eq!(self.stable_image(), STABLE);
        assert!(
            self.deployment("web-canary").is_none(),
            "canary deployment left"
        );
        assert_eq!(self.canary_pods(), 0, "canary pods left");
    }
}

pub fn ready(sim: &SimCluster, name: &str) -> u32 {
    sim.get("apps/v1", "Deployment", None, name)
        .and_then(|d| d["status"]["readyReplicas"].as_u64())
        .map_or(0, |n| n as u32)
}

pub fn json(stdout: &str) -> Value {
    crate::support::report_json(stdout)
}

pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

pub fn finish(child: Child) -> crate::support::Run {
    let out = child.wait_with_output().expect("the binary finishes");
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn abort_reason(report: &Value) -> String {
    report["details"]["abort"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_canary_is_promoted_and_kubectl_can_undo_it() {
    let env = Env::start("healthy", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    // Three writes answered 503 along the way: each is retried, nothing shows.
    env.sim.inject(simcluster::Fault::Errors {
        path_contains: Some("/deployments/".into()),
        methods: vec!["PATCH".into()],
        status: 503,
        share: 0.5,
        retry_after: None,
        count: Some(3),
    });
    // Sample capacity while the canary runs: ready stable + ready canary never below 4.
    let sim = env.sim.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let monitor = std::thread::spawn(move || {
        let mut lowest = u32::MAX;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            lowest = lowest.min(ready(&sim, "web") + ready(&sim, "web-canary"));
            std::thread::sleep(Duration::from_millis(20));
        }
        lowest
    });
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "25,50,100",
                "--pause",
                "3s",
            ],
        )
        .args(FAST)
        .args(LENIENT));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let lowest = monitor.join().unwrap();
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["verdict"]["result"], "pass");
    assert_eq!(report["details"]["outcome"], "promoted");
    let steps = report["details"]["steps"].as_array().unwrap();
    assert_eq!(
        (
            steps[0]["canaryReplicas"].as_u64(),
            steps[0]["stableReplicas"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert_eq!(
        (
            steps[1]["canaryReplicas"].as_u64(),
            steps[1]["stableReplicas"].as_u64()
        ),
        (Some(2), Some(2))
    );
    // Every metric was really measured, with its query shown.
    for finding in report["findings"].as_array().unwrap() {
        let id = finding["id"].as_str().unwrap();
        if id.starts_with("canary.metric.") {
            assert_eq!(finding["status"], "pass", "{finding}");
            assert!(
                finding["evidence"].as_str().unwrap().contains("web-canary"),
                "{finding}"
            );
        }
    }
    assert!(
        lowest >= REPLICAS,
        "capacity dropped to {lowest} ready pods"
    );
    let refused = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(refused, 3, "the injected 503s were met and retried");
    // API traffic of a whole canary (3 steps, 6 s of pauses, 1 s ticks, promotion): reads are
    // a poll per tick, writes a handful per step; nothing polls in a tight loop.
    let requests = env.sim.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    let watches = requests.iter().filter(|r| r.is_watch).count();
    eprintln!(
        "canary API requests: {} total, {writes} writes, {watches} watches",
        requests.len()
    );
    assert!(requests.len() < 150, "{} requests", requests.len());
    assert_eq!(env.stable_image(), CANARY);
    assert_eq!(ready(&env.sim, "web"), REPLICAS);
    assert!(env.deployment("web-canary").is_none());
    assert_eq!(env.canary_pods(), 0);
    assert_eq!(env.state().unwrap().phase, Phase::Promoted);
    // The stable's own history now has the new revision: kubectl rollout undo goes back.
    let undo = run(Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", "healthy", "rollout", "undo", "deployment/web"]));
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(
        env.sim
            .wait_until(Duration::from_secs(10), |_| env.stable_image() == STABLE)
            .await
    );
    // An abort cannot undo a promotion, and says what the stable runs now (after the undo).
    let abort = run(&mut env.control(&["abort", "deploy/web"]));
    assert_eq!(abort.code, 2, "{}", abort.stderr);
    assert!(
        abort
            .stderr
            .contains(&format!("the stable now runs {STABLE}")),
        "{}",
        abort.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_breach_aborts_at_once() {
    let canary = with_traffic(Traffic {
        status_shares: vec![(200, 0.5), (503, 0.5)],
        ..healthy().traffic
    });
    let env = Env::start("breach-5xx", canary, true).await;
    let prom = &prom::shared().prometheus;
    let started = Instant::now();
    let out = run(env
        .canary(
            &prom.url,
            &["deploy/web", "--image", CANARY, "--pause", "60s"],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "aborted-by-analysis");
    let reason = abort_reason(&report);
    assert!(reason.starts_with("P1 errors-5xx: "), "{reason}");
    assert!(reason.contains("/min > 10/min"), "{reason}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "canary.metric.errors-5xx")
        .unwrap();
    assert_eq!(finding["status"], "fail");
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains(r#"status=~"5..""#)
    );
    env.assert_restored();
    assert_eq!(env.state().unwrap().phase, Phase::Aborted);

    // Regression: a fixed image right after the abort is judged by its own pods only, not by
    // the aborted canary's, whose 503s Prometheus still holds for a window.
    let fixed = "ghcr.io/acme/app:2.1";
    env.sim.script_image(fixed, healthy());
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                fixed,
                "--steps",
                "50,100",
                "--pause",
                "3s",
            ],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert_eq!(env.stable_image(), fixed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_p99_breach_aborts_after_the_failure_limit() {
    let canary = with_traffic(Traffic {
        latency_p50_ms: 900.0,
        latency_p99_ms: 8000.0,
        ..healthy().traffic
    });
    let env = Env::start("breach-p99", canary, true).await;
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--pause",
                "60s",
                "--failure-limit",
                "3",
            ],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    let reason = abort_reason(&report);
    assert!(reason.starts_with("P2 latency-p99: "), "{reason}");
    assert!(
        reason.contains("> 5000 ms in 3 consecutive readings"),
        "{reason}"
    );
    // The readings before the abort were counted, not acted on.
    assert!(
        out.stderr.contains("latency-p99 breached 1/3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("latency-p99 breached 2/3"),
        "{}",
        out.stderr
    );
    let value = report["details"]["lastAnalysis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "latency-p99")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!((value - 8000.0).abs() < 1.0, "p99 {value}");
    env.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_401_aborts() {
    // One 401 every 5 seconds; nothing else wrong.
    let canary = with_traffic(Traffic {
        status_shares: vec![(200, 0.99), (401, 0.01)],
        ..healthy().traffic
    });
    let env = Env::start("auth-401", canary, true).await;
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &["deploy/web", "--image", CANARY, "--pause", "60s"],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    let reason = abort_reason(&report);
    assert!(reason.starts_with("P1 auth-failures: "), "{reason}");
    let value = report["details"]["lastAnalysis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "auth-failures")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!((1.0..=2.0).contains(&value), "aborted at {value} 401s");
    env.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_unreachable_is_inconclusive_then_aborts() {
    let env = Env::start("prom-down", healthy(), true).await;
    // Its own Prometheus on the shared fan-in, so killing it harms no other test.
    let mut own = prom::Prometheus::start(&[prom::shared().fan_in.clone()], "/metrics");
    let child = spawn(
        env.canary(
            &own.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--pause",
                "60s",
                "--inconclusive-limit",
                "3",
            ],
        )
        .args(FAST),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    own.kill();
    let started = Instant::now();
    let out = finish(child);
    assert_eq!(
        out.code, 3,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "aborted-inconclusive");
    assert_eq!(
        report["details"]["abort"]["kind"],
        "inconclusive-source-failed"
    );
    let reason = abort_reason(&report);
    assert!(
        reason.contains("inconclusive in 3 consecutive readings"),
        "{reason}"
    );
    assert!(reason.contains("unreachable"), "{reason}");
    env.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_canary_aborts() {
    let canary = PodBehavior {
        readiness: Readiness::CrashLoop {
            after: Duration::from_millis(500),
            exit_code: 1,
            reason: "Error".into(),
        },
        ..healthy()
    };
    let env = Env::start("crashloop", canary, true).await;
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &["deploy/web", "--image", CANARY, "--pause", "60s"],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "aborted-by-health");
    let reason = abort_reason(&report);
    assert!(
        reason.starts_with("canary pod health: pod web-canary-"),
        "{reason}"
    );
    assert!(reason.contains("last exit 1, Error"), "{reason}");
    let health = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "canary.pod-health")
        .unwrap();
    assert_eq!(health["status"], "fail");
    env.assert_restored();
}

/// The canary passes, but the stable's own rollout of the new template fails (its new pods never
/// become ready, so the Deployment's progress deadline passes): the stable is rolled back to its
/// previous revision automatically, as `kubectl rollout undo` would, and the run exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_promotion_is_rolled_back_automatically() {
    // A slow-starting canary leaves the test seconds to break the image once promotion begins.
    let slow = PodBehavior {
        ready_after: Duration::from_secs(3),
        ..healthy()
    };
    let env = Env::start("promofail", slow.clone(), true).await;
    env.sim
        .apply_yaml(
            &manifest("promofail", REPLICAS)
                .replace("progressDeadlineSeconds: 30", "progressDeadlineSeconds: 8"),
        )
        .expect("apply");
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "8s",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(60), |s| s.phase == Phase::Promoting);
    env.sim.script_image(
        CANARY,
        PodBehavior {
            readiness: Readiness::NeverReady,
            ..slow
        },
    );
    // Bounded by the binary's own --timeout; reading the pipes while waiting avoids a full-pipe stall.
    let out = finish(child);
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "promotion-failed");
    let summary = report["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("ProgressDeadlineExceeded") || summary.contains("progress deadline"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "rolled back automatically to revision 1 ({STABLE})"
        )),
        "{summary}"
    );
    assert!(out.stderr.contains("PROMOTION FAILED"), "{}", out.stderr);
    env.assert_restored();
    assert_eq!(env.state().unwrap().phase, Phase::PromotionFailed);
    // The history is kubectl's: the failed template is revision 2, the rollback revision 3.
    let history = run(Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", "promofail", "rollout", "history", "deployment/web"]));
    assert_eq!(history.code, 0, "{}", history.stderr);
    let revisions: Vec<&str> = history
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|r| r.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{}", history.stdout);
}

/// Starts a two-step canary with a long first pause and SIGKILLs it once it is paused there.
async fn killed_mid_step(ns: &str) -> Env {
    let env = Env::start(ns, healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let mut child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "6s",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    let paused = env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    assert_eq!(paused.step, 0);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Killed mid-step: 2 canary + 2 stable pods, nobody driving.
    assert_eq!(ready(&env.sim, "web-canary"), 2);
    let status = run(&mut env.control(&["status", "deploy/web"]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status = json(&status.stdout);
    assert_eq!(status["verdict"]["result"], "warn", "{status}");
    let phase = &status["findings"][0];
    assert!(
        phase["evidence"]
            .as_str()
            .unwrap()
            .starts_with("no process drives it"),
        "{phase}"
    );
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_step_then_resume_finishes_the_canary() {
    let env = killed_mid_step("killed-resume").await;
    // --resume needs no flags: the plan and options come from the annotation.
    let out = run(env
        .control(&["deploy/web", "--resume"])
        .args(["--prometheus-url", &prom::shared().prometheus.url]));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(
        out.stderr
            .contains("resuming the canary of deployment/web at step 1/2"),
        "{}",
        out.stderr
    );
    assert_eq!(json(&out.stdout)["details"]["outcome"], "promoted");
    assert_eq!(env.stable_image(), CANARY);
    assert_eq!(ready(&env.sim, "web"), REPLICAS);
    assert!(env.deployment("web-canary").is_none());
    assert_eq!(env.canary_pods(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_step_then_abort_restores_the_stable() {
    let env = killed_mid_step("killed-abort").await;
    let out = run(&mut env.control(&["abort", "deploy/web", "--timeout", "30s"]));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["verdict"]["result"], "pass", "{report}");
    env.assert_restored();
    assert_eq!(env.state().unwrap().phase, Phase::Aborted);
    // Aborting again is harmless.
    let again = run(&mut env.control(&["abort", "deploy/web"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        json(&again.stdout)["verdict"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("nothing to abort")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_query_is_refused_before_anything_changes() {
    let env = Env::start("bad-query", healthy(), true).await;
    let config = env.dir.path().join("kubectl-posthog.yaml");
    std::fs::write(
        &config,
        "canary:\n  metrics:\n    errors-5xx:\n      query: 'sum(rate(http_requests_total{ {{selector}} }[{{window}}])'\n",
    )
    .unwrap();
    env.sim.clear_requests();
    let out = run(env
        .canary(
            &prom::shared().prometheus.url,
            &["deploy/web", "--image", CANARY],
        )
        .arg("--config")
        .arg(&config));
    assert_eq!(
        out.code, 2,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(
        out.stderr.contains("metric errors-5xx query"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    let writes: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(writes.is_empty(), "the cluster was changed: {writes:?}");
    assert!(env.state().is_none());

    // An unreachable Prometheus is refused the same way, as an infrastructure failure.
    let out = run(&mut env.canary("http://127.0.0.1:9", &["deploy/web", "--image", CANARY]));
    assert_eq!(
        out.code, 3,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);
    assert!(env.sim.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_plan_and_filled_in_queries_and_changes_nothing() {
    let env = Env::start("dry-run", healthy(), true).await;
    env.sim.clear_requests();
    let out = run(&mut env.canary(
        &prom::shared().prometheus.url,
        &["deploy/web", "--image", CANARY, "--dry-run"],
    ));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    let steps = report["details"]["steps"].as_array().unwrap();
    let counts: Vec<(u64, u64)> = steps
        .iter()
        .map(|s| {
            (
                s["canaryReplicas"].as_u64().unwrap(),
                s["stableReplicas"].as_u64().unwrap(),
            )
        })
        .collect();
    // 10% of 4 pods: 1 canary + 4 stable (20%, with the one surge pod) is closer than 1 + 3 (25%).
    assert_eq!(counts, [(1, 4), (2, 2), (0, 4)]);
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "canary.metric.errors-5xx")
        .unwrap();
    assert_eq!(
        errors["evidence"],
        r#"sum(rate(http_requests_total{namespace="dry-run",pod=~"web-canary-[a-z0-9]+-[a-z0-9]+",status=~"5.."}[120s])) * 60 or sum(rate(http_requests_total{namespace="dry-run",pod=~"web-canary-[a-z0-9]+-[a-z0-9]+"}[120s])) * 0"#
    );
    assert!(env.sim.requests().iter().all(|r| r.method == "GET"));
    // The table form shows the same plan to a person.
    let table = run(env
        .canary(
            &prom::shared().prometheus.url,
            &["deploy/web", "--image", CANARY, "--dry-run"],
        )
        .args(["-o", "table"]));
    assert!(
        table
            .stdout
            .contains("Step 1: 10%: 1 canary + 4 stable pods (20% of traffic)"),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_aborts_safely_and_exits_130() {
    let env = Env::start("sigterm", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &["deploy/web", "--image", CANARY, "--pause", "60s"],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = finish(child);
    assert_eq!(
        out.code, 130,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert_eq!(
        json(&out.stdout)["details"]["outcome"],
        "interrupted-aborted"
    );
    env.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_pause_waits_for_canary_promote() {
    let env = Env::start("manual", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "manual",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    std::thread::sleep(Duration::from_secs(3));
    let status = run(&mut env.control(&["status", "deploy/web"]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status = json(&status.stdout);
    assert!(
        status["verdict"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("canary paused at step 1/2 (50%)"),
        "{status}"
    );
    assert!(
        status["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("driven by"),
        "{status}"
    );
    assert_eq!(env.state().unwrap().phase, Phase::Paused, "still waiting");
    let promote = run(&mut env.control(&["promote", "deploy/web"]));
    assert_eq!(promote.code, 0, "{}", promote.stderr);
    assert_eq!(json(&promote.stdout)["findings"][0]["status"], "pass");
    let out = finish(child);
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(
        out.stderr.contains("promoted past 50% by `canary promote`"),
        "{}",
        out.stderr
    );
    assert_eq!(env.stable_image(), CANARY);
}

#[tokio::test(flavor = "multi_thread")]
async fn comparison_with_the_stable_forgives_errors_the_stable_has_too() {
    // Stable and canary both answer 30% 503s: far above 10/min, but no worse than the stable.
    let flaky = Traffic {
        status_shares: vec![(200, 0.7), (503, 0.3)],
        ..healthy().traffic
    };
    let env = Env::start("compare", with_traffic(flaky.clone()), true).await;
    env.sim.script_image(STABLE, with_traffic(flaky));
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "4s",
                "--compare-stable",
            ],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    let errors = report["details"]["lastAnalysis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "errors-5xx")
        .unwrap()
        .clone();
    // Judged as shares of requests against the stable's, with both queries shown.
    assert_eq!(errors["unit"], "%");
    let (canary, stable) = (
        errors["value"].as_f64().unwrap(),
        errors["baseline"].as_f64().unwrap(),
    );
    assert!(
        (20.0..40.0).contains(&canary) && (20.0..40.0).contains(&stable),
        "{errors}"
    );
    assert!(
        errors["baselineQuery"]
            .as_str()
            .unwrap()
            .contains(r#"pod=~"web-[a-z0-9]+-[a-z0-9]+""#)
    );
    assert_eq!(env.stable_image(), CANARY);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_source_measures_what_prometheus_measures() {
    use kubectl_posthog::canary::analysis::Sample;
    use kubectl_posthog::canary::prometheus_source::PrometheusSource;
    use kubectl_posthog::canary::settings::bind_metrics;
    use kubectl_posthog::canary::sim_source::SimSource;
    use kubectl_posthog::canary::source::MetricSource;
    use kubectl_posthog::prometheus::{Auth, Prometheus};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let canary = with_traffic(Traffic {
        rps: 20.0,
        status_shares: vec![(200, 0.85), (503, 0.1), (429, 0.05)],
        latency_p50_ms: 150.0,
        latency_p99_ms: 800.0,
    });
    let env = Env::start("agree", canary, true).await;
    // A canary Deployment as the tool names it, running the scripted image.
    env.sim
        .apply_yaml(
            &manifest("agree", 1)
                .replace("name: web,", "name: web-canary,")
                .replace(STABLE, CANARY),
        )
        .unwrap();
    assert!(
        env.sim
            .wait_until(Duration::from_secs(10), |s| ready(s, "web-canary") == 1)
            .await
    );
    let window = Duration::from_secs(10);
    let settings = kubectl_posthog::canary::settings::Settings {
        window,
        ..test_settings()
    };
    let bound = bind_metrics(&settings, "agree", "web", "web-canary", &[]).unwrap();
    let sim_source = SimSource::new(env.sim.clone());
    let prom = &prom::shared().prometheus;
    let prometheus = PrometheusSource {
        prometheus: Prometheus::new(&prom.url, &Auth::None, Duration::from_secs(5)).unwrap(),
    };
    // Let a full window of scrapes and snapshots build up.
    for b in &bound {
        let _ = sim_source.sample(&b.canary).await;
    }
    tokio::time::sleep(window + Duration::from_secs(2)).await;
    for b in &bound {
        let (Sample::Value(from_sim), Sample::Value(from_prom)) = (
            sim_source.sample(&b.canary).await,
            prometheus.sample(&b.canary).await,
        ) else {
            panic!("{}: no value from one of the sources", b.spec.id);
        };
        let close = (from_sim - from_prom).abs() <= 0.25 * from_prom.abs().max(1.0);
        assert!(
            close,
            "{}: simulator {from_sim} vs Prometheus {from_prom}",
            b.spec.id
        );
    }
    // And the values are the scripted ones: 10% of 20 rps is 120 5xx per minute; p99 800 ms.
    let Sample::Value(errors) = prometheus.sample(&bound[0].canary).await else {
        panic!()
    };
    assert!((90.0..150.0).contains(&errors), "5xx/min {errors}");
    let Sample::Value(p99) = prometheus.sample(&bound[1].canary).await else {
        panic!()
    };
    assert!((p99 - 800.0).abs() < 1.0, "p99 {p99}");
}

fn test_settings() -> kubectl_posthog::canary::settings::Settings {
    use kubectl_posthog::canary::analysis::Policy;
    use kubectl_posthog::canary::metrics::{Naming, default_metrics};
    use kubectl_posthog::canary::settings::{OnInterrupt, Settings};
    Settings {
        steps: Vec::new(),
        interval: Duration::from_secs(1),
        window: Duration::from_secs(5),
        policy: Policy::default(),
        comparison: None,
        metrics: default_metrics(),
        naming: Naming::default(),
        max_restarts: 0,
        on_interrupt: OnInterrupt::Abort,
        on_conflict: Default::default(),
        on_error: Default::default(),
        ready_timeout: Duration::from_secs(30),
        timeout: Duration::from_secs(60),
        guard_interval: None,
    }
}

/// stdout of an in-process command, for the demo-style test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_a_canary_on_the_simulators_own_counters() {
    use clap::Parser;
    use kubectl_posthog::canary::sim_source::SimSource;
    use kubectl_posthog::clock::SystemClock;
    use kubectl_posthog::cmd::Ctx;
    use kubectl_posthog::error::{Exit, report_exit};
    use kubectl_posthog::interrupt::Interrupt;

    let bad = with_traffic(Traffic {
        status_shares: vec![(200, 0.5), (503, 0.5)],
        ..healthy().traffic
    });
    let env = Env::start("demo-style", bad, false).await;
    let good = "ghcr.io/acme/app:2.1";
    env.sim.script_image(good, healthy());
    let kubeconfig = env.kubeconfig.display().to_string();
    let cli = kubectl_posthog::cmd::Cli::try_parse_from([
        "kubectl-posthog",
        "--kubeconfig",
        &kubeconfig,
        "-n",
        "demo-style",
        "-o",
        "json",
        "completion",
        "bash",
    ])
    .unwrap();
    let (_tx, interrupt) = Interrupt::new();
    let out = Captured::default();
    let ctx = Ctx::new(
        cli.global,
        Box::new(out.clone()),
        kubectl_posthog::ui::Styles::plain(),
        kubectl_posthog::ui::Ui::silent(),
        std::sync::Arc::new(SystemClock),
        interrupt,
    );
    let flags = [
        "--steps",
        "50,100",
        "--pause",
        "4s",
        "--interval",
        "1s",
        "--window",
        "3s",
    ];
    let run = |image: &'static str| {
        let mut argv = vec!["deploy/web", "--image", image];
        argv.extend(flags);
        argv.extend(["--inconclusive-limit", "6", "--timeout", "60s"]);
        argv
    };
    let report = kubectl_posthog::cmd::canary::run_in_demo(
        &ctx,
        &run(CANARY),
        Box::new(SimSource::new(env.sim.clone())),
    )
    .await
    .unwrap();
    ctx.show(&report).unwrap();
    assert_eq!(report_exit(&report), Exit::VerdictFailed);
    let text = String::from_utf8(std::mem::take(&mut *out.0.lock().unwrap())).unwrap();
    let report = json(&text);
    assert!(
        abort_reason(&report).starts_with("P1 errors-5xx: "),
        "{report}"
    );
    assert!(
        report["details"]["metricSource"]
            .as_str()
            .unwrap()
            .starts_with("simulated cluster counters")
    );
    env.assert_restored();

    let report = kubectl_posthog::cmd::canary::run_in_demo(
        &ctx,
        &run(good),
        Box::new(SimSource::new(env.sim.clone())),
    )
    .await
    .unwrap();
    assert_eq!(report_exit(&report), Exit::Success);
    assert_eq!(env.stable_image(), good);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_interrupt_leave_keeps_the_canary_for_resume() {
    let env = Env::start("leave", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "4s",
                "--on-interrupt",
                "leave",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = finish(child);
    assert_eq!(
        out.code, 130,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "interrupted-left");
    assert!(
        report["verdict"]["summary"]
            .as_str()
            .unwrap()
            .contains("canary --resume deployment/web")
    );
    // Left as it was: 2 canary + 2 stable pods, and marked as driven by nobody.
    assert_eq!(ready(&env.sim, "web-canary"), 2);
    assert_eq!(env.deployment("web").unwrap()["spec"]["replicas"], 2);
    let left = env.state().unwrap();
    assert!(left.released, "{left:?}");
    // Issue 15 (view 2): the real last heartbeat is kept, so `canary status` tells its age.
    let age = jiff::Timestamp::now()
        .duration_since(left.heartbeat)
        .as_secs();
    assert!(
        (0..60).contains(&age),
        "heartbeat {} ({age}s ago)",
        left.heartbeat
    );
    let status = json(&run(&mut env.control(&["status", "deploy/web"])).stdout);
    let evidence = status["findings"][0]["evidence"]
        .as_str()
        .unwrap_or_default();
    assert!(
        evidence.starts_with("no process drives it (last heartbeat"),
        "{evidence}"
    );
    assert!(!status.to_string().contains("1970-01-01"), "{status}");
    let out = run(env
        .control(&["deploy/web", "--resume"])
        .args(["--prometheus-url", &prom.url]));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert_eq!(env.stable_image(), CANARY);
    assert_eq!(env.canary_pods(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_abort_from_another_terminal_is_carried_out_by_the_driver() {
    let env = Env::start("remote-abort", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let driver = spawn(
        env.canary(
            &prom.url,
            &["deploy/web", "--image", CANARY, "--pause", "60s"],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    let abort = run(&mut env.control(&["abort", "deploy/web", "--timeout", "30s"]));
    assert_eq!(abort.code, 0, "{}", abort.stderr);
    assert!(
        abort.stderr.contains("asked the driver"),
        "{}",
        abort.stderr
    );
    let out = finish(driver);
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "aborted-by-operator");
    assert!(abort_reason(&report).starts_with("aborted by `kubectl posthog canary abort`"));
    env.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn on_inconclusive_pause_holds_until_promote() {
    // The canary's pods serve nothing: every reading is inconclusive.
    let idle = with_traffic(Traffic {
        rps: 0.0,
        ..healthy().traffic
    });
    let env = Env::start("hold", idle, true).await;
    let prom = &prom::shared().prometheus;
    let driver = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "6s",
            ],
        )
        .args(FAST)
        .args(["--inconclusive-limit", "2", "--on-inconclusive", "pause"]),
    );
    let held = env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Held);
    assert!(
        held.reason
            .as_deref()
            .unwrap_or_default()
            .contains("inconclusive in 2 consecutive readings")
    );
    // Held past the 6 s pause, still at 50%.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(env.state().unwrap().phase, Phase::Held);
    assert_eq!(ready(&env.sim, "web-canary"), 2);
    let promote = run(&mut env.control(&["promote", "deploy/web"]));
    assert_eq!(promote.code, 0, "{}", promote.stderr);
    let out = finish(driver);
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(out.stderr.contains("holding at 50%"), "{}", out.stderr);
    assert_eq!(env.stable_image(), CANARY);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_without_a_single_conclusive_reading_is_not_passed() {
    // Regression: a pause shorter than the inconclusive limit used to let an unmeasured canary
    // (here one that serves nothing) through to promotion.
    let idle = with_traffic(Traffic {
        rps: 0.0,
        ..healthy().traffic
    });
    let env = Env::start("unmeasured", idle, true).await;
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "2s",
            ],
        )
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["abort"]["kind"], "inconclusive-no-data");
    let reason = abort_reason(&report);
    assert!(reason.starts_with("no conclusive reading of errors-5xx, latency-p99, rate-limited, auth-failures during the pause at 50%"), "{reason}");
    env.assert_restored();
}

/// A Prometheus API stand-in behind a bearer token: an empty vector for the right token,
/// 401 otherwise (what an authenticating proxy in front of Prometheus answers).
async fn prometheus_behind_a_token(token: &'static str) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(move |headers: HeaderMap| async move {
            let sent = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if sent == format!("Bearer {token}") {
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    [("content-type", "text/plain")],
                    "unauthorized",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_credentials_come_from_a_secret_or_the_environment() {
    let env = Env::start("prom-auth", healthy(), false).await;
    let url = prometheus_behind_a_token("s3cr3t-t0ken").await;
    env.sim
        .apply_yaml(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: prom-auth, namespace: prom-auth}\n\
             stringData: {token: s3cr3t-t0ken}\n",
        )
        .unwrap();
    let config = env.dir.path().join("kubectl-posthog.yaml");
    std::fs::write(
        &config,
        "prometheus:\n  bearerToken: {secret: {name: prom-auth, key: token}}\n",
    )
    .unwrap();
    let dry_run = ["deploy/web", "--image", CANARY, "--dry-run"];
    let out = run(env.canary(&url, &dry_run).arg("--config").arg(&config));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(!out.stdout.contains("s3cr3t") && !out.stderr.contains("s3cr3t"));
    // Validated with the token (a dry run notes an unreachable or refusing Prometheus instead).
    let validated = |stdout: &str| {
        json(stdout)["details"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("not validated"))
    };
    assert!(validated(&out.stdout), "{}", out.stdout);
    // The environment's token when the config names none; a wrong one is refused as such.
    let out = run(env
        .canary(&url, &dry_run)
        .env("PROMETHEUS_BEARER_TOKEN", "s3cr3t-t0ken"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(validated(&out.stdout), "{}", out.stdout);
    let out = run(env
        .canary(&url, &["deploy/web", "--image", CANARY])
        .env("PROMETHEUS_BEARER_TOKEN", "wrong"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the credentials (401"),
        "{}",
        out.stderr
    );
}

/// Issue 17 item 8: `--dry-run` without any Prometheus URL exited 2; it prints the plan and the
/// queries with their arguments, saying they were not validated, and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_without_a_prometheus_url_prints_the_plan_unvalidated() {
    let env = Env::start("dry-run-no-prom", healthy(), false).await;
    env.sim.clear_requests();
    let out = run(bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args([
            "-n",
            &env.ns,
            "-o",
            "json",
            "canary",
            "deploy/web",
            "--image",
            CANARY,
            "--dry-run",
        ])
        .env_remove("PROMETHEUS_URL"));
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["steps"].as_array().unwrap().len(), 3);
    let notes = report["details"]["notes"].to_string();
    assert!(
        notes.contains("queries not validated: no Prometheus URL"),
        "{notes}"
    );
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "canary.metric.errors-5xx")
        .unwrap();
    assert!(
        errors["evidence"]
            .as_str()
            .unwrap()
            .contains("namespace=\"dry-run-no-prom\""),
        "{errors}"
    );
    assert!(env.sim.requests().iter().all(|r| r.method == "GET"));
    // A real run still refuses, naming the flag.
    let real = run(bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", &env.ns, "canary", "deploy/web", "--image", CANARY])
        .env_remove("PROMETHEUS_URL"));
    assert_eq!(real.code, 2, "{}", real.stderr);
    assert!(real.stderr.contains("--prometheus-url"), "{}", real.stderr);
}

/// Issue 17 item 1 on a real canary against the real Prometheus: `-v` logs each analysis reading
/// with its filled-in query and each change to the cluster; `-vv` each request to the API server
/// and Prometheus with method, URL, status and latency; neither shows the kubeconfig's bearer token.
#[tokio::test(flavor = "multi_thread")]
async fn verbose_canary_logs_readings_changes_and_requests_without_credentials() {
    const TOKEN: &str = "canary-kubeconfig-token-4b2e";
    let env = Env::start("verbose", healthy(), true).await;
    let kubeconfig = std::fs::read_to_string(&env.kubeconfig).unwrap();
    std::fs::write(
        &env.kubeconfig,
        kubeconfig.replace("token: simcluster", &format!("token: {TOKEN}")),
    )
    .unwrap();
    let prom = &prom::shared().prometheus;
    let args = [
        "deploy/web",
        "--image",
        CANARY,
        "--steps",
        "50,100",
        "--pause",
        "2s",
    ];
    let out = run(env
        .canary(&prom.url, &args)
        .args(FAST)
        .args(LENIENT)
        .arg("-vv"));
    // Promoted, or aborted when the scrapes lag the short pause: the log is what is judged here.
    assert!(
        matches!(out.code, 0 | 1),
        "stderr:\n{}\nstdout:\n{}",
        out.stderr,
        out.stdout
    );
    assert!(!out.stderr.contains(TOKEN), "{}", out.stderr);
    let has = |pattern: &str| {
        let re = regex::Regex::new(pattern).unwrap();
        out.stderr.lines().any(|l| re.is_match(l))
    };
    assert!(
        has(
            r"INFO kubectl_posthog::cmd::canary::start: canary plan for deployment/web: 50% \(2 canary \+ 2 stable, 50% of traffic\) → 100%"
        ),
        "the plan at -v:\n{}",
        out.stderr
    );
    assert!(
        has(
            r"INFO kubectl_posthog::prometheus::client: prometheus reading: .*namespace=.verbose.* = "
        ),
        "a reading with its filled-in query:\n{}",
        out.stderr
    );
    assert!(
        has(
            r"INFO kubectl_posthog::kube::http_trace: cluster change: POST http://127\.0\.0\.1:\d+/apis/apps/v1/namespaces/verbose/deployments(\?\S*)? 201$"
        ),
        "the canary Deployment's creation:\n{}",
        out.stderr
    );
    assert!(
        has(
            r"DEBUG kubectl_posthog::http_log: prometheus GET http://127\.0\.0\.1:\d+/api/v1/query\?query=\S+ 200 OK in \d+ ms$"
        ),
        "{}",
        out.stderr
    );
    assert!(
        has(
            r"DEBUG kubectl_posthog::http_log: kubernetes PATCH http://127\.0\.0\.1:\d+/apis/apps/v1/namespaces/verbose/deployments/web\S* 200 OK in \d+ ms$"
        ),
        "{}",
        out.stderr
    );
    // KEEP_CANARY_VV=FILE keeps the log, to read what -vv shows.
    if let Ok(path) = std::env::var("KEEP_CANARY_VV") {
        std::fs::write(path, &out.stderr).unwrap();
    }
}

/// Issue 19: `--notify` on canary and rollback: the canary's start, each passed step and its
/// promotion reach the destination as they happen; a rollback afterwards reports it is done.
#[tokio::test(flavor = "multi_thread")]
async fn canary_and_rollback_notify_their_events() {
    let hooks = crate::standins::notify::NotifyStandIn::start().await;
    let env = Env::start("notified", healthy(), true).await;
    let config = env.dir.path().join("kubectl-posthog.yaml");
    std::fs::write(
        &config,
        "notify:\n  destinations:\n    hook:\n      webhook: { url: { env: TEST_WEBHOOK } }\n",
    )
    .unwrap();
    let prom = &prom::shared().prometheus;
    let out = run(env
        .canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "5s",
                "--notify",
                "hook",
            ],
        )
        .args(FAST)
        .args(LENIENT)
        .arg("--config")
        .arg(&config)
        .env("TEST_WEBHOOK", hooks.webhook_url()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let events: Vec<String> = hooks
        .requests_to("/hook/")
        .iter()
        .map(|s| s.json()["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        events,
        ["canary.started", "canary.step-passed", "canary.promoted"],
        "{events:?}"
    );
    assert!(
        !out.stdout.contains(&hooks.webhook_url()),
        "the webhook URL is a credential"
    );
    let rollback = run(bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", &env.ns, "--config"])
        .arg(&config)
        .args(["rollback", "deploy/web", "--notify", "hook"])
        .env("TEST_WEBHOOK", hooks.webhook_url()));
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    let last = hooks.requests_to("/hook/").last().unwrap().json();
    assert_eq!(last["event"], "rollback.done", "{last}");
}

/// Argo Rollouts' `promote --full`: from the first of three steps, each with a manual pause,
/// the driver skips every remaining step and pause and promotes.
#[tokio::test(flavor = "multi_thread")]
async fn promote_full_skips_every_remaining_step_and_pause() {
    let env = Env::start("promote-full", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "25,50,100",
                "--pause",
                "manual",
                "-o",
                "json",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    assert_eq!(env.state().unwrap().step, 0, "paused at the first step");
    let promote = run(&mut env.control(&["promote", "deploy/web", "--full", "-o", "json"]));
    assert_eq!(promote.code, 0, "{}", promote.stderr);
    let promote = json(&promote.stdout);
    assert!(
        promote["verdict"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("full promotion requested for deployment/web at step 1/3"),
        "{promote}"
    );
    let out = finish(child);
    assert_eq!(
        out.code, 0,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "promoted");
    assert_eq!(env.stable_image(), CANARY);
    // The 50% step never ran: no canary scaled to its count, no pause of it.
    assert!(
        !out.stderr.contains("step 2/3"),
        "the 50% step was skipped:\n{}",
        out.stderr
    );
}

/// `canary get -w` (`status --watch`), as `kubectl argo rollouts get rollout --watch`: frames of
/// the tree while the canary runs, the last one once an operator aborts it, then the status
/// report with its exit code (1: aborted).
#[tokio::test(flavor = "multi_thread")]
async fn status_watch_draws_the_tree_until_the_canary_ends() {
    let env = Env::start("get-watch", healthy(), true).await;
    let prom = &prom::shared().prometheus;
    let child = spawn(
        env.canary(
            &prom.url,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "25,100",
                "--pause",
                "manual",
            ],
        )
        .args(FAST)
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    // Human output: the tree is for people (`-o json` stays the state).
    let mut watch = bin();
    watch.arg("--kubeconfig").arg(&env.kubeconfig).args([
        "-n",
        &env.ns,
        "canary",
        "get",
        "deploy/web",
        "-w",
    ]);
    let watcher = spawn(&mut watch);
    std::thread::sleep(Duration::from_secs(3));
    let abort = run(&mut env.control(&["abort", "deploy/web"]));
    assert_eq!(abort.code, 0, "{}", abort.stderr);
    let watched = finish(watcher);
    assert_eq!(
        watched.code, 1,
        "aborted: {}\n{}",
        watched.stdout, watched.stderr
    );
    let out = &watched.stdout;
    for expected in [
        "Status:          ॥ Paused at step 1/2 (25%) · driven by",
        "  ► 1. 25%:",
        "⟳ web ",
        "⟳ web-canary ",
        "Status:          ✖ Aborted at step 1/2 (25%) · ended",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.contains("□ web-") && l.contains("ready:1/1")),
        "pods with their readiness:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("⧉ web-") && l.contains(STABLE)),
        "the stable's ReplicaSet with its image:\n{out}"
    );
    let _ = finish(child);
}
