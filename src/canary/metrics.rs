//! The metrics a canary is judged by: by default the checklist's alert table, each a documented
//! PromQL template over the conventional HTTP metrics, scoped to the canary's pods.
//!
//! | id | checklist alert | breach when | severity |
//! |---|---|---|---|
//! | `errors-5xx` | API Down | 5xx responses > 10 per minute | P1 |
//! | `latency-p99` | High Latency | p99 latency > 5000 ms | P2 |
//! | `rate-limited` | Rate Limited | 429 responses > 5 per minute | P2 |
//! | `auth-failures` | Auth Failures | any 401/403 response from a canary pod | P1 |
//!
//! Templates use `{{name}}` placeholders filled in before use (see [`TemplateVars`]); the filled-in
//! query is what is validated, run and shown next to every reading.

pub use crate::config::canary::{MetricOverride, Scope};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::Severity;

/// 5xx per minute: counts per second over the window, times 60. The `or … * 0` arm turns "the
/// canary served requests but no 5xx series exists yet" into 0 instead of "no data", while a
/// canary that served nothing at all stays "no data" (inconclusive), never a silent pass.
pub const ERRORS_5XX_QUERY: &str = r#"sum(rate({{requests}}{{{selector}},{{status}}=~"5.."}[{{window}}])) * 60 or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0"#;
/// p99 latency in milliseconds from the duration histogram; NaN (no requests) is "no data".
pub const LATENCY_P99_QUERY: &str = r#"histogram_quantile(0.99, sum by (le) (rate({{duration}}{{{selector}}}[{{window}}]))) * 1000"#;
/// 429 per minute, as 5xx.
pub const RATE_LIMITED_QUERY: &str = r#"sum(rate({{requests}}{{{selector}},{{status}}="429"}[{{window}}])) * 60 or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0"#;
/// 401/403 responses served by the canary's pods since they started. A counter that first appears
/// at 1 has no increase for `rate`/`increase` to see, so a single 401 is only caught by reading
/// the counters themselves; canary pods are new, so their counters cover exactly the canary.
pub const AUTH_FAILURES_QUERY: &str = r#"sum({{requests}}{{{selector}},{{status}}=~"401|403"}) or sum({{requests}}{{{selector}}}) * 0"#;

/// Comparison mode: the share of requests (percent) answered 5xx over the window.
pub const ERRORS_5XX_SHARE_QUERY: &str = r#"(sum(rate({{requests}}{{{selector}},{{status}}=~"5.."}[{{window}}])) or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0) / sum(rate({{requests}}{{{selector}}}[{{window}}])) * 100"#;
/// Comparison mode: the share of requests (percent) answered 429 over the window.
pub const RATE_LIMITED_SHARE_QUERY: &str = r#"(sum(rate({{requests}}{{{selector}},{{status}}="429"}[{{window}}])) or sum(rate({{requests}}{{{selector}}}[{{window}}])) * 0) / sum(rate({{requests}}{{{selector}}}[{{window}}])) * 100"#;
/// Comparison mode: the share of requests (percent) answered 401/403 over the window.
pub const AUTH_FAILURES_SHARE_QUERY: &str = r#"(sum(increase({{requests}}{{{selector}},{{status}}=~"401|403"}[{{window}}])) or sum(increase({{requests}}{{{selector}}}[{{window}}])) * 0) / sum(increase({{requests}}{{{selector}}}[{{window}}])) * 100"#;

/// What a metric measures, so a source that cannot run PromQL (the simulator) computes the same
/// number from its own counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Measure {
    /// Responses per minute whose status matches `status` (an RE2 pattern, fully anchored).
    ResponsesPerMinute { status: String },
    /// Responses whose status matches, counted since the canary's pods started.
    ResponsesTotal { status: String },
    /// Share of responses, in percent, whose status matches.
    ResponseSharePercent { status: String },
    /// A latency quantile in milliseconds.
    LatencyQuantileMs { quantile: f64 },
    /// A user's own query: only Prometheus can answer it.
    Custom,
}

