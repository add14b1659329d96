//! Hostile stand-in servers (issue 14): answers of the wrong shape, redirects to another host,
//! bodies of a gigabyte, servers that never answer. Each must end within its documented bound,
//! hold no more than the body cap, and never hand a credential to a host the user did not name.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kubectl_posthog::posthog::{PostHogClient, RemoteError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// What a hostile server does with each connection.
#[derive(Clone)]
pub enum Hostile {
    /// Answers these bytes (a whole HTTP/1.1 response) and closes.
    Answer(String),
    /// 200 with a chunked body of this many bytes, sent as fast as it is read.
    Huge(u64),
    /// Accepts and reads the request, never answers.
    Silent,
    /// Sends these bytes (a status line and headers, perhaps a first chunk), then nothing,
    /// without closing: a watch or a log stream that stopped.
    Stall(String),
}

/// A hostile server on 127.0.0.1: its base URL and how many connections it accepted.
pub struct HostileServer {
    pub url: String,
    pub connections: Arc<AtomicUsize>,
}

impl HostileServer {
    pub async fn start(behaviour: Hostile) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = socket.read(&mut buf).await;
                    match behaviour {
                        Hostile::Answer(text) => {
                            let _ = socket.write_all(text.as_bytes()).await;
                            let _ = socket.shutdown().await;
                        }
                        Hostile::Huge(total) => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = vec![b' '; 1 << 20];
                            let mut sent = 0u64;
                            while sent < total {
                                let frame = format!("{:x}\r\n", chunk.len());
                                if socket.write_all(frame.as_bytes()).await.is_err()
                                    || socket.write_all(&chunk).await.is_err()
                                    || socket.write_all(b"\r\n").await.is_err()
                                {
                                    return;
                                }
                                sent += chunk.len() as u64;
                            }
                            let _ = socket.write_all(b"0\r\n\r\n").await;
                        }
                        Hostile::Silent => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Hostile::Stall(head) => {
                            let _ = socket.write_all(head.as_bytes()).await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                });
            }
        });
        HostileServer { url, connections }
    }
}

fn json_answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

fn client(timeout: Duration) -> PostHogClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    PostHogClient::new(timeout)
        .unwrap()
        .with_retry_timing(Duration::from_millis(20), Duration::from_secs(2))
}

const PERSONAL: &str = "phx_HostilePersonalKey5Kj8Hg2Fd6Sa9Pl3Mn7Q";
const PROJECT: &str = "phc_HostileProjectKey7Lm2Qx9Rt4Vw8Yz3Bn6Cd1";

/// Issue 14 item 6: `{"status":"ok"}` from the personal-key endpoint was "accepted, scopes *".
#[tokio::test]
async fn a_json_200_of_the_wrong_shape_does_not_verify_a_personal_key() {
    let server = HostileServer::start(Hostile::Answer(json_answer(
        "200 OK",
        "",
        r#"{"status":"ok"}"#,
    )))
    .await;
    let answer = client(Duration::from_secs(5))
        .check_personal_key(&Url::parse(&server.url).unwrap(), PERSONAL)
        .await;
    match answer {
        Err(RemoteError::Malformed { detail, .. }) => {
            assert!(detail.contains("id, mask_value and scopes"), "{detail}")
        }
        other => panic!("accepted a key PostHog never vouched for: {other:?}"),
    }
}

