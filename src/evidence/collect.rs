//! Collecting the evidence bundle: everything is fetched at once (logs streamed to disk through
//! the redactor, objects, range queries, the triage), then the derived files are written, every
//! text through the redactor ([`super::k8s_files`], [`super::metrics_files`],
//! [`super::documents`]), and the manifest last.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::bundle::{Bundle, Entry};
use super::documents::{DocumentInputs, write_documents, write_posthog};
use super::facts::TriageFacts;
use super::gather::{self, Connections, SecretsRead};
use super::k8s_files::write_k8s;
use super::logs::{LogSettings, LogsCollected, collect_logs, log_jobs};
use super::manifest::{
    ClusterInfo, MANIFEST_VERSION, Manifest, Missing, Redactions, TargetInfo, Tool, Window,
};
use super::metrics::{alert_queries, range_step};
use super::metrics_files::{MetricsInputs, instant_windows, range_all, write_metrics};
use super::objects::fetch_related;
use super::redact::{Redactor, RedactorNotes};
use super::settings::Settings;
use super::triage::{TriageOutcome, decide};
use super::workload::Workload;
use crate::error::{Error, Result};
use crate::kube::Cluster;

pub struct CollectInputs<'a> {
    pub cluster: &'a Cluster,
    pub workload: &'a Workload,
    pub connections: &'a Connections,
    pub secrets: &'a SecretsRead,
    pub settings: &'a Settings,
    pub health_url: Option<&'a str>,
    pub since: Duration,
    pub since_text: String,
    pub max_log_requests: usize,
    pub now: jiff::Timestamp,
}

/// What was collected, for the command's report.
#[derive(Debug, Clone)]
pub struct Collected {
    pub location: PathBuf,
    pub manifest: Manifest,
    pub outcome: TriageOutcome,
    pub facts: TriageFacts,
    pub log_files: usize,
    pub previous_logs: usize,
    pub log_bytes: u64,
}

pub async fn collect(inputs: CollectInputs<'_>, bundle: Bundle) -> Result<Collected> {
    let CollectInputs {
        cluster,
        workload,
        connections,
        secrets,
        settings,
        now,
        ..
    } = inputs;
    let bundle = Arc::new(bundle);
    let (redactor, notes) = Redactor::new(&secrets.values);
    let redactor = Arc::new(redactor);
    let start = now
        - jiff::SignedDuration::try_from(inputs.since)
            .unwrap_or(jiff::SignedDuration::from_hours(1));
    let triage_window = settings.triage_window;
    let triage_queries = gather::triage_queries(settings, &cluster.namespace, workload)?;
    let (step, rate_window) = range_step(inputs.since);
    let range_queries = alert_queries(
        &settings.naming,
        &settings.evidence.queries,
        &cluster.namespace,
        workload.name(),
        rate_window,
    )
    .map_err(Error::Input)?;
    let pods: Vec<_> = workload.pods.iter().map(|(p, _)| p.clone()).collect();
    let log_settings = LogSettings {
        since_seconds: inputs.since.as_secs() as i64,
        concurrency: inputs.max_log_requests,
        triage_cutoff: now - jiff::SignedDuration::try_from(triage_window).unwrap_or_default(),
        triage_window_minutes: triage_window.as_secs_f64() / 60.0,
    };
    // One read of every log serves the bundle and the triage's error lines.
    let (logs, related, remote, ranges) = tokio::join!(
        collect_logs(
            cluster,
            log_jobs(&pods),
            &log_settings,
            redactor.clone(),
            bundle.clone()
        ),
        fetch_related(cluster, workload, start),
        gather::remote_facts(
            cluster,
            workload,
            connections,
            &settings.evidence,
            inputs.health_url,
            &triage_queries,
        ),
        range_all(connections, &range_queries, start, now, step),
    );
    let LogsCollected {
        entries: log_entries,
        failed: log_failures,
        errors: log_errors,
    } = logs;
    let facts = gather::assemble(cluster, workload, secrets, remote, log_errors, now);
    let outcome = decide(&facts, &settings.evidence.thresholds);
    let mut missing: Vec<Missing> = log_failures
        .iter()
        .map(|(job, reason)| {
            Missing::new(
                job.path().trim_end_matches(".log").to_string(),
                job.missing_reason(reason),
            )
        })
        .collect();

    let k8s = write_k8s(&bundle, &redactor, workload, secrets, related)?;
    missing.extend(k8s.missing);
    let episodes = super::history::episodes(
        &super::history::tool_events(&k8s.events, workload.name()),
        workload.canary_state.as_ref(),
        now,
    );
    let thresholds = &settings.evidence.thresholds;
    let (mut queries, metrics_missing, chart_svg) = write_metrics(
        &bundle,
        &redactor,
        &MetricsInputs {
            queries: &range_queries,
            ranges: &ranges,
            history: &k8s.history,
            title: format!(
                "deployment/{} in {} — last {}",
                workload.name(),
                cluster.namespace,
                inputs.since_text
            ),
            start,
            end: now,
            step,
            latency_limit_ms: thresholds.latency_p99_ms,
            error_limits: vec![
                (
                    format!("alert: 5xx > {}/min", thresholds.server_errors_per_minute),
                    thresholds.server_errors_per_minute,
                ),
                (
                    format!("alert: 429 > {}/min", thresholds.rate_limited_per_minute),
                    thresholds.rate_limited_per_minute,
                ),
            ],
            episodes: &episodes,
        },
    )?;
    missing.extend(metrics_missing);
    queries.extend(instant_windows(&triage_queries, triage_window, now));
    missing.extend(write_posthog(&bundle, &redactor, &facts)?);
    let documents = write_documents(
        &bundle,
        &redactor,
        &DocumentInputs {
            workload,
            namespace: &cluster.namespace,
            context: cluster.context.as_deref(),
            facts: &facts,
            outcome: &outcome,
            thresholds: &settings.evidence.thresholds,
            history: &k8s.history,
            events: &k8s.events,
            ranges: &ranges,
            start,
            now,
        },
    )?;

    // The page that opens the bundle (issue 18, beyond): it links every other file.
    let mut paths: Vec<String> = bundle.entries().into_iter().map(|e| e.path).collect();
    paths.push("manifest.json".to_string());
    paths.sort();
    let index = super::index_html::index_html(&super::index_html::IndexInputs {
        deployment: workload.name(),
        namespace: &cluster.namespace,
        outcome: &outcome,
        detected: documents.detected.map(|d| (d.at, d.what)),
        episodes: &documents.episodes,
        timeline: &documents.timeline,
        chart_svg: chart_svg.as_deref(),
        files: &paths,
        now,
    });
    bundle.add_text("index.html", &index, &redactor, 0)?;

    // The manifest, last: it lists everything else.
    let files = bundle.entries();
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: Tool::default(),
        created_at: now,
        cluster: ClusterInfo {
            context: cluster.context.clone(),
            server: cluster.server.clone(),
            namespace: cluster.namespace.clone(),
        },
        target: target_info(workload),
        window: Window {
            since: inputs.since_text.clone(),
            start,
            end: now,
        },
        queries,
        redactions: redactions(&files, secrets, &notes, &redactor),
        files,
        missing,
    };
    // The manifest quotes reasons and queries that came from outside: redacted like the rest.
    bundle.add_text("manifest.json", &manifest.to_json(), &redactor, 0)?;
    let bundle = Arc::try_unwrap(bundle)
        .map_err(|_| Error::Input("internal: a log stream still holds the bundle".to_string()))?;
    let location = bundle.finish()?;
    Ok(Collected {
        location,
        log_files: log_entries.len(),
        previous_logs: log_entries
            .iter()
            .filter(|e| e.path.ends_with(".previous.log"))
            .count(),
        log_bytes: log_entries.iter().map(|e| e.size).sum(),
        manifest,
        outcome,
        facts,
    })
}