/// One metric of the analysis: a query, the limit it must stay at or under, and how bad a breach is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// A breach is a value strictly above this.
    pub threshold: f64,
    /// Shown after values: `/min`, `ms`, `responses`, `%`.
    pub unit: String,
    pub measure: Measure,
    /// PromQL template for absolute limits.
    pub query: String,
    /// PromQL template for comparison with the stable (a rate-independent form); absent = `query`.
    pub compare_query: Option<String>,
    pub compare_measure: Option<Measure>,
    pub compare_unit: Option<String>,
    /// In comparison mode the canary must also exceed this to breach, so noise near zero does not.
    pub compare_floor: f64,
}

impl MetricSpec {
    /// The template, measure and unit used in the given mode.
    pub fn for_mode(&self, compare: bool) -> (&str, &Measure, &str) {
        if compare {
            (
                self.compare_query.as_deref().unwrap_or(&self.query),
                self.compare_measure.as_ref().unwrap_or(&self.measure),
                self.compare_unit.as_deref().unwrap_or(&self.unit),
            )
        } else {
            (&self.query, &self.measure, &self.unit)
        }
    }
}

/// The checklist's alert table.
pub fn default_metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec {
            id: "errors-5xx".into(),
            title: "API Down: 5xx responses per minute".into(),
            severity: Severity::P1,
            threshold: 10.0,
            unit: "/min".into(),
            measure: Measure::ResponsesPerMinute {
                status: "5..".into(),
            },
            query: ERRORS_5XX_QUERY.into(),
            compare_query: Some(ERRORS_5XX_SHARE_QUERY.into()),
            compare_measure: Some(Measure::ResponseSharePercent {
                status: "5..".into(),
            }),
            compare_unit: Some("%".into()),
            compare_floor: 1.0,
        },
        MetricSpec {
            id: "latency-p99".into(),
            title: "High Latency: p99 response time".into(),
            severity: Severity::P2,
            threshold: 5000.0,
            unit: "ms".into(),
            measure: Measure::LatencyQuantileMs { quantile: 0.99 },
            query: LATENCY_P99_QUERY.into(),
            compare_query: None,
            compare_measure: None,
            compare_unit: None,
            compare_floor: 500.0,
        },
        MetricSpec {
            id: "rate-limited".into(),
            title: "Rate Limited: 429 responses per minute".into(),
            severity: Severity::P2,
            threshold: 5.0,
            unit: "/min".into(),
            measure: Measure::ResponsesPerMinute {
                status: "429".into(),
            },
            query: RATE_LIMITED_QUERY.into(),
            compare_query: Some(RATE_LIMITED_SHARE_QUERY.into()),
            compare_measure: Some(Measure::ResponseSharePercent {
                status: "429".into(),
            }),
            compare_unit: Some("%".into()),
            compare_floor: 1.0,
        },
        MetricSpec {
            id: "auth-failures".into(),
            title: "Auth Failures: 401/403 responses".into(),
            severity: Severity::P1,
            threshold: 0.0,
            unit: "responses".into(),
            measure: Measure::ResponsesTotal {
                status: "401|403".into(),
            },
            query: AUTH_FAILURES_QUERY.into(),
            compare_query: Some(AUTH_FAILURES_SHARE_QUERY.into()),
            compare_measure: Some(Measure::ResponseSharePercent {
                status: "401|403".into(),
            }),
            compare_unit: Some("%".into()),
            compare_floor: 0.0,
        },
    ]
}

