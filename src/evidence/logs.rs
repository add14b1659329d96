//! Pod logs: the triage's scan for recent error lines (the runbook's
//! `kubectl logs -l app=… --since=5m | grep -i error | tail -20`), and the evidence bundle's full
//! logs, streamed through the redactor to disk with a bound on concurrent streams.
//!
//! Both read the API's log stream chunk by chunk; neither holds a whole log, or a whole line
//! longer than a fixed buffer, in memory.

use std::sync::Arc;

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use tokio::sync::Semaphore;

use super::bundle::{Bundle, Entry};
use super::error_lines::{ErrorTally, RECENT_LINES, ScanResult, TapWriter};
use super::facts::LogErrors;
use super::redact::Redactor;
use super::redact_stream::StreamRedactor;
use crate::kube::Cluster;

/// Reads a log stream chunk by chunk and tallies its error lines.
pub async fn scan_errors<R: AsyncBufRead + Unpin>(
    mut reader: R,
    prefix: &str,
    redactor: &Redactor,
) -> std::io::Result<ScanResult> {
    let mut tally = ErrorTally::new(prefix, None);
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            break;
        }
        let consumed = chunk.len();
        tally.feed(chunk, Some(redactor));
        reader.consume_unpin(consumed);
    }
    Ok(tally.finish(Some(redactor)))
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
    aggregate(results, window_seconds as f64 / 60.0)
}

/// Adds up the streams' tallies; the recent lines are merged by their timestamps, newest last.
pub fn aggregate(results: Vec<Result<ScanResult, String>>, window_minutes: f64) -> LogErrors {
    let mut errors = LogErrors {
        window_minutes,
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
                errors.first_error_at = match (errors.first_error_at, scan.first_error_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
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
    /// The pod was being deleted when listed (an old ReplicaSet's pod during a rollout): its log
    /// disappears with it, possibly before it is read.
    pub terminating: bool,
}

impl LogJob {
    pub fn path(&self) -> String {
        let suffix = if self.previous { ".previous" } else { "" };
        format!("logs/{}/{}{suffix}.log", self.pod, self.container)
    }

    /// Why the log is not in the bundle, for the manifest: a terminating pod that is gone was
    /// deleted after the listing, which is not the same as a log the API refused.
    pub fn missing_reason(&self, reason: &str) -> String {
        if self.terminating && reason.contains("not found") {
            format!(
                "the pod was terminating when listed and was deleted before its log could be read ({reason})"
            )
        } else {
            reason.to_string()
        }
    }
}

/// Every container of every pod, and the previous container where one restarted. Terminating
/// pods come first: their logs are the ones about to disappear, and the streams start in this
/// order (the semaphore is fair).
pub fn log_jobs(pods: &[Pod]) -> Vec<LogJob> {
    let mut jobs = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let restarts = super::workload::restarts_by_container(pod);
        for container in super::workload::container_names(pod) {
            let restarted = restarts.get(&container).copied().unwrap_or(0) > 0;
            jobs.push(LogJob {
                pod: name.clone(),
                container: container.clone(),
                previous: false,
                terminating,
            });
            if restarted {
                jobs.push(LogJob {
                    pod: name.clone(),
                    container,
                    previous: true,
                    terminating,
                });
            }
        }
    }
    // Stable: within each group the pods keep their order.
    jobs.sort_by_key(|job| !job.terminating);
    jobs
}

/// Streams each job's log through the redactor into the bundle, `concurrency` at a time, on
/// every worker thread. Returns the entries written and, per job that failed, why.
/// What streaming the logs produced: the bundle entries, the streams that failed, and the
/// error lines of the triage window tallied on the way (one read serves both).
pub struct LogsCollected {
    pub entries: Vec<Entry>,
    pub failed: Vec<(LogJob, String)>,
    pub errors: LogErrors,
}

/// How the bundle's logs are read.
pub struct LogSettings {
    pub since_seconds: i64,
    pub concurrency: usize,
    /// Error lines at or after this count for the triage (current containers only).
    pub triage_cutoff: jiff::Timestamp,
    pub triage_window_minutes: f64,
}

pub async fn collect_logs(
    cluster: &Cluster,
    jobs: Vec<LogJob>,
    settings: &LogSettings,
    redactor: Arc<Redactor>,
    bundle: Arc<Bundle>,
) -> LogsCollected {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let limit = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let multi_container = jobs.iter().any(|a| {
        jobs.iter()
            .any(|b| a.pod == b.pod && a.container != b.container)
    });
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let (api, limit, redactor, bundle) =
            (api.clone(), limit.clone(), redactor.clone(), bundle.clone());
        let prefix = if multi_container {
            format!("[pod/{}/{}] ", job.pod, job.container)
        } else {
            format!("[pod/{}] ", job.pod)
        };
        let tally = ErrorTally::new(prefix, Some(settings.triage_cutoff));
        let since = settings.since_seconds;
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = stream_one(&api, &job, since, tally, &redactor, &bundle).await;
            (job, result)
        });
    }
    let mut entries = Vec::new();
    let mut failed = Vec::new();
    let mut tallies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((job, Ok((entry, scan)))) => {
                entries.push(entry);
                if !job.previous {
                    tallies.push(Ok(scan));
                }
            }
            Ok((job, Err(reason))) => {
                if !job.previous {
                    tallies.push(Err(format!("{}/{}: {reason}", job.pod, job.container)));
                }
                failed.push((job, reason));
            }
            Err(e) => failed.push((
                LogJob {
                    pod: "?".into(),
                    container: "?".into(),
                    previous: false,
                    terminating: false,
                },
                format!("log task failed: {e}"),
            )),
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    failed.sort_by_key(|(job, _)| job.path());
    LogsCollected {
        entries,
        failed,
        errors: aggregate(tallies, settings.triage_window_minutes),
    }
}

