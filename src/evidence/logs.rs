//! Pod logs: the triage's scan for recent error lines (the runbook's
//! `kubectl logs -l app=… --since=5m | grep -i error | tail -20`), and the evidence bundle's full
//! logs, streamed through the redactor to disk with a bound on concurrent streams.
//!
//! Both read the API's log stream chunk by chunk; neither holds a whole log, or a whole line
//! longer than a fixed buffer, in memory.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use regex::Regex;
use tokio::sync::Semaphore;

use super::bundle::{Bundle, Entry};
use super::facts::LogErrors;
use super::redact::Redactor;
use super::redact_stream::StreamRedactor;
use crate::kube::Cluster;

/// Longest part of a line the triage looks at; the rest of a longer line is skipped.
const SCAN_LINE: usize = 8 * 1024;
/// Error lines kept for the report, as the runbook's `tail -20`.
pub const RECENT_LINES: usize = 20;

/// The error classes a log line mentions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineClass {
    pub error: bool,
    pub auth: bool,
    pub rate_limited: bool,
    pub server: bool,
}

static ERROR_WORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)error|fatal|panic|exception|\bERR\b|\bfailed\b"));
/// A status code next to the word that names it: `status=429`, `HTTP 503`, `code: 401`.
static STATUS_CODE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:status(?:[_ ]?code)?|code|http(?:/[0-9.]+)?|response)["']?\s*[=:]?\s*["']?([45][0-9][0-9])\b"#,
    )
});
static AUTH_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)unauthori[sz]ed|forbidden|invalid api key|authentication[ _]failed|authentication_error",
    )
});
static RATE_WORDS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)too many requests|rate[ _-]?limit(?:ed)?\b|throttled"));
static SERVER_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)internal server error|bad gateway|service unavailable|gateway time-?out|server_error",
    )
});

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("log pattern {pattern}: {e}"))
}

/// Classifies one log line by the words and status codes in it.
pub fn classify_line(line: &str) -> LineClass {
    let mut class = LineClass {
        error: ERROR_WORD.is_match(line),
        ..LineClass::default()
    };
    for caps in STATUS_CODE.captures_iter(line) {
        match caps.get(1).map(|m| m.as_str()) {
            Some("401" | "403") => class.auth = true,
            Some("429") => class.rate_limited = true,
            Some(code) if code.starts_with('5') => class.server = true,
            _ => {}
        }
    }
    class.auth |= AUTH_WORDS.is_match(line);
    class.rate_limited |= RATE_WORDS.is_match(line);
    class.server |= SERVER_WORDS.is_match(line);
    class
}

impl LineClass {
    /// Counted as an error line: the runbook's `grep -i error`, or a 401/403/429/5xx.
    pub fn counts(self) -> bool {
        self.error || self.auth || self.rate_limited || self.server
    }
}

/// Error lines of one stream: counts by class and the most recent lines (redacted).
#[derive(Debug, Default)]
pub struct ScanResult {
    pub error_lines: usize,
    pub auth: usize,
    pub rate_limited: usize,
    pub server: usize,
    pub recent: VecDeque<String>,
}

/// Reads a log stream line by line (each line cut at [`SCAN_LINE`] bytes) and tallies errors.
pub async fn scan_errors<R: AsyncBufRead + Unpin>(
    mut reader: R,
    prefix: &str,
    redactor: &Redactor,
) -> std::io::Result<ScanResult> {
    let mut result = ScanResult::default();
    let mut line: Vec<u8> = Vec::with_capacity(SCAN_LINE);
    let tally = |line: &[u8], result: &mut ScanResult| {
        let text = String::from_utf8_lossy(line);
        let class = classify_line(&text);
        if !class.counts() {
            return;
        }
        result.error_lines += 1;
        result.auth += usize::from(class.auth);
        result.rate_limited += usize::from(class.rate_limited);
        result.server += usize::from(class.server);
        if result.recent.len() == RECENT_LINES {
            result.recent.pop_front();
        }
        let (redacted, _) = redactor.redact_str(text.trim_end());
        result.recent.push_back(format!("{prefix}{redacted}"));
    };
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            break;
        }
        let consumed = chunk.len();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = SCAN_LINE.saturating_sub(line.len());
            line.extend_from_slice(&body[..body.len().min(room)]);
            if ends {
                tally(&line, &mut result);
                line.clear();
            }
        }
        reader.consume_unpin(consumed);
    }
    if !line.is_empty() {
        tally(&line, &mut result);
    }
    Ok(result)
}