/// Applies the config's metric entries to the defaults.
pub fn apply_overrides(
    mut metrics: Vec<MetricSpec>,
    overrides: &BTreeMap<String, MetricOverride>,
) -> Result<Vec<MetricSpec>, String> {
    for (id, o) in overrides {
        if !is_metric_id(id) {
            return Err(format!(
                "canary.metrics.{id}: a metric id is lowercase letters, digits and '-'"
            ));
        }
        let existing = metrics.iter_mut().find(|m| &m.id == id);
        match existing {
            Some(m) => {
                if let Some(v) = &o.title {
                    m.title.clone_from(v);
                }
                if let Some(v) = o.severity {
                    m.severity = v;
                }
                if let Some(v) = o.threshold {
                    m.threshold = v;
                }
                if let Some(v) = &o.unit {
                    m.unit.clone_from(v);
                }
                if let Some(v) = &o.query {
                    // A hand-written query means the simulator can no longer compute it.
                    m.query.clone_from(v);
                    m.measure = Measure::Custom;
                }
                if let Some(v) = &o.compare_query {
                    m.compare_query = Some(v.clone());
                    m.compare_measure = Some(Measure::Custom);
                }
                if let Some(v) = o.compare_floor {
                    m.compare_floor = v;
                }
            }
            None => {
                if o.enabled == Some(false) {
                    continue;
                }
                let (Some(query), Some(threshold)) = (&o.query, o.threshold) else {
                    return Err(format!(
                        "canary.metrics.{id}: a new metric needs `query` and `threshold` \
                         (the default metrics are errors-5xx, latency-p99, rate-limited, auth-failures)"
                    ));
                };
                metrics.push(MetricSpec {
                    id: id.clone(),
                    title: o.title.clone().unwrap_or_else(|| id.clone()),
                    severity: o.severity.unwrap_or(Severity::P2),
                    threshold,
                    unit: o.unit.clone().unwrap_or_default(),
                    measure: Measure::Custom,
                    query: query.clone(),
                    compare_query: o.compare_query.clone(),
                    compare_measure: o.compare_query.as_ref().map(|_| Measure::Custom),
                    compare_unit: None,
                    compare_floor: o.compare_floor.unwrap_or(0.0),
                });
            }
        }
    }
    metrics.retain(|m| overrides.get(&m.id).and_then(|o| o.enabled) != Some(false));
    if metrics.is_empty() {
        return Err("canary.metrics disables every metric: keep at least one".to_string());
    }
    Ok(metrics)
}

fn is_metric_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The values a template's `{{name}}` placeholders take for one track of one canary.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateVars {
    pub vars: BTreeMap<&'static str, String>,
}

/// Which pods a query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    Canary,
    Stable,
}

impl Track {
    pub fn label(self) -> &'static str {
        match self {
            Track::Canary => "canary",
            Track::Stable => "stable",
        }
    }
}

/// Metric and label names the templates refer to, overridable in the `canary:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    pub requests_metric: String,
    pub duration_metric: String,
    pub status_label: String,
    pub pod_label: String,
    pub namespace_label: String,
    pub track_label: String,
    pub scope: Scope,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            requests_metric: "http_requests_total".into(),
            duration_metric: "http_request_duration_seconds_bucket".into(),
            status_label: "status".into(),
            pod_label: "pod".into(),
            namespace_label: "namespace".into(),
            track_label: "track".into(),
            scope: Scope::PodName,
        }
    }
}

/// Pod names of a Deployment's pods: `<deployment>-<pod-template-hash>-<suffix>`.
pub fn pod_name_pattern(deployment: &str) -> String {
    // Names hold only [a-z0-9.-]; `[.]` keeps the pattern free of backslashes, which PromQL's
    // double-quoted strings would need doubled.
    format!("{}-[a-z0-9]+-[a-z0-9]+", deployment.replace('.', "[.]"))
}

/// Pods beyond which the canary's scope names its ReplicaSet hashes instead of each pod, to
/// keep the query short.
const MAX_NAMED_PODS: usize = 30;

/// The canary's pods as a pattern: before they exist, any pod of the canary Deployment; once
/// known, exactly those pods (or their ReplicaSet hashes when there are many). Exact names keep
/// an earlier canary's pods, whose series Prometheus still holds for a window after they are
/// gone, out of this canary's readings.
pub fn canary_pods_pattern(canary: &str, pods: &[String]) -> String {
    let escape = |name: &str| name.replace('.', "[.]");
    if pods.is_empty() {
        return pod_name_pattern(canary);
    }
    if pods.len() <= MAX_NAMED_PODS {
        let mut names: Vec<String> = pods.iter().map(|p| escape(p)).collect();
        names.sort();
        names.dedup();
        return names.join("|");
    }
    let prefix = format!("{canary}-");
    let mut hashes: Vec<&str> = pods
        .iter()
        .filter_map(|p| {
            p.strip_prefix(&prefix)?
                .rsplit_once('-')
                .map(|(hash, _)| hash)
        })
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    format!("{}-({})-[a-z0-9]+", escape(canary), hashes.join("|"))
}

