//! Local stand-ins for the outside services the commands talk to, serving the documented shapes
//! and failing on demand (401, 429, 5xx, timeouts, malformed JSON). Every stand-in records the
//! requests it saw so a test can assert what was sent (and that no secret leaked into a URL).

// A shared toolbox: each test module uses a different part of it.
#[allow(dead_code)]
pub mod github;
#[allow(dead_code)]
pub mod notify;
#[allow(dead_code)]
pub mod posthog;

/// A URL on which nothing listens (the port was bound, then released): "PostHog is down".
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