/// The triage's look at the logs: every container of every pod, the last `window` seconds,
/// at most `concurrency` streams at once.
pub async fn recent_errors(
    cluster: &Cluster,
    pods: &[Pod],
    window_seconds: i64,
    concurrency: usize,
    redactor: &Redactor,
) -> LogErrors {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let streams: Vec<(String, String)> = pods
        .iter()
        .flat_map(|pod| {
            let name = pod.metadata.name.clone().unwrap_or_default();
            super::workload::container_names(pod)
                .into_iter()
                .map(move |c| (name.clone(), c))
        })
        .collect();
    let multi_container = pods
        .iter()
        .any(|p| super::workload::container_names(p).len() > 1);
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let scans = streams.iter().map(|(pod, container)| {
        let api = api.clone();
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            let params = LogParams {
                container: Some(container.clone()),
                since_seconds: Some(window_seconds),
                timestamps: true,
                ..LogParams::default()
            };
            let prefix = if multi_container {
                format!("[pod/{pod}/{container}] ")
            } else {
                format!("[pod/{pod}] ")
            };
            let reader = api
                .log_stream(pod, &params)
                .await
                .map_err(|e| format!("{pod}/{container}: {}", short_error(&e)))?;
            scan_errors(reader, &prefix, redactor)
                .await
                .map_err(|e| format!("{pod}/{container}: {e}"))
        }
    });
    let results = futures::future::join_all(scans).await;
    let mut errors = LogErrors {
        window_minutes: window_seconds as f64 / 60.0,
        ..LogErrors::default()
    };
    let mut recent = Vec::new();
    for result in results {
        match result {
            Ok(scan) => {
                errors.error_lines += scan.error_lines;
                errors.auth += scan.auth;
                errors.rate_limited += scan.rate_limited;
                errors.server += scan.server;
                recent.extend(scan.recent);
            }
            Err(reason) => errors.unreadable.push(reason),
        }
    }
    // Lines carry the API's RFC 3339 timestamps right after the prefix: newest last, as `tail`.
    recent.sort_by(|a, b| timestamp_of(a).cmp(timestamp_of(b)));
    let skip = recent.len().saturating_sub(RECENT_LINES);
    errors.recent = recent.into_iter().skip(skip).collect();
    errors
}

fn timestamp_of(line: &str) -> &str {
    line.split_once("] ")
        .map(|(_, rest)| rest.split(' ').next().unwrap_or(""))
        .unwrap_or("")
}

/// One log to put in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogJob {
    pub pod: String,
    pub container: String,
    pub previous: bool,
}

impl LogJob {
    pub fn path(&self) -> String {
        let suffix = if self.previous { ".previous" } else { "" };
        format!("logs/{}/{}{suffix}.log", self.pod, self.container)
    }
}

/// Every container of every pod, and the previous container where one restarted.
pub fn log_jobs(pods: &[Pod]) -> Vec<LogJob> {
    let mut jobs = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let restarts = super::workload::restarts_by_container(pod);
        for container in super::workload::container_names(pod) {
            let restarted = restarts.get(&container).copied().unwrap_or(0) > 0;
            jobs.push(LogJob {
                pod: name.clone(),
                container: container.clone(),
                previous: false,
            });
            if restarted {
                jobs.push(LogJob {
                    pod: name.clone(),
                    container,
                    previous: true,
                });
            }
        }
    }
    jobs
}

/// Streams each job's log through the redactor into the bundle, `concurrency` at a time, on
/// every worker thread. Returns the entries written and, per job that failed, why.
pub async fn collect_logs(
    cluster: &Cluster,
    jobs: Vec<LogJob>,
    since_seconds: i64,
    concurrency: usize,
    redactor: Arc<Redactor>,
    bundle: Arc<Bundle>,
) -> (Vec<Entry>, Vec<(LogJob, String)>) {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let (api, limit, redactor, bundle) =
            (api.clone(), limit.clone(), redactor.clone(), bundle.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = stream_one(&api, &job, since_seconds, &redactor, &bundle).await;
            (job, result)
        });
    }
    let mut entries = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(entry))) => entries.push(entry),
            Ok((job, Err(reason))) => failed.push((job, reason)),
            Err(e) => failed.push((
                LogJob {
                    pod: "?".into(),
                    container: "?".into(),
                    previous: false,
                },
                format!("log task failed: {e}"),
            )),
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    failed.sort_by_key(|(job, _)| job.path());
    (entries, failed)
}

