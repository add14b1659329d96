//! Collecting the evidence bundle: everything is fetched at once (logs streamed to disk through
//! the redactor, objects, range queries, the triage), then the derived documents are written,
//! every text through the redactor, and the manifest last.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::bundle::{Bundle, Entry};
use super::chart::{ChartInput, Marker, render_svg};
use super::facts::TriageFacts;
use super::gather::{self, Connections, SecretsRead};
use super::logs::{LogSettings, LogsCollected, collect_logs, log_jobs};
use super::manifest::{
    ClusterInfo, Manifest, Missing, QueryWindow, Redactions, TargetInfo, Tool, Window,
};
use super::metrics::{AlertQuery, RangeResult, alert_queries, range_step};
use super::objects::{
    blank_sensitive_env, fetch_related, rollout_history, rollout_history_text, strip, yaml,
    yaml_list,
};
use super::postmortem::{PostmortemInputs, communication, postmortem};
use super::redact::Redactor;
use super::timeline::{TimelineInputs, first_problem, timeline};
use super::triage::{TriageOutcome, decide};
use super::triage_report::{triage_markdown, triage_report};
use super::workload::Workload;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kube::Cluster;
use crate::report::{FailOn, ReportTarget};

pub struct CollectInputs<'a> {
    pub cluster: &'a Cluster,
    pub workload: &'a Workload,
    pub connections: &'a Connections,
    pub secrets: &'a SecretsRead,
    pub config: &'a Config,
    pub health_url: Option<&'a str>,
    pub since: Duration,
    pub since_text: String,
    pub max_log_requests: usize,
    pub now: jiff::Timestamp,
}

