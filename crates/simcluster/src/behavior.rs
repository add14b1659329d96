//! Scripted pod behaviour, chosen per container image: when the pod becomes ready (or never,
//! or crash-loops), what traffic it serves, what its health endpoint answers, what it logs and
//! how much CPU, memory and custom metrics it uses (what the HPA controller reads).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

/// How the pod's main container behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Becomes ready `ready_after` after it starts.
    Ready,
    /// Runs, but its readiness probe never passes.
    NeverReady,
    /// Runs for `after`, then exits with `exit_code` (`reason` is `Error`, `OOMKilled`, …),
    /// and restarts with Kubernetes' growing back-off.
    CrashLoop {
        after: Duration,
        exit_code: i32,
        reason: String,
    },
}

/// Synthetic HTTP traffic a ready pod serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    pub rps: f64,
    /// Share of each status code; normalised if they do not sum to 1.
    pub status_shares: Vec<(u16, f64)>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            rps: 10.0,
            status_shares: vec![(200, 1.0)],
            latency_p50_ms: 20.0,
            latency_p99_ms: 100.0,
        }
    }
}

/// What the pod's health endpoint answers through the service or pod proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthScript {
    pub status: u16,
    pub body: Value,
}

impl Default for HealthScript {
    fn default() -> Self {
        HealthScript {
            status: 200,
            body: json!({"status": "healthy", "posthog": {"connected": true, "latencyMs": 42}}),
        }
    }
}

/// The container's log. `lines` are templates emitted one every `every` (in turn, looping);
/// placeholders: `{n}` (line number), `{pod}`, `{namespace}`, `{container}`, `{ts}`.
/// `bulk_bytes` of filler lines are logged at start-up, generated lazily when read.
/// `previous_lines` is what the previous (crashed) container logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LogScript {
    pub lines: Vec<String>,
    pub every: Duration,
    pub bulk_bytes: u64,
    pub previous_lines: Vec<String>,
}

impl Default for LogScript {
    fn default() -> Self {
        LogScript {
            lines: vec![
                "level=info msg=\"request handled\" method=GET path=/api/orders status=200 n={n}"
                    .into(),
                "level=info msg=\"posthog: flushed batch\" events=12 n={n}".into(),
            ],
            every: Duration::from_secs(1),
            bulk_bytes: 0,
            previous_lines: vec![
                "level=info msg=\"starting\" pod={pod}".into(),
                "level=error msg=\"fatal: exiting\" pod={pod}".into(),
            ],
        }
    }
}

/// One usage figure of a running pod: `base + per_rps × (requests/s it serves)`, where the
/// requests it serves are its share of a load set with `SimCluster::set_load` (0 without
/// one). `per_rps` is the image's cost per request: a worse image uses more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricScript {
    pub base: f64,
    pub per_rps: f64,
}

impl MetricScript {
    /// The same value whatever the load.
    pub fn fixed(value: f64) -> Self {
        MetricScript {
            base: value,
            per_rps: 0.0,
        }
    }
}

/// What a running pod of the image uses, as metrics-server and a custom metrics adapter
/// would report it to the HPA controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// CPU in millicores.
    pub cpu: MetricScript,
    /// Memory in bytes.
    pub memory: MetricScript,
    /// Custom per-pod metrics (HPA `type: Pods`) by metric name, in the metric's unit.
    pub pods: BTreeMap<String, MetricScript>,
}

impl Default for Usage {
    /// A modest constant (10m CPU, 64 MiB) plus 1 millicore per request/s of load.
    fn default() -> Self {
        Usage {
            cpu: MetricScript {
                base: 10.0,
                per_rps: 1.0,
            },
            memory: MetricScript::fixed(64.0 * 1024.0 * 1024.0),
            pods: BTreeMap::new(),
        }
    }
}

/// Everything scripted about pods running one image.
#[derive(Debug, Clone, PartialEq)]
pub struct PodBehavior {
    pub ready_after: Duration,
    pub readiness: Readiness,
    pub traffic: Traffic,
    pub health: HealthScript,
    pub logs: LogScript,
    pub usage: Usage,
}

