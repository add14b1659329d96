//! Peak RSS when every remote answers with a 1 GiB body (issue 14 item 10: 5.8 GB RSS from the
//! PostHog, status, health and Prometheus stand-ins). A local server answers every request with
//! a chunked 1 GiB body; `preflight -f` (not offline) then asks it for the status page, the
//! project key check, the staging health URL and Prometheus' rules. Each read stops at the body
//! cap (16 MiB, `src/http.rs`), so peak RSS stays near the binary's baseline — except Prometheus'
//! query client (prometheus-http-query), which still reads a body whole.
//!
//! `cargo bench --bench body_rss`; `BODY_RSS_BENCH_MIB` changes the body size (default 1024).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Serves every connection a chunked body of `total` bytes.
fn serve_huge(total: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = stream.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 1 << 20];
                let mut sent = 0;
                while sent < total {
                    let ok = stream
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .is_ok()
                        && stream.write_all(&chunk).is_ok()
                        && stream.write_all(b"\r\n").is_ok();
                    if !ok {
                        return;
                    }
                    sent += chunk.len() as u64;
                }
                let _ = stream.write_all(b"0\r\n\r\n");
            });
        }
    });
    url
}

/// Exit code, wall time and peak RSS (KiB) of the command, from `wait4`.
fn measure(cmd: &mut Command) -> (i32, Duration, i64) {
    let started = Instant::now();
    let child = cmd.spawn().expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes a plain C struct we own; the child is ours and not waited elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, started.elapsed(), usage.ru_maxrss)
}

fn main() {
    let mib: u64 = std::env::var("BODY_RSS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let url = serve_huge(mib << 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: posthog-integration}\nspec:\n  replicas: 2\n  \
         selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers:\n      \
         - name: app\n        image: x:1\n        env:\n        - {name: POSTHOG_API_KEY, valueFrom: {secretKeyRef: {name: s, key: k}}}\n",
    )
    .expect("manifest");
    // The PostHog-side remotes (capped), then Prometheus alone (its query client is not capped
    // yet: the figure shows what remains).
    let posthog_side: Vec<String> = [
        "--posthog-host".to_string(),
        url.clone(),
        "--status-url".to_string(),
        format!("{url}/summary"),
        "--staging-url".to_string(),
        format!("{url}/health"),
    ]
    .into();
    let prometheus = vec!["--prometheus-url".to_string(), url.clone()];
    for (what, remotes) in [
        ("PostHog, status page, staging health", posthog_side),
        ("Prometheus", prometheus),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-posthog"));
        cmd.current_dir(dir.path())
            .env(
                "POSTHOG_API_KEY",
                "phc_BenchProjectKey7Lm2Qx9Rt4Vw8Yz3Bn6Cd1",
            )
            .env("CI", "true")
            .args(["preflight", "-f"])
            .arg(&manifest)
            .args(&remotes)
            .args(["--remote-timeout", "60s", "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (code, wall, rss_kb) = measure(&mut cmd);
        println!(
            "body_rss: {what} answering {mib} MiB each: preflight exit {code} in {:.2} s, peak RSS {:.1} MB",
            wall.as_secs_f64(),
            rss_kb as f64 / 1024.0
        );
    }
    println!("body_rss: cap per body 16 MiB (src/http.rs BODY_CAP)");
}
