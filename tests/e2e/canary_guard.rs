//! Issue 15, the P1 guard: between analysis rounds the P1 metrics are read at Prometheus'
//! scrape interval (discovered from `/api/v1/status/config`), so a P1 breach aborts within
//! about one scrape interval whatever `--interval` is. Real Prometheus (1 s scrapes), the
//! default 30 s interval.

use std::time::{Duration, Instant};

use kubectl_posthog::canary::state::Phase;
use simcluster::Traffic;

use crate::canary::{CANARY, Env, LENIENT, finish, healthy, json, spawn, with_traffic};
use crate::prom;

#[tokio::test(flavor = "multi_thread")]
async fn a_p1_breach_aborts_within_seconds_at_the_default_30s_interval() {
    let env = Env::start("p1-guard", healthy(), true).await;
    let prometheus = prom::shared().prometheus.url.clone();
    let child = spawn(
        env.canary(
            &prometheus,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "10m",
            ],
        )
        .args(["--interval", "30s", "--window", "5s", "--timeout", "60s"])
        .args(["--progress-deadline", "30s", "-v"])
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    // After the step's first reading (two scrapes in), the next round is 30 s away.
    env.wait_state(Duration::from_secs(30), |s| !s.last_analysis.is_empty());
    // Healthy so far; now half the canary's responses are 503s.
    env.sim.script_image(
        CANARY,
        with_traffic(Traffic {
            status_shares: vec![(200, 0.5), (503, 0.5)],
            ..healthy().traffic
        }),
    );
    let injected = Instant::now();
    let state = env.wait_state(Duration::from_secs(40), |s| {
        matches!(s.phase, Phase::Aborting | Phase::Aborted)
    });
    let took = injected.elapsed();
    let out = finish(child);
    assert_eq!(
        out.code, 1,
        "stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    assert!(
        out.stderr.contains("P1 guard every 1s"),
        "the scrape interval is Prometheus' own: {}",
        out.stderr
    );
    let report = json(&out.stdout);
    assert_eq!(report["details"]["outcome"], "aborted-by-analysis");
    let reason = state.reason.unwrap_or_default();
    assert!(
        reason.starts_with("P1 errors-5xx: ")
            && reason.ends_with("(read by the P1 guard between analysis rounds)"),
        "{reason}"
    );
    // The breach needs two scrapes in the 5 s window to show in rate(); then one guard
    // interval (1 s) and the query. Without the guard the first reading is 30 s after the pause
    // began.
    assert!(
        took < Duration::from_secs(10),
        "aborted {took:?} after the 503s began, at --interval 30s"
    );
    env.assert_restored();
}

/// Issue 15, view item 4: at the default 30 s interval the view said "waiting for the first
/// reading" for 30 s after the step's pods were ready. The first reading now comes once
/// Prometheus can have scraped them (two scrape intervals: 2 s here).
#[tokio::test(flavor = "multi_thread")]
async fn the_first_reading_comes_once_the_pods_can_have_been_scraped() {
    let env = Env::start("first-reading", healthy(), true).await;
    let prometheus = prom::shared().prometheus.url.clone();
    let child = spawn(
        env.canary(
            &prometheus,
            &[
                "deploy/web",
                "--image",
                CANARY,
                "--steps",
                "50,100",
                "--pause",
                "10m",
            ],
        )
        .args(["--interval", "30s", "--window", "5s", "--timeout", "60s"])
        .args(LENIENT),
    );
    env.wait_state(Duration::from_secs(30), |s| s.phase == Phase::Paused);
    let paused = Instant::now();
    env.wait_state(Duration::from_secs(25), |s| !s.last_analysis.is_empty());
    let took = paused.elapsed();
    let abort = crate::support::run(&mut env.control(&["abort", "deploy/web"]));
    assert_eq!(abort.code, 0, "{}", abort.stderr);
    let _ = finish(child);
    assert!(
        took < Duration::from_secs(12),
        "first reading {took:?} after the pause began, at --interval 30s"
    );
}
