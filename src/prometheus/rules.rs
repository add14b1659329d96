//! The Prometheus rules API (`GET /api/v1/rules?type=alert`), read for the preflight's alerting
//! check when the alerts live in Prometheus configuration rather than PrometheusRule objects:
//! each alerting rule's name, expression, `for:` (`duration`), severity label and file.
//!
//! Parsed here rather than with prometheus-http-query's `rules()`: its `AlertingRule` requires
//! `keepFiringFor`, `evaluationTime` and `lastEvaluation`, which Prometheus before 2.42 does not
//! send, and this check only needs each rule's name, query and severity label.

use serde::Deserialize;

/// One alerting rule as Prometheus reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub name: String,
    pub expr: String,
    pub group: String,
    /// The rule file Prometheus read it from.
    pub file: Option<String>,
    pub severity: Option<String>,
    /// The rule's `for:`, in seconds.
    pub for_seconds: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("read alert rules from {url}: {detail}")]
    Request { url: String, detail: String },
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<RulesData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct RulesData {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    /// `for:` in seconds.
    #[serde(default)]
    duration: Option<f64>,
}

/// Parses the rules API answer, keeping alerting rules only.
pub fn parse_rules(body: &str) -> Result<Vec<RuleInfo>, String> {
    let envelope: Envelope =
        serde_json::from_str(body).map_err(|e| format!("not a rules API answer: {e}"))?;
    if envelope.status != "success" {
        return Err(envelope
            .error
            .unwrap_or_else(|| format!("status {}", envelope.status)));
    }
    let groups = envelope.data.map(|d| d.groups).unwrap_or_default();
    Ok(groups
        .into_iter()
        .flat_map(|g| {
            let group = g.name;
            let file = g.file;
            g.rules
                .into_iter()
                .filter(|r| r.kind == "alerting")
                .map(move |r| RuleInfo {
                    name: r.name,
                    expr: r.query,
                    group: group.clone(),
                    file: file.clone(),
                    severity: r.labels.get("severity").cloned(),
                    for_seconds: r.duration.filter(|d| *d > 0.0),
                })
        })
        .collect())
}

impl super::Prometheus {
    /// `GET /api/v1/rules?type=alert`, with the same credentials as every other query.
    pub async fn alert_rules(&self) -> Result<Vec<RuleInfo>, RulesError> {
        let fail = |detail: String| RulesError::Request {
            url: format!("{}/api/v1/rules?type=alert", self.url()),
            detail,
        };
        let body = self.get_api("rules?type=alert").await.map_err(fail)?;
        parse_rules(&body).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_answer() {
        let body = r#"{"status":"success","data":{"groups":[{"name":"posthog","file":"/etc/prometheus/rules.yml","rules":[
            {"state":"inactive","name":"PostHogApiDown","query":"sum(increase(http_requests_total{status=~\"5..\"}[1m])) > 10","duration":60,"labels":{"severity":"P1"},"annotations":{},"alerts":[],"health":"ok","type":"alerting"},
            {"name":"job:rate","query":"rate(x[5m])","health":"ok","type":"recording"}],"interval":30}]}}"#;
        let rules = parse_rules(body).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].name, "PostHogApiDown");
        assert_eq!(rules[0].severity.as_deref(), Some("P1"));
        assert_eq!(rules[0].for_seconds, Some(60.0));
        assert_eq!(rules[0].file.as_deref(), Some("/etc/prometheus/rules.yml"));
        assert!(rules[0].expr.contains("5.."));
        assert!(
            parse_rules(r#"{"status":"error","errorType":"bad_data","error":"nope"}"#)
                .unwrap_err()
                .contains("nope")
        );
        assert!(parse_rules("<html>").is_err());
    }
}