fn target_info(workload: &Workload) -> TargetInfo {
    TargetInfo {
        deployment: workload.name().to_string(),
        canary: workload
            .canary
            .as_ref()
            .and_then(|c| c.metadata.name.clone()),
        pods: workload
            .pods
            .iter()
            .filter_map(|(p, _)| p.metadata.name.clone())
            .collect(),
    }
}

/// Secret values replaced, per source, apart from the other credentials blanked (issue 18
/// item 6: a Secret's type or key names are never a redaction).
fn redactions(
    files: &[Entry],
    secrets: &SecretsRead,
    notes: &RedactorNotes,
    redactor: &Redactor,
) -> Redactions {
    let mut by_value: Vec<String> = secrets
        .values
        .iter()
        .map(|v| format!("{}/{}", v.secret, v.key))
        .collect();
    by_value.retain(|k| !notes.too_short.contains(k));
    by_value.dedup();
    let mut by_source: std::collections::BTreeMap<String, usize> =
        by_value.iter().map(|k| (k.clone(), 0)).collect();
    by_source.extend(redactor.secret_value_counts());
    let total: usize = by_source.values().sum();
    let all: usize = files.iter().map(|f| f.redactions).sum();
    Redactions {
        total,
        by_source: by_source
            .into_iter()
            .map(|(source, count)| super::manifest::SourceCount { source, count })
            .collect(),
        pattern_matches: all.saturating_sub(total),
        secret_values_redacted: by_value,
        too_short_to_redact: notes.too_short.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SecretValue;

    /// Issue 18 item 6: the manifest counts Secret values redacted, per source, and nothing
    /// else as one (a `secretType:` or a bearer token in a log is not a Secret value).
    #[test]
    fn the_manifest_counts_secret_value_redactions_per_source() {
        let values = vec![
            SecretValue {
                secret: "posthog".into(),
                key: "api-key".into(),
                value: b"phc_abcdefghijklmnopqrstuvwxyz0123".to_vec(),
            },
            SecretValue {
                secret: "db".into(),
                key: "password".into(),
                value: b"hunter2hunter2".to_vec(),
            },
        ];
        let secrets = SecretsRead {
            uses: vec![],
            values,
        };
        let (redactor, notes) = Redactor::new(&secrets.values);
        let (_, n) = redactor.redact_str(
            "key=phc_abcdefghijklmnopqrstuvwxyz0123 again phc_abcdefghijklmnopqrstuvwxyz0123\n\
             Authorization: Bearer sometokenvalue123\nsecretType: Opaque\n",
        );
        assert_eq!(n, 4);
        let files = vec![Entry {
            path: "logs/a.log".into(),
            size: 1,
            sha256: String::new(),
            redactions: n,
        }];
        let r = redactions(&files, &secrets, &notes, &redactor);
        assert_eq!(r.total, 2);
        let counts: Vec<(&str, usize)> = r
            .by_source
            .iter()
            .map(|s| (s.source.as_str(), s.count))
            .collect();
        assert_eq!(counts, [("db/password", 0), ("posthog/api-key", 2)]);
        assert_eq!(r.pattern_matches, 2);
        // The manifest's own text survives its redaction pass as JSON.
        let json = serde_json::to_string_pretty(&r).unwrap();
        let (redacted, n) = redactor.redact_str(&json);
        assert_eq!(n, 0, "{redacted}");
    }
}