/// What was collected, for the command's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    pub location: PathBuf,
    pub manifest: Manifest,
    #[serde(skip)]
    pub outcome: TriageOutcome,
    #[serde(skip)]
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
        config,
        now,
        ..
    } = inputs;
    let bundle = Arc::new(bundle);
    let (redactor, notes) = Redactor::new(&secrets.values);
    let redactor = Arc::new(redactor);
    let start = now
        - jiff::SignedDuration::try_from(inputs.since)
            .unwrap_or(jiff::SignedDuration::from_hours(1));
    let pods: Vec<_> = workload.pods.iter().map(|(p, _)| p.clone()).collect();
    let triage_window = config.evidence.triage_window()?;
    let triage_queries = gather::triage_queries(config, cluster, workload, triage_window)?;
    let (step, rate_window) = range_step(inputs.since);
    let range_queries = alert_queries(
        &config.canary.naming(),
        &config.evidence.queries,
        &cluster.namespace,
        workload.name(),
        rate_window,
    )
    .map_err(Error::Input)?;

    let settings = LogSettings {
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
            &settings,
            redactor.clone(),
            bundle.clone()
        ),
        fetch_related(cluster, workload, start),
        gather::remote_facts(
            cluster,
            workload,
            connections,
            &config.evidence,
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
    let outcome = decide(&facts, &config.evidence.thresholds);
    let mut missing: Vec<Missing> = log_failures
        .iter()
        .map(|(job, reason)| {
            Missing::new(
                job.path().trim_end_matches(".log").to_string(),
                reason.clone(),
            )
        })
        .collect();
    let write = |path: &str, text: &str, extra: usize| -> Result<()> {
        let (redacted, count) = redactor.redact_str(text);
        bundle
            .add(path, redacted.as_bytes(), count + extra)
            .map(|_| ())
    };

    // Kubernetes objects.
    let mut deployment = workload.deployment.clone();
    let mut blanked = strip_deployment(&mut deployment);
    write("k8s/deployment.yaml", &yaml(&deployment), blanked)?;
    if let Some(canary) = &workload.canary {
        let mut canary = canary.clone();
        blanked = strip_deployment(&mut canary);
        write("k8s/canary-deployment.yaml", &yaml(&canary), blanked)?;
    }
    let mut replica_sets = workload.replica_sets.clone();
    let mut blanked = 0;
    for rs in &mut replica_sets {
        strip(&mut rs.metadata);
        if let Some(spec) = rs
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut()?.spec.as_mut())
        {
            blanked += blank_sensitive_env(spec);
        }
    }
    write("k8s/replicasets.yaml", &yaml_list(&replica_sets), blanked)?;
    let mut pod_objects = pods.clone();
    let mut blanked = 0;
    for pod in &mut pod_objects {
        strip(&mut pod.metadata);
        if let Some(spec) = pod.spec.as_mut() {
            blanked += blank_sensitive_env(spec);
        }
    }
    write("k8s/pods.yaml", &yaml_list(&pod_objects), blanked)?;
    let history = rollout_history(&workload.replica_sets);
    write(
        "k8s/rollout-history.txt",
        &rollout_history_text(&history),
        0,
    )?;
    write("k8s/secrets.yaml", &yaml(&secrets.uses), 0)?;
    for secret in secrets.uses.iter().filter(|s| s.unreadable.is_some()) {
        missing.push(Missing::new(
            format!("secret/{}", secret.name),
            format!(
                "{}: its values could not be redacted by value (pattern redaction still applies)",
                secret.unreadable.as_deref().unwrap_or("unreadable")
            ),
        ));
    }
    let mut events = Vec::new();
    for (path, result) in [
        (
            "k8s/events.yaml",
            related.events.as_ref().map(|e| yaml_list(e)),
        ),
        ("k8s/hpa.yaml", related.hpas.as_ref().map(|h| yaml_list(h))),
        ("k8s/pdb.yaml", related.pdbs.as_ref().map(|p| yaml_list(p))),
    ] {
        match result {
            Ok(text) => write(path, &text, 0)?,
            Err(reason) => missing.push(Missing::new(
                path.trim_start_matches("k8s/").trim_end_matches(".yaml"),
                reason.clone(),
            )),
        }
    }
    if let Ok(list) = related.events {
        events = list;
    }

    // Metrics and the chart.
    let mut queries: Vec<QueryWindow> = Vec::new();
    match &ranges {
        Ok(results) => {
            for (query, result) in range_queries.iter().zip(results) {
                match result {
                    Ok(range) => {
                        let file = format!("metrics/{}.json", query.id);
                        write(
                            &file,
                            &serde_json::to_string_pretty(range).unwrap_or_default(),
                            0,
                        )?;
                        queries.push(QueryWindow {
                            id: query.id.to_string(),
                            kind: "range",
                            promql: query.promql.clone(),
                            start,
                            end: now,
                            step_seconds: Some(step.as_secs_f64()),
                            file: Some(file),
                        });
                    }
                    Err(reason) => missing.push(Missing::new(
                        format!("prometheus/{}", query.id),
                        reason.clone(),
                    )),
                }
            }
            let ok: Vec<&RangeResult> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            let markers: Vec<Marker> = history
                .iter()
                .filter_map(|row| {
                    let at = row.created.filter(|t| *t >= start)?;
                    let canary = row.deployment.ends_with("-canary");
                    Some(Marker {
                        at,
                        label: format!(
                            "{}rev {}",
                            if canary { "canary " } else { "" },
                            row.revision
                        ),
                    })
                })
                .collect();
            let svg = render_svg(&ChartInput {
                title: format!(
                    "deployment/{} in {} — last {}",
                    workload.name(),
                    cluster.namespace,
                    inputs.since_text
                ),
                start,
                end: now,
                errors: ok
                    .iter()
                    .copied()
                    .filter(|r| r.id != "latency-p99")
                    .collect(),
                latency: ok.iter().copied().find(|r| r.id == "latency-p99"),
                latency_limit_ms: config.evidence.thresholds.latency_p99_ms,
                markers,
            })
            .map_err(|e| Error::Input(format!("cannot render the chart: {e}")))?;
            write("metrics/chart.svg", &svg, 0)?;
        }
        Err(reason) => missing.push(Missing::new("prometheus", reason.clone())),
    }
    for query in &triage_queries {
        queries.push(QueryWindow {
            id: format!("triage/{}", query.id),
            kind: "instant",
            promql: query.promql.clone(),
            start: now - jiff::SignedDuration::try_from(triage_window).unwrap_or_default(),
            end: now,
            step_seconds: None,
            file: None,
        });
    }

    // PostHog status page and health endpoint.
    match &facts.status_page {
        Ok(view) => write(
            "posthog/status.json",
            &serde_json::to_string_pretty(view).unwrap_or_default(),
            0,
        )?,
        Err(reason) => missing.push(Missing::new("status-page", reason.clone())),
    }
    match &facts.health {
        Ok(health) => write(
            "posthog/health.json",
            &serde_json::to_string_pretty(health).unwrap_or_default(),
            0,
        )?,
        Err(reason) => missing.push(Missing::new("health", reason.clone())),
    }
    if let Err(reason) = &facts.log_errors {
        missing.push(Missing::new("triage/log-errors", reason.clone()));
    }

    // The documents people read.
    let target = ReportTarget::deployment(
        workload.name(),
        Some(&cluster.namespace),
        cluster.context.as_deref(),
    );
    let report = triage_report(
        target,
        &facts,
        &outcome,
        &config.evidence.thresholds,
        FailOn::P2,
        &[],
        now,
    );
    write("triage.md", &triage_markdown(&facts, &outcome, &report), 0)?;
    let deployments: Vec<_> = std::iter::once(&workload.deployment)
        .chain(workload.canary.as_ref())
        .collect();
    let entries = timeline(&TimelineInputs {
        history: &history,
        deployments,
        events: &events,
        pods: workload.pods.iter().map(|(p, _)| p).collect(),
        start,
        end: now,
    });
    let pm = PostmortemInputs {
        deployment: workload.name(),
        namespace: &cluster.namespace,
        outcome: &outcome,
        timeline: &entries,
        detected: first_problem(&entries),
        now,
        window_start: start,
    };
    write("postmortem.md", &postmortem(&pm), 0)?;
    write("communication.md", &communication(&pm), 0)?;

    // The manifest, last: it lists everything else.
    let files = bundle.entries();
    let log_bytes = log_entries.iter().map(|e| e.size).sum();
    let previous_logs = log_entries
        .iter()
        .filter(|e| e.path.ends_with(".previous.log"))
        .count();
    let mut redacted_by_value: Vec<String> = secrets
        .values
        .iter()
        .map(|v| format!("{}/{}", v.secret, v.key))
        .collect();
    redacted_by_value.retain(|k| !notes.too_short.contains(k));
    let manifest = Manifest {
        manifest_version: super::manifest::MANIFEST_VERSION,
        tool: Tool::default(),
        created_at: now,
        cluster: ClusterInfo {
            context: cluster.context.clone(),
            server: cluster.server.clone(),
            namespace: cluster.namespace.clone(),
        },
        target: TargetInfo {
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
        },
        window: Window {
            since: inputs.since_text.clone(),
            start,
            end: now,
        },
        queries,
        redactions: Redactions {
            total: files.iter().map(|f: &Entry| f.redactions).sum(),
            secret_values_redacted: redacted_by_value,
            too_short_to_redact: notes.too_short.clone(),
        },
        files,
        missing,
    };
    bundle.add("manifest.json", manifest.to_json().as_bytes(), 0)?;
    let bundle = Arc::try_unwrap(bundle)
        .map_err(|_| Error::Input("internal: a log stream still holds the bundle".to_string()))?;
    let location = bundle.finish()?;
    Ok(Collected {
        location,
        log_files: log_entries.len(),
        previous_logs,
        log_bytes,
        manifest,
        outcome,
        facts,
    })
}

fn strip_deployment(deployment: &mut k8s_openapi::api::apps::v1::Deployment) -> usize {
    strip(&mut deployment.metadata);
    deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .map_or(0, blank_sensitive_env)
}

/// The four range queries at once; `Err` when Prometheus is not configured at all.
async fn range_all(
    connections: &Connections,
    queries: &[AlertQuery],
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    step: Duration,
) -> std::result::Result<Vec<std::result::Result<RangeResult, String>>, String> {
    let prometheus = connections
        .prometheus
        .as_ref()
        .map_err(|e| format!("Prometheus {e}"))?;
    Ok(futures::future::join_all(
        queries
            .iter()
            .map(|q| super::metrics::range(prometheus, q, start, end, step)),
    )
    .await)
}
