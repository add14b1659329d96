//! The integration's own health endpoint, as the checklist writes it:
//! `{"status": "healthy", "posthog": {"connected": true, "latencyMs": 42}}`.
//! The runbook reads `.services.posthog` instead, so that shape is accepted too.

use serde::Serialize;
use serde_json::Value;

/// What a health body says about PostHog connectivity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The top-level `status` (`healthy`, `degraded`, …) when present.
    pub status: Option<String>,
    /// Which shape the body had.
    pub shape: HealthShape,
    /// `posthog.connected` (or `services.posthog.connected`, or a status read as connected).
    pub connected: Option<bool>,
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthShape {
    /// `{"status", "posthog": {"connected", "latencyMs"}}` (the checklist).
    Checklist,
    /// `{"services": {"posthog": {...}}}` (the runbook's `jq '.services.posthog'`).
    Runbook,
    /// JSON without any PostHog entry: the endpoint does not report PostHog connectivity.
    NoPostHog,
}

impl HealthReport {
    /// The checklist's bar: the endpoint reports PostHog and says it is connected.
    pub fn posthog_connected(&self) -> bool {
        self.connected == Some(true)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(status) = &self.status {
            parts.push(format!("status {status}"));
        }
        match (self.shape, self.connected) {
            (HealthShape::NoPostHog, _) => parts.push("no posthog entry".to_string()),
            (_, Some(connected)) => parts.push(format!("posthog.connected={connected}")),
            (_, None) => parts.push("posthog.connected missing".to_string()),
        }
        if let Some(latency) = self.latency_ms {
            parts.push(format!("latency {latency:.0} ms"));
        }
        parts.join(", ")
    }
}

/// Parses a health body; only a body that is not JSON at all is an error.
pub fn parse_health(body: &str) -> Result<HealthReport, serde_json::Error> {
    let value: Value = serde_json::from_str(body)?;
    let status = value.get("status").and_then(status_text);
    let (shape, entry) = if let Some(entry) = value.get("posthog") {
        (HealthShape::Checklist, Some(entry))
    } else if let Some(entry) = value.pointer("/services/posthog") {
        (HealthShape::Runbook, Some(entry))
    } else {
        (HealthShape::NoPostHog, None)
    };
    let (connected, latency_ms) = match entry {
        Some(entry) => (connected(entry), latency(entry)),
        None => (None, None),
    };
    Ok(HealthReport {
        status,
        shape,
        connected,
        latency_ms,
    })
}

fn status_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn connected(entry: &Value) -> Option<bool> {
    match entry {
        Value::Bool(b) => Some(*b),
        Value::String(s) => status_means_up(s),
        Value::Object(map) => map.get("connected").and_then(Value::as_bool).or_else(|| {
            map.get("status")
                .and_then(Value::as_str)
                .and_then(status_means_up)
        }),
        _ => None,
    }
}

fn status_means_up(status: &str) -> Option<bool> {
    match status.to_ascii_lowercase().as_str() {
        "ok" | "up" | "healthy" | "connected" | "pass" | "operational" => Some(true),
        "down" | "degraded" | "unhealthy" | "disconnected" | "fail" | "error" => Some(false),
        _ => None,
    }
}

fn latency(entry: &Value) -> Option<f64> {
    ["latencyMs", "latency_ms", "latency"]
        .iter()
        .find_map(|k| entry.get(*k).and_then(Value::as_f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checklist_shape() {
        let report =
            parse_health(r#"{"status":"healthy","posthog":{"connected":true,"latencyMs":42}}"#)
                .unwrap();
        assert_eq!(report.shape, HealthShape::Checklist);
        assert!(report.posthog_connected());
        assert_eq!(report.latency_ms, Some(42.0));
        assert_eq!(
            report.describe(),
            "status healthy, posthog.connected=true, latency 42 ms"
        );
    }

    #[test]
    fn degraded_checklist_shape() {
        let report =
            parse_health(r#"{"status":"degraded","posthog":{"connected":false,"latencyMs":5003}}"#)
                .unwrap();
        assert!(!report.posthog_connected());
        assert_eq!(report.status.as_deref(), Some("degraded"));
    }

    #[test]
    fn runbook_shape() {
        let report = parse_health(
            r#"{"status":"ok","services":{"posthog":{"status":"up","latency_ms":7}}}"#,
        )
        .unwrap();
        assert_eq!(report.shape, HealthShape::Runbook);
        assert!(report.posthog_connected());
        assert_eq!(report.latency_ms, Some(7.0));
    }

    #[test]
    fn health_without_posthog_is_reported_as_such() {
        let report = parse_health(r#"{"status":"ok"}"#).unwrap();
        assert_eq!(report.shape, HealthShape::NoPostHog);
        assert!(!report.posthog_connected());
        assert!(parse_health("OK").is_err());
    }
}