async fn stream_one(
    api: &Api<Pod>,
    job: &LogJob,
    since_seconds: i64,
    redactor: &Redactor,
    bundle: &Bundle,
) -> Result<Entry, String> {
    let params = LogParams {
        container: Some(job.container.clone()),
        previous: job.previous,
        since_seconds: Some(since_seconds),
        ..LogParams::default()
    };
    let mut reader = api
        .log_stream(&job.pod, &params)
        .await
        .map_err(|e| short_error(&e))?;
    let writer = bundle.writer(&job.path()).map_err(|e| e.to_string())?;
    let mut redacting = StreamRedactor::new(redactor, writer);
    loop {
        let chunk = reader
            .fill_buf()
            .await
            .map_err(|e| format!("reading the log: {e}"))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        std::io::Write::write_all(&mut redacting, chunk)
            .map_err(|e| format!("writing the log: {e}"))?;
        reader.consume_unpin(n);
    }
    let (writer, redactions) = redacting
        .finish()
        .map_err(|e| format!("writing the log: {e}"))?;
    writer.finish(redactions).map_err(|e| e.to_string())
}

/// The API's one-line reason (`pods "x" not found (404)`), without kube's wrapping.
pub fn short_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => {
            format!("{} ({})", status.message, status.code)
        }
        kube::Error::Api(status) => format!("{} ({})", status.reason, status.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_by_status_and_words() {
        let cases = [
            (
                r#"level=error msg="posthog capture failed" status=401"#,
                (true, true, false, false),
            ),
            (
                "WARN posthog: HTTP 429 Too Many Requests, retry-after=3",
                (false, false, true, false),
            ),
            (
                r#"{"level":"error","status_code":503,"msg":"flush"}"#,
                (true, false, false, true),
            ),
            (
                "error: PostHog answered 502 Bad Gateway",
                (true, false, false, true),
            ),
            (
                "ERROR forbidden: invalid api key",
                (true, true, false, false),
            ),
            (
                "level=info msg=\"request handled\" status=200 n=3",
                (false, false, false, false),
            ),
            (
                "level=info msg=\"handled\" path=/api/orders/429 n=4",
                (false, false, false, false),
            ),
        ];
        for (line, (error, auth, rate, server)) in cases {
            let c = classify_line(line);
            assert_eq!(
                (c.error, c.auth, c.rate_limited, c.server),
                (error, auth, rate, server),
                "{line}"
            );
        }
    }

    #[tokio::test]
    async fn a_scan_keeps_the_last_twenty_redacted_lines_and_counts_all() {
        let mut log = String::new();
        for i in 0..50 {
            log.push_str(&format!("2026-11-22T10:00:{i:02}Z level=error status=429 key=phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543 n={i}\n"));
            log.push_str("2026-11-22T10:00:00Z level=info ok\n");
        }
        log.push_str(&format!("{}\n", "y".repeat(100_000)));
        let reader = futures::io::BufReader::with_capacity(1000, log.as_bytes());
        let result = scan_errors(reader, "[pod/a] ", &Redactor::patterns_only())
            .await
            .unwrap();
        assert_eq!(
            (result.error_lines, result.rate_limited, result.auth),
            (50, 50, 0)
        );
        assert_eq!(result.recent.len(), RECENT_LINES);
        assert!(result.recent.back().unwrap().ends_with("n=49"));
        assert!(
            result
                .recent
                .iter()
                .all(|l| l.starts_with("[pod/a] ") && l.contains("phx_…6543"))
        );
    }

    #[test]
    fn previous_logs_only_after_a_restart() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": "app"}, {"name": "proxy"}]},
            "status": {"containerStatuses": [
                {"name": "app", "restartCount": 2, "ready": true, "image": "", "imageID": ""},
                {"name": "proxy", "restartCount": 0, "ready": true, "image": "", "imageID": ""}
            ]}
        }))
        .unwrap();
        let paths: Vec<String> = log_jobs(&[pod]).iter().map(LogJob::path).collect();
        assert_eq!(
            paths,
            [
                "logs/web-1/app.log",
                "logs/web-1/app.previous.log",
                "logs/web-1/proxy.log"
            ]
        );
    }
}
