//! Issue 18, done-when: four canaries (one aborted by its analysis, one by `canary abort`, one
//! promoted, one interrupted) and a rollback (of the promotion) on the simulator, judged by the real Prometheus,
//! then `evidence --since 1h`. The postmortem lists each with its outcome and the revision
//! numbers of the time, its detected start is the first breaching sample, the bundle unpacks
//! into one directory and `kubectl get events` shows this tool's Events on the stable.

use std::path::Path;
use std::time::Duration;

use kubectl_posthog::canary::state::Phase;
use serde_json::Value;
use simcluster::{Fault, Traffic};

use crate::canary::{CANARY, Env, FAST, LENIENT, finish, healthy, json, spawn, with_traffic};
use crate::prom;
use crate::support::{bin, kubectl, run};

const GOOD: &str = "ghcr.io/acme/app:3.0";
const NEXT: &str = "ghcr.io/acme/app:4.0";

fn canary_args<'a>(image: &'a str, pause: &'a str) -> Vec<&'a str> {
    vec![
        "deploy/web",
        "--image",
        image,
        "--steps",
        "50,100",
        "--pause",
        pause,
    ]
}

fn outcome(stdout: &str) -> String {
    json(stdout)["details"]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The first sample of `metrics/errors-5xx.json` over 10/min, as unix seconds.
fn first_breach(bundle: &Path) -> Option<f64> {
    let range: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("metrics/errors-5xx.json")).ok()?)
            .ok()?;
    range["series"]
        .as_array()?
        .iter()
        .filter_map(|s| {
            s["values"]
                .as_array()?
                .iter()
                .find(|v| v[1].as_f64().is_some_and(|x| x > 10.0))
                .and_then(|v| v[0].as_f64())
        })
        .reduce(f64::min)
}