impl TemplateVars {
    /// `pods` is the track's pod pattern ([`pod_name_pattern`], [`canary_pods_pattern`]).
    pub fn new(
        naming: &Naming,
        namespace: &str,
        (stable, canary): (&str, &str),
        track: Track,
        pods: &str,
        window: std::time::Duration,
    ) -> Self {
        let selector = match naming.scope {
            Scope::PodName => format!(
                r#"{}="{}",{}=~"{}""#,
                naming.namespace_label, namespace, naming.pod_label, pods
            ),
            Scope::TrackLabel => format!(
                r#"{}="{}",{}="{}""#,
                naming.namespace_label,
                namespace,
                naming.track_label,
                track.label()
            ),
        };
        let mut vars = BTreeMap::new();
        vars.insert("selector", selector);
        vars.insert("requests", naming.requests_metric.clone());
        vars.insert("duration", naming.duration_metric.clone());
        vars.insert("status", naming.status_label.clone());
        vars.insert("namespace", namespace.to_string());
        vars.insert("deployment", stable.to_string());
        vars.insert("canary", canary.to_string());
        vars.insert("track", track.label().to_string());
        vars.insert("pods", pods.to_string());
        vars.insert("window", prometheus_duration(window));
        TemplateVars { vars }
    }

    /// Fills in every `{{name}}` (the one template filler, the alert table's); an unknown name
    /// is an error naming it and the known ones.
    pub fn fill(&self, template: &str) -> Result<String, String> {
        crate::prometheus::alert_table::fill(template, &self.vars).map_err(|e| {
            format!(
                "{e} (known: {})",
                self.vars
                    .keys()
                    .map(|k| format!("{{{{{k}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

/// A Prometheus range duration: whole seconds (`90s`), at least 1s.
pub fn prometheus_duration(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn vars(track: Track, scope: Scope) -> TemplateVars {
        let naming = Naming {
            scope,
            ..Naming::default()
        };
        let pods = match track {
            Track::Canary => pod_name_pattern("web-canary"),
            Track::Stable => pod_name_pattern("web"),
        };
        TemplateVars::new(
            &naming,
            "prod",
            ("web", "web-canary"),
            track,
            &pods,
            Duration::from_secs(120),
        )
    }

    #[test]
    fn default_queries_fill_in_to_plain_promql() {
        let v = vars(Track::Canary, Scope::PodName);
        let q = v.fill(ERRORS_5XX_QUERY).unwrap();
        assert_eq!(
            q,
            r#"sum(rate(http_requests_total{namespace="prod",pod=~"web-canary-[a-z0-9]+-[a-z0-9]+",status=~"5.."}[120s])) * 60 or sum(rate(http_requests_total{namespace="prod",pod=~"web-canary-[a-z0-9]+-[a-z0-9]+"}[120s])) * 0"#
        );
        let p99 = v.fill(LATENCY_P99_QUERY).unwrap();
        assert!(
            p99.starts_with("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace=\"prod\""),
            "{p99}"
        );
        for m in default_metrics() {
            for template in [Some(&m.query), m.compare_query.as_ref()]
                .into_iter()
                .flatten()
            {
                let filled = v.fill(template).unwrap();
                assert!(!filled.contains("{{"), "{filled}");
                assert!(!filled.contains("}}"), "{filled}");
            }
        }
    }

    #[test]
    fn stable_scope_excludes_canary_pods() {
        let stable = vars(Track::Stable, Scope::PodName)
            .fill("{{selector}}")
            .unwrap();
        assert_eq!(stable, r#"namespace="prod",pod=~"web-[a-z0-9]+-[a-z0-9]+""#);
        let pattern = regex::Regex::new(&format!("^(?:{})$", pod_name_pattern("web"))).unwrap();
        assert!(pattern.is_match("web-5d8f7c9b4-x2x9k"));
        assert!(!pattern.is_match("web-canary-5d8f7c9b4-x2x9k"));
        let canary =
            regex::Regex::new(&format!("^(?:{})$", pod_name_pattern("web-canary"))).unwrap();
        assert!(canary.is_match("web-canary-5d8f7c9b4-x2x9k"));
    }

    #[test]
    fn known_canary_pods_are_named_exactly() {
        assert_eq!(
            canary_pods_pattern("web-canary", &[]),
            "web-canary-[a-z0-9]+-[a-z0-9]+"
        );
        assert_eq!(
            canary_pods_pattern(
                "web-canary",
                &[
                    "web-canary-7c9d-b2x4q".into(),
                    "web-canary-7c9d-a1z9k".into()
                ]
            ),
            "web-canary-7c9d-a1z9k|web-canary-7c9d-b2x4q"
        );
        let many: Vec<String> = (0..40)
            .map(|i| format!("web-canary-7c9d-p{i:04}"))
            .collect();
        assert_eq!(
            canary_pods_pattern("web-canary", &many),
            "web-canary-(7c9d)-[a-z0-9]+"
        );
        let v = vars(Track::Canary, Scope::PodName);
        assert!(v.fill("{{pods}}").unwrap().starts_with("web-canary-"));
    }

    #[test]
    fn track_label_scope() {
        let v = vars(Track::Canary, Scope::TrackLabel);
        assert_eq!(
            v.fill("{{selector}}").unwrap(),
            r#"namespace="prod",track="canary""#
        );
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let err = vars(Track::Canary, Scope::PodName)
            .fill("rate(x{{{selectr}}}[1m])")
            .unwrap_err();
        assert!(err.contains("{{selectr}}"), "{err}");
        assert!(err.contains("{{selector}}"), "{err}");
    }

    #[test]
    fn overrides_change_defaults_and_add_metrics() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "errors-5xx".to_string(),
            MetricOverride {
                threshold: Some(3.0),
                ..MetricOverride::default()
            },
        );
        overrides.insert(
            "rate-limited".to_string(),
            MetricOverride {
                enabled: Some(false),
                ..MetricOverride::default()
            },
        );
        overrides.insert(
            "queue-depth".to_string(),
            MetricOverride {
                query: Some("max(queue_depth{ {{selector}} })".into()),
                threshold: Some(100.0),
                severity: Some(Severity::P1),
                ..MetricOverride::default()
            },
        );
        let metrics = apply_overrides(default_metrics(), &overrides).unwrap();
        let ids: Vec<&str> = metrics.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["errors-5xx", "latency-p99", "auth-failures", "queue-depth"]
        );
        assert_eq!(metrics[0].threshold, 3.0);
        assert_eq!(metrics[0].measure, default_metrics()[0].measure);
        assert_eq!(metrics[3].measure, Measure::Custom);
        assert_eq!(metrics[3].severity, Severity::P1);
    }

    #[test]
    fn new_metric_without_query_is_refused() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "mystery".to_string(),
            MetricOverride {
                threshold: Some(1.0),
                ..MetricOverride::default()
            },
        );
        let err = apply_overrides(default_metrics(), &overrides).unwrap_err();
        assert!(err.contains("canary.metrics.mystery"), "{err}");
        assert!(err.contains("query"), "{err}");
    }

    #[test]
    fn overriding_a_query_makes_it_custom() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "latency-p99".to_string(),
            MetricOverride {
                query: Some("vector(1)".into()),
                ..MetricOverride::default()
            },
        );
        let metrics = apply_overrides(default_metrics(), &overrides).unwrap();
        assert_eq!(metrics[1].measure, Measure::Custom);
        assert_eq!(metrics[1].query, "vector(1)");
    }
}
