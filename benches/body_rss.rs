//! Peak RSS when every remote answers with a 1 GiB body (issue 14 item 10: 5.8 GB RSS from the
//! PostHog, status, health and Prometheus stand-ins). A local server answers every request with
//! a chunked 1 GiB body; `preflight -f` (not offline) then asks it for the status page, the
//! project key check, the staging health URL and Prometheus' rules; `canary --dry-run`'s
//! Prometheus queries read it too, and `rollback history` reads it as the API server. Each read
//! stops at its cap — 16 MiB for PostHog, status and health (`src/http.rs`), 64 MiB for a
//! Prometheus query answer (`src/prometheus/client.rs`), 128 MiB for a Kubernetes API answer
//! (`src/kube/body_cap.rs`) — so peak RSS stays near the binary's baseline plus the cap.
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
    // The PostHog-side remotes, then Prometheus alone, then the API server.
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
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {{server: {url}}}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: prod}}\nusers:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .expect("kubeconfig");
    let preflight = |remotes: &[String]| -> Vec<String> {
        let mut args = vec!["preflight".to_string(), "-f".to_string()];
        args.push(manifest.to_string_lossy().into_owned());
        args.extend(remotes.iter().cloned());
        args.extend(["--remote-timeout", "60s", "-o", "json"].map(String::from));
        args
    };
    let api_server = vec![
        "rollback".to_string(),
        "history".to_string(),
        "deployment/web".to_string(),
        "--kubeconfig".to_string(),
        kubeconfig.to_string_lossy().into_owned(),
        "--request-timeout".to_string(),
        "60s".to_string(),
    ];
    for (what, args) in [
        (
            "PostHog, status page, staging health",
            preflight(&posthog_side),
        ),
        ("Prometheus rules and queries", preflight(&prometheus)),
        ("Kubernetes API server", api_server),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-posthog"));
        cmd.current_dir(dir.path())
            .env(
                "POSTHOG_API_KEY",
                "phc_BenchProjectKey7Lm2Qx9Rt4Vw8Yz3Bn6Cd1",
            )
            .env("CI", "true")
            .env_remove("KUBECONFIG")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (code, wall, rss_kb) = measure(&mut cmd);
        println!(
            "body_rss: {what} answering {mib} MiB each: exit {code} in {:.2} s, peak RSS {:.1} MB",
            wall.as_secs_f64(),
            rss_kb as f64 / 1024.0
        );
    }
    println!(
        "body_rss: caps per body: PostHog/status/health/Prometheus rules 16 MiB (src/http.rs \
         BODY_CAP), Prometheus queries 64 MiB (QUERY_BODY_CAP), Kubernetes API 128 MiB \
         (src/kube/body_cap.rs)"
    );
}
