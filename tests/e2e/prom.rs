//! A real Prometheus for the tests: Debian's `/usr/bin/prometheus` (installed by `.ci/run`)
//! started on a free loopback port with a temporary storage directory and a 1 s scrape interval.
//!
//! One shared server per test binary scrapes a fan-in endpoint that concatenates the
//! `/sim/metrics` of every simulator a test registered, so tests pay Prometheus' start-up (about
//! 5 s until the first scrape) once. Tests that kill Prometheus start their own.
//! A watchdog shell kills each server when the test process exits, so none is left behind.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The scrape (and rule evaluation) interval every test server uses.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// Finds the Prometheus binary or fails the test saying how to get it.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus not found: install Debian's package (`apt-get install prometheus`, \
                 bash .ci/run does) or set PROMETHEUS to the binary"
            )
        })
}

pub struct Prometheus {
    pub url: String,
    watchdog: Option<Child>,
    _storage: tempfile::TempDir,
}

impl Prometheus {
    /// Starts a server scraping `http://TARGET{path}` for each target (`host:port`), and waits
    /// until it answers queries.
    pub fn start(targets: &[String], path: &str) -> Prometheus {
        let storage = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let config = storage.path().join("prometheus.yml");
        let targets = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n  evaluation_interval: {s}s\n\
                 scrape_configs:\n  - job_name: app\n    honor_labels: true\n    metrics_path: {path}\n\
                 \x20   static_configs:\n      - targets: [{targets}]\n",
                s = SCRAPE_INTERVAL.as_secs()
            ),
        )
        .expect("write prometheus.yml");
        let command = format!(
            "'{bin}' --config.file='{config}' --storage.tsdb.path='{data}' \
             --web.listen-address=127.0.0.1:{port} --web.enable-lifecycle \
             --storage.tsdb.retention.time=1h --log.level=warn >'{log}' 2>&1 & p=$!; \
             trap 'kill $p 2>/dev/null; exit 0' TERM INT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 0.5; done; \
             kill $p 2>/dev/null; wait $p 2>/dev/null",
            bin = binary().display(),
            config = config.display(),
            data = storage.path().join("data").display(),
            log = storage.path().join("prometheus.log").display(),
            parent = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &command])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts");
        let prom = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            watchdog: Some(watchdog),
            _storage: storage,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("{}/-/ready", prom.url)).is_none_or(|(code, _)| code != 200) {
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready on {}: see its log",
                prom.url
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        prom
    }

    /// Runs an instant query; `None` when it returns nothing.
    pub fn query(&self, query: &str) -> Option<f64> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (_, body) = get(&url)?;
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = value["data"]["result"].as_array()?;
        result
            .iter()
            .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
            .reduce(f64::max)
    }

    /// Polls `query` until `accept` holds for its value, for at most `timeout`.
    pub fn wait_for(&self, query: &str, timeout: Duration, accept: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.query(query).filter(|v| accept(*v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus never satisfied {query} within {timeout:?} (last {:?})",
                self.query(query)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server now (the "Prometheus went away" case).
    pub fn kill(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &watchdog.id().to_string()])
                .status();
            let _ = watchdog.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&format!("{}/-/ready", self.url)).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A minimal blocking HTTP GET (the tests need no client library for this).
pub fn get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The shared server and the simulators it currently scrapes.
pub struct Shared {
    pub prometheus: Prometheus,
    /// The fan-in's `host:port`, for tests that start their own server on the same targets.
    pub fan_in: String,
    sims: Arc<Mutex<Vec<String>>>,
}

/// Keeps a simulator's metrics in the shared scrape until dropped.
pub struct Registration {
    url: String,
    sims: Arc<Mutex<Vec<String>>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut sims) = self.sims.lock() {
            sims.retain(|u| u != &self.url);
        }
    }
}

impl Shared {
    /// Adds `{sim_url}/sim/metrics` to what the shared Prometheus scrapes.
    pub fn register(&self, sim_url: &str) -> Registration {
        self.sims
            .lock()
            .expect("registry lock")
            .push(sim_url.to_string());
        Registration {
            url: sim_url.to_string(),
            sims: self.sims.clone(),
        }
    }
}

/// The one Prometheus of this test binary, started on first use.
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let sims: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let fan_in = start_fan_in(sims.clone());
        let prometheus = Prometheus::start(std::slice::from_ref(&fan_in), "/metrics");
        // The first scrape comes after service discovery's first update (about 5 s).
        prometheus.wait_for("up", Duration::from_secs(30), |v| v == 1.0);
        Shared {
            prometheus,
            fan_in,
            sims,
        }
    })
}

/// An HTTP endpoint on its own thread that answers `/metrics` with every registered
/// simulator's `/sim/metrics`, comment lines dropped (families repeat across simulators).
fn start_fan_in(sims: Arc<Mutex<Vec<String>>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fan-in");
    let addr = listener.local_addr().expect("fan-in address").to_string();
    std::thread::Builder::new()
        .name("metrics-fan-in".into())
        .spawn(move || {
            use std::io::{BufRead, BufReader, Write};
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => continue,
                });
                let mut line = String::new();
                // Read the request head; the path does not matter.
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let urls = sims.lock().map(|s| s.clone()).unwrap_or_default();
                let mut body = String::new();
                for url in urls {
                    if let Some((200, text)) = get(&format!("{url}/sim/metrics")) {
                        for l in text.lines().filter(|l| !l.starts_with('#')) {
                            body.push_str(l);
                            body.push('\n');
                        }
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })
        .expect("spawn the fan-in thread");
    addr
}
