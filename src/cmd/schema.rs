//! The JSON Schema of the report every command prints with `-o json` (and `-o yaml`), generated
//! from the types: the `Report` itself, and per `command` the `details` types that command
//! writes (each a [`CommandDetails`]). Published as `docs/report.schema.json`; a test keeps the
//! file current and the end-to-end suite validates every command's JSON output against it.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::report::{CommandDetails, Report};

/// Where the schema is published in the repository.
pub const PUBLISHED_PATH: &str = "docs/report.schema.json";

/// The details types of every command (several for `canary`: a run, `status`, `promote`,
/// `abort`). A command not listed accepts any `details`.
fn details_types(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, Value)> {
    fn of<D: CommandDetails>(generator: &mut schemars::SchemaGenerator) -> (&'static str, Value) {
        (D::COMMAND, generator.subschema_for::<D>().to_value())
    }
    vec![
        of::<crate::rollout::history::HistoryDetails>(generator),
        of::<crate::checks::summary::PreflightDetails>(generator),
        of::<crate::evidence::triage_report::TriageDetails>(generator),
        of::<crate::evidence::bundle_report::EvidenceDetails>(generator),
        of::<crate::notify::NotifyDetails>(generator),
        of::<crate::rotate::Rotation>(generator),
        of::<crate::canary::details::CanaryDetails>(generator),
        of::<crate::rollback::details::RollbackDetails>(generator),
        of::<crate::canary::state::CanaryState>(generator),
    ]
}

/// The whole schema, as published.
pub fn report_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut root = generator.root_schema_for::<Report>().to_value();
    let mut per_command: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (command, schema) in details_types(&mut generator) {
        match per_command.iter_mut().find(|(c, _)| *c == command) {
            Some((_, schemas)) => schemas.push(schema),
            None => per_command.push((command, vec![schema])),
        }
    }
    let mut rules = Vec::new();
    for (command, schemas) in per_command {
        rules.push(json!({
            "if": {"properties": {"command": {"const": command}}, "required": ["command"]},
            "then": {"properties": {"details": {"anyOf": schemas}}},
        }));
    }
    let defs = generator.take_definitions(true);
    if let Some(object) = root.as_object_mut() {
        object.insert(
            "$id".to_string(),
            json!("https://github.com/kubectl-posthog/kubectl-posthog/blob/main/docs/report.schema.json"),
        );
        object.insert(
            "title".to_string(),
            json!(format!(
                "kubectl-posthog report, schemaVersion {}",
                crate::report::SCHEMA_VERSION
            )),
        );
        if !rules.is_empty() {
            object.insert("allOf".to_string(), Value::Array(rules));
        }
        let existing = object
            .entry("$defs")
            .or_insert_with(|| Value::Object(Default::default()));
        if let (Some(existing), Value::Object(new)) = (existing.as_object_mut(), Value::from(defs))
        {
            existing.extend(new);
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `UPDATE_SCHEMA=1 cargo test --lib published_schema` rewrites the file after a change of
    /// the report types; otherwise a stale file fails here.
    #[test]
    fn published_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PUBLISHED_PATH);
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(&report_schema()).expect("a schema serialises")
        );
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write the schema");
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "{PUBLISHED_PATH} is stale: run `UPDATE_SCHEMA=1 cargo test --lib published_schema`"
        );
    }

    #[test]
    fn a_report_validates_and_a_broken_one_does_not() {
        let schema = report_schema();
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let report = serde_json::to_value(crate::report::tests::sample_report()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let mut broken = report.clone();
        broken["findings"][0]["status"] = json!("great");
        assert!(!validator.is_valid(&broken));
        let mut broken = report;
        broken["verdict"]["counts"] = json!(null);
        assert!(!validator.is_valid(&broken));
    }
}