/// Issue 14 item 5: a 307 to another host re-POSTed the project key in the `/flags` body.
#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_with_the_key() {
    let elsewhere = HostileServer::start(Hostile::Answer(json_answer(
        "200 OK",
        "",
        r#"{"flags":{}}"#,
    )))
    .await;
    let redirecting = HostileServer::start(Hostile::Answer(json_answer(
        "307 Temporary Redirect",
        &format!("location: {}/flags?v=2\r\n", elsewhere.url),
        "",
    )))
    .await;
    let answer = client(Duration::from_secs(5))
        .check_project_key(&Url::parse(&redirecting.url).unwrap(), PROJECT)
        .await;
    assert_eq!(
        elsewhere.connections.load(Ordering::SeqCst),
        0,
        "the key was sent to the redirect's host"
    );
    match answer {
        Err(RemoteError::Http { status: 307, .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// Issue 14 item 10: a 1 GiB body from a status page was held whole (5.8 GB RSS). It is cut at
/// the cap (16 MiB) as soon as it passes it. (Peak RSS is measured by `cargo bench --bench
/// body_rss`, not here.)
#[tokio::test]
async fn a_gigabyte_status_page_is_cut_at_the_cap() {
    let server = HostileServer::start(Hostile::Huge(1 << 30)).await;
    let started = Instant::now();
    let answer = client(Duration::from_secs(30))
        .status(
            &Url::parse(&format!("{}/summary", server.url)).unwrap(),
            None,
            None,
        )
        .await;
    let took = started.elapsed();
    match answer {
        Err(RemoteError::Unreachable { detail, .. }) => {
            assert!(detail.contains("larger than 16 MiB"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Issue 14 item 8: a server that accepts the connection and never answers ends at the timeout.
#[tokio::test]
async fn a_server_that_never_answers_ends_at_the_timeout() {
    let server = HostileServer::start(Hostile::Silent).await;
    let started = Instant::now();
    let answer = client(Duration::from_secs(1))
        .check_personal_key(&Url::parse(&server.url).unwrap(), PERSONAL)
        .await;
    assert!(
        matches!(answer, Err(RemoteError::Timeout { .. })),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 14 item 7: an API server answering 503 made every command retry for minutes;
/// `--request-timeout 5s` did not bound it (15 retries in 160 s). The retries now stay within
/// the request timeout, and the command ends with the 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_storm_is_retried_only_within_the_request_timeout() {
    use crate::triage::{DEPLOYMENT, Incident, healthy};
    let incident = Incident::start(healthy(), 1, false).await;
    incident.sim.inject(simcluster::Fault::Errors {
        path_contains: Some("/deployments".into()),
        methods: Vec::new(),
        status: 503,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    let started = Instant::now();
    let run = incident
        .run(&["rollback", "history", DEPLOYMENT, "--request-timeout", "3s"])
        .await;
    let took = started.elapsed();
    eprintln!(
        "503 storm, --request-timeout 3s: exit {} in {took:?}",
        run.code
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        took < Duration::from_secs(6),
        "took {took:?}: {}",
        run.stderr
    );
    let tries = incident
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("/deployments"))
        .count();
    assert!(tries > 1, "retried at least once: {tries}");
}

/// Issue 14 item 7: `Retry-After: 100000` was waited out; beyond the budget it fails at once,
/// naming the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_beyond_the_budget_fails_at_once_naming_the_wait() {
    use crate::triage::{DEPLOYMENT, Incident, healthy};
    let incident = Incident::start(healthy(), 1, false).await;
    incident.sim.inject(simcluster::Fault::Errors {
        path_contains: Some("/deployments".into()),
        methods: Vec::new(),
        status: 429,
        share: 1.0,
        retry_after: Some(100_000),
        count: None,
    });
    let started = Instant::now();
    let run = incident.run(&["rollback", "history", DEPLOYMENT]).await;
    let took = started.elapsed();
    eprintln!(
        "Retry-After 100000, no --request-timeout: exit {} in {took:?}",
        run.code
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        run.stderr.contains("retry after 1day 3h 46m 40s"),
        "{}",
        run.stderr
    );
}

/// Issue 14 item 10: Prometheus' query answers were read whole by the query crate (4.9 GB peak
/// RSS for 1 GiB answers). An instant and a range query are cut at the query cap (64 MiB) as
/// soon as the answer passes it. (Peak RSS: `cargo bench --bench body_rss`.)
#[tokio::test]
async fn a_gigabyte_prometheus_answer_is_cut_at_the_query_cap() {
    use kubectl_posthog::prometheus::{Auth, Prometheus, QueryError};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = HostileServer::start(Hostile::Huge(1 << 30)).await;
    let prom = Prometheus::new(&server.url, &Auth::None, Duration::from_secs(60)).unwrap();
    let started = Instant::now();
    let instant = prom.instant("up").await;
    let now = jiff::Timestamp::now();
    let range = prom
        .range(
            "up",
            now - jiff::SignedDuration::from_secs(3600),
            now,
            Duration::from_secs(15),
        )
        .await;
    let took = started.elapsed();
    for answer in [instant.map(|_| ()), range.map(|_| ())] {
        match answer {
            Err(QueryError::Unavailable(detail)) => {
                assert!(detail.contains("larger than 64 MiB"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// A kubeconfig whose one cluster is `server` (a bearer token, no TLS).
fn kubeconfig_for(dir: &std::path::Path, server: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {{server: {server}}}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: prod}}\nusers:\n- name: u\n  user: {{token: not-a-real-token}}\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// Issue 14 item 10: a 1 GiB answer from the API server was read whole by kube (7.2 GB peak
/// RSS). It is cut at the Kubernetes API cap (128 MiB, overridden here to 8 MiB to keep the
/// test quick) with one line naming the server and the cap. (Peak RSS at the default cap:
/// `cargo bench --bench body_rss`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_api_server_answer_is_cut_at_the_api_cap() {
    let server = HostileServer::start(Hostile::Huge(1 << 30)).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_for(dir.path(), &server.url);
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || {
        crate::support::run(
            crate::support::bin()
                .args(["rollback", "history", "deployment/web", "--kubeconfig"])
                .arg(&kubeconfig)
                .env(
                    "KUBECTL_POSTHOG_MAX_API_BODY_BYTES",
                    (8u64 << 20).to_string(),
                ),
        )
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(run.code, 3, "{}", run.stderr);
    let expected = format!(
        "the API server at {} answered more than 8 MiB (the cap on one Kubernetes API answer",
        server.url
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Spawns `preflight ARGS` (stdin a pipe nobody writes to), sends SIGTERM after a second and
/// returns its exit code and how long it took to end after the signal.
fn sigterm_after_a_second(args: &[String]) -> (Option<i32>, Duration, String) {
    use std::process::Stdio;
    let mut child = crate::support::bin()
        .args(args)
        .env("POSTHOG_API_KEY", PROJECT)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let signalled = Instant::now();
    let deadline = signalled + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut stderr);
    }
    (status.and_then(|s| s.code()), took, stderr)
}

/// Issue 14 item 9: the first SIGTERM ends a command that has nothing to clean up, even one
/// stuck in a read that blocks its thread (`preflight -f -` on a pipe nobody writes to used to
/// ignore SIGTERM) or waiting on a server that never answers: exit 130 within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_sigterm_ends_a_command_with_nothing_to_clean_up() {
    let silent = HostileServer::start(Hostile::Silent).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: posthog-integration}\nspec:\n  replicas: 2\n  \
         selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers:\n      \
         - name: app\n        image: x:1\n        env:\n        - {name: POSTHOG_API_KEY, valueFrom: {secretKeyRef: {name: s, key: k}}}\n",
    )
    .unwrap();
    let manifest = manifest.to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "-f - on a silent pipe",
            ["preflight", "-f", "-", "--offline"]
                .map(String::from)
                .into(),
        ),
        (
            "a PostHog that never answers",
            [
                "preflight",
                "-f",
                &manifest,
                "--posthog-host",
                &silent.url,
                "--remote-timeout",
                "60s",
            ]
            .map(String::from)
            .into(),
        ),
    ];
    for (name, args) in cases {
        let (code, took, stderr) =
            tokio::task::spawn_blocking(move || sigterm_after_a_second(&args))
                .await
                .unwrap();
        eprintln!("{name}: exit {code:?} {took:?} after SIGTERM");
        assert_eq!(code, Some(130), "{name}: {stderr}");
        assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
        assert!(stderr.contains("interrupted"), "{name}: {stderr}");
    }
}

/// Issue 14 item 8: kube re-runs the exec credential plugin when its token expires mid-run, and
/// that run had no deadline (a plugin that hangs on refresh blocked the command for as long as
/// it hung). The plugin here answers for a second (kube runs it up to three times while
/// building the client) with a token kube must refresh two seconds later, then hangs; the API
/// server takes 2.5 s over the Deployment, so the next request refreshes the token: that run
/// is killed at `--request-timeout` and the error names the plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_plugin_that_hangs_on_refresh_ends_at_the_deadline_naming_it() {
    use crate::triage::{DEPLOYMENT, Incident, healthy};
    let incident = Incident::start(healthy(), 1, false).await;
    incident.sim.inject(simcluster::Fault::Latency {
        path_contains: Some(format!("/deployments/{DEPLOYMENT}")),
        delay: Duration::from_millis(2500),
    });
    let dir = incident.dir.path();
    let (script, first) = (dir.join("token.sh"), dir.join("first-run"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nnow=$(date +%s%N)\n[ -e '{first}' ] || echo $now > '{first}'\nt0=$(cat '{first}')\n\
             if [ $((now - t0)) -gt 1000000000 ]; then exec sleep 600; fi\n\
             exp=$(date -u -d @$((t0 / 1000000000 + 62)) +%Y-%m-%dT%H:%M:%SZ)\n\
             echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"simcluster\",\"expirationTimestamp\":\"'$exp'\"}}}}'\n",
            first = first.display()
        ),
    )
    .unwrap();
    let kubeconfig = std::fs::read_to_string(&incident.kubeconfig).unwrap().replace(
        "    token: simcluster\n",
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      \
             args: ['{}']\n      interactiveMode: Never\n",
            script.display()
        ),
    );
    std::fs::write(&incident.kubeconfig, kubeconfig).unwrap();
    let started = Instant::now();
    let run = incident
        .run(&["rollback", "history", DEPLOYMENT, "--request-timeout", "5s"])
        .await;
    let took = started.elapsed();
    eprintln!(
        "exec plugin hanging on refresh: exit {} in {took:?}",
        run.code
    );
    assert!(first.exists(), "the plugin ran");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the exec credential plugin \"sh\" did not finish within 5s"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(took < Duration::from_secs(12), "took {took:?}");
}

/// A cluster connection to `server` as the commands make it (`extra` flags such as
/// `--request-timeout`).
async fn connect_to(
    dir: &std::path::Path,
    server: &str,
    extra: &[&str],
) -> kubectl_posthog::kube::Cluster {
    use clap::Parser;
    let kubeconfig = kubeconfig_for(dir, server);
    let mut argv = vec!["kubectl-posthog", "--kubeconfig", &kubeconfig];
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["completion", "bash"]);
    let global = kubectl_posthog::cmd::Cli::try_parse_from(argv)
        .unwrap()
        .global
        .connect_options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    kubectl_posthog::kube::connect(&global).await.unwrap()
}

/// Issue 14 item 8: a watch that stops sending without closing hung the command (the rollout
/// waits re-open a watch only when it ends). A watch the server does not end within its
/// `timeoutSeconds` plus 10 s now ends with an error naming the server, and the waits open a
/// new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_goes_silent_ends_past_its_timeout() {
    use futures::TryStreamExt as _;
    use k8s_openapi::api::core::v1::Pod;
    let server = HostileServer::start(Hostile::Stall(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_string(),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cluster = connect_to(dir.path(), &server.url, &[]).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(cluster.client.clone(), "prod");
    let started = Instant::now();
    let params = kube::api::WatchParams::default().timeout(1);
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        let stream = pods.watch(&params, "0").await.unwrap();
        let mut stream = std::pin::pin!(stream);
        loop {
            match stream.try_next().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await;
    let took = started.elapsed();
    eprintln!("silent watch (timeoutSeconds=1): ended after {took:?}: {ended:?}");
    let error = ended
        .expect("the silent watch was still open after 30 s")
        .unwrap_err();
    let text = format!("{error} {:?}", std::error::Error::source(&error));
    assert!(
        text.contains("a watch timed out: the API server at")
            && text.contains("sent nothing for 11s"),
        "{text}"
    );
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(14),
        "{took:?}"
    );
}

/// Issue 14 item 8: a pod log that stops sending without closing (evidence reads one per
/// container) hung the bundle when `--request-timeout` was not given. It ends after 30 s
/// without a byte (the default idle bound), keeping what came before; evidence then records
/// that log as unreadable with the reason, in the bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_log_that_goes_silent_ends_at_the_idle_bound() {
    use futures::AsyncBufReadExt as _;
    use k8s_openapi::api::core::v1::Pod;
    let server = HostileServer::start(Hostile::Stall(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello\n\r\n"
            .to_string(),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cluster = connect_to(dir.path(), &server.url, &[]).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(cluster.client.clone(), "prod");
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        let params = kube::api::LogParams {
            since_seconds: Some(60),
            ..Default::default()
        };
        let mut lines = pods.log_stream("web-1", &params).await.unwrap().lines();
        let mut read = Vec::new();
        loop {
            use futures::TryStreamExt as _;
            match lines.try_next().await {
                Ok(Some(line)) => read.push(line),
                Ok(None) => return (read, None),
                Err(e) => return (read, Some(e.to_string())),
            }
        }
    })
    .await;
    let took = started.elapsed();
    eprintln!("silent pod log: ended after {took:?}: {ended:?}");
    let (read, error) = ended.expect("the silent log was still open after 60 s");
    assert_eq!(read, ["hello"], "what came before the silence is kept");
    let error = error.expect("the silence is an error, not the end of the log");
    assert!(
        error.contains("a pod log timed out: the API server at")
            && error.contains("sent nothing for 30s"),
        "{error}"
    );
    assert!(took < Duration::from_secs(35), "{took:?}");
}