impl Default for PodBehavior {
    fn default() -> Self {
        PodBehavior {
            ready_after: Duration::from_secs(1),
            readiness: Readiness::Ready,
            traffic: Traffic::default(),
            health: HealthScript::default(),
            logs: LogScript::default(),
            usage: Usage::default(),
        }
    }
}

/// Scripts by image: exact names win over `prefix*` patterns (longest prefix first).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scripts {
    pub(crate) default: PodBehavior,
    exact: BTreeMap<String, PodBehavior>,
    prefixes: Vec<(String, PodBehavior)>,
    /// `(secret, key, value)`: pods started while that Secret key held that value (their env
    /// reads it through `secretKeyRef`) behave so, whatever their image: a key that is revoked.
    by_secret_value: Vec<((String, String, String), PodBehavior)>,
}

impl Scripts {
    pub(crate) fn new(default: PodBehavior) -> Self {
        Scripts {
            default,
            ..Default::default()
        }
    }

    pub(crate) fn set(&mut self, image: &str, b: PodBehavior) {
        match image.strip_suffix('*') {
            Some(prefix) => {
                self.prefixes.retain(|(p, _)| p != prefix);
                self.prefixes.push((prefix.to_string(), b));
                self.prefixes
                    .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            }
            None => {
                self.exact.insert(image.to_string(), b);
            }
        }
    }

    pub(crate) fn set_secret_value(
        &mut self,
        secret: &str,
        key: &str,
        value: &str,
        b: PodBehavior,
    ) {
        let id = (secret.to_string(), key.to_string(), value.to_string());
        self.by_secret_value.retain(|(i, _)| *i != id);
        self.by_secret_value.push((id, b));
    }

    /// The script for a pod whose env, when it started, read these `(secret, key, value)`.
    pub(crate) fn for_secret_values(
        &self,
        read: &[(String, String, String)],
    ) -> Option<&PodBehavior> {
        self.by_secret_value
            .iter()
            .find(|(id, _)| read.contains(id))
            .map(|(_, b)| b)
    }

    pub(crate) fn for_image(&self, image: &str) -> &PodBehavior {
        if let Some(b) = self.exact.get(image) {
            return b;
        }
        self.prefixes
            .iter()
            .find(|(p, _)| image.starts_with(p.as_str()))
            .map(|(_, b)| b)
            .unwrap_or(&self.default)
    }

    /// Every scripted latency, so the histogram gets a bucket at each.
    pub(crate) fn latencies_ms(&self) -> Vec<f64> {
        std::iter::once(&self.default)
            .chain(self.exact.values())
            .chain(self.prefixes.iter().map(|(_, b)| b))
            .flat_map(|b| [b.traffic.latency_p50_ms, b.traffic.latency_p99_ms])
            .collect()
    }
}

/// The `(secret, key)` pairs the pod's first container reads through `env[].valueFrom.secretKeyRef`.
pub(crate) fn secret_refs(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/spec/containers/0/env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let r = e.pointer("/valueFrom/secretKeyRef")?;
            Some((
                r.get("name")?.as_str()?.to_string(),
                r.get("key")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The image of the pod's first container: the one whose script applies.
pub(crate) fn pod_image(pod: &Value) -> &str {
    pod.get("spec")
        .and_then(|s| s.get("containers"))
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_prefix() {
        let mut s = Scripts::new(PodBehavior::default());
        let never = PodBehavior {
            readiness: Readiness::NeverReady,
            ..Default::default()
        };
        let slow = PodBehavior {
            ready_after: Duration::from_secs(30),
            ..Default::default()
        };
        s.set("app:*", never.clone());
        s.set("app:slow", slow.clone());
        assert_eq!(s.for_image("app:slow"), &slow);
        assert_eq!(s.for_image("app:v2"), &never);
        assert_eq!(s.for_image("other"), &PodBehavior::default());
    }
}
