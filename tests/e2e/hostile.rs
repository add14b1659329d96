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