/// One log into the bundle: API stream → redactor → error tally → hashing file writer.
/// Lines carry the API's timestamps (`kubectl logs --timestamps`): evidence is read across pods.
async fn stream_one(
    api: &Api<Pod>,
    job: &LogJob,
    since_seconds: i64,
    tally: ErrorTally,
    redactor: &Redactor,
    bundle: &Bundle,
) -> Result<(Entry, ScanResult), String> {
    let params = LogParams {
        container: Some(job.container.clone()),
        previous: job.previous,
        since_seconds: Some(since_seconds),
        timestamps: true,
        ..LogParams::default()
    };
    let mut reader = api
        .log_stream(&job.pod, &params)
        .await
        .map_err(|e| short_error(&e))?;
    let writer = bundle.writer(&job.path()).map_err(|e| e.to_string())?;
    let mut redacting = StreamRedactor::new(redactor, TapWriter::new(writer, tally));
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
    let (tap, redactions) = redacting
        .finish()
        .map_err(|e| format!("writing the log: {e}"))?;
    let (writer, scan) = tap.into_parts();
    let entry = writer.finish(redactions).map_err(|e| e.to_string())?;
    Ok((entry, scan))
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

    /// Regression: during a rollout the old ReplicaSet's pods are listed while terminating and
    /// deleted a moment later; their logs are read first, and when one is gone anyway the
    /// manifest says so rather than reporting a bare 404.
    #[test]
    fn terminating_pods_are_read_first_and_their_disappearance_is_explained() {
        let pod = |name: &str, terminating: bool| -> Pod {
            let mut meta = serde_json::json!({"name": name});
            if terminating {
                meta["deletionTimestamp"] = "2026-11-22T10:00:00Z".into();
            }
            serde_json::from_value(serde_json::json!({
                "metadata": meta, "spec": {"containers": [{"name": "app"}]}
            }))
            .unwrap()
        };
        let jobs = log_jobs(&[
            pod("web-new-1", false),
            pod("web-old-1", true),
            pod("web-new-2", false),
        ]);
        let order: Vec<&str> = jobs.iter().map(|j| j.pod.as_str()).collect();
        assert_eq!(order, ["web-old-1", "web-new-1", "web-new-2"]);
        let gone = r#"pods "web-old-1" not found (404)"#;
        assert!(
            jobs[0]
                .missing_reason(gone)
                .starts_with("the pod was terminating when listed"),
            "{}",
            jobs[0].missing_reason(gone)
        );
        assert_eq!(
            jobs[1].missing_reason(gone),
            gone,
            "a live pod's 404 is reported as is"
        );
    }
}
