//! Start-up time of `--version` and `--help`: the figure behind "well under 10 ms".
//!
//! Run with `cargo bench --bench startup`; prints median and p95 wall time over repeated spawns.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 200;

fn measure(args: &[&str]) -> Vec<Duration> {
    let bin = env!("CARGO_BIN_EXE_kubectl-posthog");
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("binary starts");
        times.push(start.elapsed());
        assert!(status.success());
    }
    times.sort();
    times
}

fn main() {
    for args in [
        &["--version"][..],
        &["--help"][..],
        &["preflight", "--help"][..],
    ] {
        let times = measure(args);
        let median = times[RUNS / 2];
        let p95 = times[RUNS * 95 / 100];
        println!(
            "startup kubectl-posthog {:<18} runs={RUNS} median={:.2}ms p95={:.2}ms",
            args.join(" "),
            median.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
}