/// The reasons of the Events `kubectl get events` shows from this tool on deployment/web.
fn tool_event_reasons(env: &Env) -> Vec<String> {
    let events = std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args([
            "-n",
            &env.ns,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl runs");
    let listed: Value = serde_json::from_slice(&events.stdout).unwrap_or_else(|_| {
        panic!(
            "kubectl get events: {}",
            String::from_utf8_lossy(&events.stderr)
        )
    });
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"]["component"] == "kubectl-posthog")
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}

/// Issue 18 item 1: an Event that cannot be written changes nothing about the rollout, and a
/// dry run writes none.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_event_write_never_changes_the_outcome_and_dry_runs_write_none() {
    let env = Env::start("refused-writes", healthy(), true).await;
    let prom = prom::shared().prometheus.url.clone();
    let dry = run(env
        .canary(&prom, &canary_args(CANARY, "8s"))
        .arg("--dry-run")
        .args(FAST));
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    let dry = run(bin().arg("--kubeconfig").arg(&env.kubeconfig).args([
        "-n",
        &env.ns,
        "-o",
        "json",
        "rollback",
        "deploy/web",
        "--dry-run",
    ]));
    assert!(
        dry.code == 0 || dry.code == 1,
        "{}{}",
        dry.stdout,
        dry.stderr
    );
    assert_eq!(tool_event_reasons(&env), Vec::<String>::new(), "dry runs");

    env.sim.inject(Fault::Errors {
        path_contains: Some("/events".into()),
        methods: vec!["POST".into()],
        status: 500,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    let out = run(env
        .canary(&prom, &canary_args(CANARY, "8s"))
        .args(FAST)
        .args(LENIENT));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(outcome(&out.stdout), "promoted", "{}", out.stderr);
    assert_eq!(
        tool_event_reasons(&env),
        Vec::<String>::new(),
        "all refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_postmortem_lists_every_canary_and_rollback_of_the_hour_with_its_outcome() {
    let bad = with_traffic(Traffic {
        status_shares: vec![(200, 0.5), (503, 0.5)],
        ..healthy().traffic
    });
    let env = Env::start("history", bad, true).await;
    env.sim.script_image(GOOD, healthy());
    env.sim.script_image(NEXT, healthy());
    let prom = prom::shared().prometheus.url.clone();

    // 1: the bad image, aborted by its analysis.
    let first = run(env
        .canary(&prom, &canary_args(CANARY, "60s"))
        .args(FAST)
        .args(LENIENT));
    assert_eq!(
        outcome(&first.stdout),
        "aborted-by-analysis",
        "{}",
        first.stderr
    );

    // 2: a good image, aborted by the operator while paused.
    let driver = spawn(
        env.canary(&prom, &canary_args(GOOD, "1h"))
            .args(FAST)
            .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(60), |s| s.phase == Phase::Paused);
    let abort = run(&mut env.control(&["abort", "deploy/web"]));
    assert_eq!(abort.code, 0, "{}{}", abort.stdout, abort.stderr);
    let second = finish(driver);
    assert_eq!(
        outcome(&second.stdout),
        "aborted-by-operator",
        "{}",
        second.stderr
    );

    // 3: a good image, promoted (the stable's revision 2).
    let third = run(env
        .canary(&prom, &canary_args(GOOD, "8s"))
        .args(FAST)
        .args(LENIENT));
    assert_eq!(outcome(&third.stdout), "promoted", "{}", third.stderr);

    // The rollback: the release undone to revision 1 (which becomes revision 3).
    let rollback = run(bin().arg("--kubeconfig").arg(&env.kubeconfig).args([
        "-n",
        &env.ns,
        "-o",
        "json",
        "rollback",
        "deploy/web",
    ]));
    assert_eq!(rollback.code, 0, "{}{}", rollback.stdout, rollback.stderr);

    // 4: the next image, its driver killed while paused: interrupted.
    let mut driver = spawn(
        env.canary(&prom, &canary_args(NEXT, "1h"))
            .args(FAST)
            .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(60), |s| {
        s.phase == Phase::Paused && s.driver.ends_with(&format!("/{}", driver.id()))
    });
    driver.kill().expect("SIGKILL the driver");
    let _ = driver.wait();
    // Long enough for its heartbeat (every 1 s) to be missed.
    std::thread::sleep(Duration::from_secs(10));

    // kubectl sees this tool's Events on the stable.
    let reasons = tool_event_reasons(&env);
    let reasons: Vec<&str> = reasons.iter().map(String::as_str).collect();
    for reason in [
        "CanaryStarted",
        "CanaryStepPassed",
        "CanaryAborted",
        "CanaryPromoted",
        "RollbackDone",
    ] {
        assert!(reasons.contains(&reason), "{reason} not in {reasons:?}");
    }
    assert_eq!(
        reasons.iter().filter(|r| **r == "CanaryStarted").count(),
        4,
        "{reasons:?}"
    );

    // The evidence of the hour.
    let out = env.dir.path().join("bundle");
    let evidence = run(bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", &env.ns, "-o", "json", "evidence", "deploy/web"])
        .args(["--since", "1h", "--prometheus-url", &prom])
        .args([
            "--status-url",
            &format!("{}/api/v1/summary", crate::standins::dead_url()),
        ])
        .arg("--out-dir")
        .arg(&out));
    assert_eq!(evidence.code, 0, "{}{}", evidence.stdout, evidence.stderr);
    let postmortem = std::fs::read_to_string(out.join("postmortem.md")).unwrap();
    let section: Vec<&str> = postmortem
        .lines()
        .skip_while(|l| *l != "### Canaries and rollbacks in the window")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let expect = [
        format!(
            "canary #1 of {CANARY} (stable at revision 1, ghcr.io/acme/app:1.0): **aborted by analysis**"
        ),
        format!(
            "canary #2 of {GOOD} (stable at revision 1, ghcr.io/acme/app:1.0): **aborted by the operator"
        ),
        format!("canary #3 of {GOOD} (stable at revision 1, ghcr.io/acme/app:1.0): **promoted**"),
        "rollback: **rolled back from revision 2 to revision 1 (which became revision 3)**"
            .to_string(),
        format!(
            "canary #4 of {NEXT} (stable at revision 3, ghcr.io/acme/app:1.0): **interrupted: left paused"
        ),
    ];
    assert_eq!(section.len(), expect.len(), "{postmortem}");
    for (line, expected) in section.iter().zip(&expect) {
        assert!(
            line.contains(expected.as_str()),
            "{line:?} lacks {expected:?}\n{postmortem}"
        );
    }
    // Revision 1 is listed with the number it had when created, not today's.
    assert!(
        postmortem.contains(
            "deployment/web revision 1 (ghcr.io/acme/app:1.0) [revision 3 since a rollback]"
        ),
        "{postmortem}"
    );

    // index.html opens the bundle: the verdict, the canaries, the chart inline, every file.
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("<figure><svg"), "{index}");
    assert!(index.contains("canary #4 of"), "{index}");
    assert!(index.contains("<a href=\"postmortem.md\">"), "{index}");
    assert!(!index.contains("src=\"http"), "{index}");
    open_in_headless_chromium(&out.join("index.html"), env.dir.path());

    // Without --since the window starts 15 minutes before the first evidence, and says so.
    let out2 = env.dir.path().join("bundle-default");
    let default = run(bin()
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["-n", &env.ns, "-o", "json", "evidence", "deploy/web"])
        .args(["--prometheus-url", &prom])
        .args([
            "--status-url",
            &format!("{}/api/v1/summary", crate::standins::dead_url()),
        ])
        .arg("--out-dir")
        .arg(&out2));
    assert_eq!(default.code, 0, "{}{}", default.stdout, default.stderr);
    let report = json(&default.stdout);
    let window = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "evidence.window")
        .unwrap_or_else(|| panic!("{report}"));
    let note = window["measured"].as_str().unwrap();
    assert!(
        note.contains("15 minutes before the first evidence"),
        "{note}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out2.join("manifest.json")).unwrap()).unwrap();
    let since = manifest["window"]["since"].as_str().unwrap();
    assert!(since.ends_with('m') && since.len() <= 3, "{since}: {note}");

    // The detected start is the first breaching sample, not the --since start.
    let breach = first_breach(&out).expect("a 5xx sample over 10/min");
    let at = jiff::Timestamp::from_second(breach as i64).unwrap();
    assert!(
        postmortem.contains(&format!(
            "(detected {} UTC: first errors-5xx sample over the 10/min threshold",
            at.strftime("%H:%M:%S")
        )),
        "first breach {at}:\n{postmortem}"
    );
}

/// Opens the page as a person would, in headless Chromium (Debian's `chromium`): the
/// screenshot must show something, and the network log must hold no request that leaves the
/// page (only `file:` and `data:` URLs).
fn open_in_headless_chromium(page: &std::path::Path, scratch: &std::path::Path) {
    let shot = scratch.join("index.png");
    let net = scratch.join("net.json");
    let profile = scratch.join("chromium-profile");
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--no-first-run",
            "--disable-background-networking",
            "--disable-sync",
        ])
        .args([
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1280,2000")
        .arg(format!("--log-net-log={}", net.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (Debian package `chromium`; .ci/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    assert!(
        png.len() > 20_000,
        "the page draws more than a blank ({} bytes)",
        png.len()
    );
    // The page's own requests carry its origin as initiator (`null` for a file); Chromium's
    // background requests (updates, time) say "not an origin" and are not the page's.
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&net).expect("the network log"))
            .expect("the network log is JSON");
    let leaving: Vec<String> = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let params = &e["params"];
            let url = params["url"].as_str()?;
            let initiator = params["initiator"].as_str()?;
            (initiator != "not an origin"
                && !(url.starts_with("file:") || url.starts_with("data:")))
            .then(|| url.to_string())
        })
        .collect();
    assert!(leaving.is_empty(), "requests left the page: {leaving:?}");
}
