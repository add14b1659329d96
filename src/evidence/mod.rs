//! Incident evidence and triage: collectors, redaction, the bundle writer, postmortem and the runbook's decision tree.

pub mod actions;
pub mod bundle;
pub mod facts;
pub mod logs;
pub mod metrics;
pub mod redact;
pub mod redact_stream;
pub mod secrets;
pub mod sources;
pub mod triage;
pub mod workload;

use serde::Deserialize;

/// The `evidence:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceConfig {}
