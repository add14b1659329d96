//! A Deployment's revisions as a person chooses among them: the images each ran, why it was
//! made (change-cause), how old it is and which one runs now — `kubectl rollout history` with
//! the columns it leaves out — and the template diff `rollback --dry-run` prints.

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use schemars::JsonSchema;
use serde::Serialize;

use super::undo::{self, CHANGE_CAUSE_ANNOTATION, UndoError};
use crate::redact::{Redactor, is_sensitive_name, redacted_value};
use crate::report::CommandDetails;
use crate::ui::Styles;

/// `rollback history -o json`: the revisions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryDetails {
    pub revisions: Vec<RevisionRow>,
}

impl CommandDetails for HistoryDetails {
    const COMMAND: &'static str = "rollback-history";
}

/// One revision of the history.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionRow {
    pub revision: i64,
    pub replica_set: String,
    /// `container=image` for every container (init containers first).
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<jiff::Timestamp>,
    /// The Deployment's template is this revision's.
    pub current: bool,
    pub replicas: i32,
    pub ready: i32,
}

/// The history in revision order, oldest first.
pub fn revision_rows(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
) -> Result<Vec<RevisionRow>, UndoError> {
    let template = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let redactor = Redactor::patterns_only();
    let mut rows: Vec<RevisionRow> = undo::history(deployment, replica_sets)?
        .into_iter()
        .map(|r| {
            let rs = r.replica_set;
            let rs_template = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.clone())
                .unwrap_or_default();
            RevisionRow {
                revision: r.number,
                replica_set: rs.metadata.name.clone().unwrap_or_default(),
                images: images(&rs_template),
                // `kubectl set env … DB_PASSWORD=…` is recorded verbatim: redacted, as the
                // evidence bundle's rollout-history.txt is.
                change_cause: rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
                    .map(|cause| redactor.redact_str(cause).0.into_owned()),
                created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                current: undo::equal_ignore_hash(&rs_template, &template),
                replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
                ready: rs
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.revision);
    Ok(rows)
}

fn images(template: &PodTemplateSpec) -> Vec<String> {
    template
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .map(|c| format!("{}={}", c.name, c.image.as_deref().unwrap_or("")))
        .collect()
}

/// kubectl's short ages: `45s`, `12m`, `5h`, `3d`.
pub fn short_age(now: jiff::Timestamp, then: jiff::Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The terminal table: one line per revision, the current one marked.
pub fn render_table(
    name: &str,
    rows: &[RevisionRow],
    now: jiff::Timestamp,
    styles: &Styles,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", styles.bold(&format!("deployment.apps/{name}")));
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.revision.to_string(),
                if r.current { "*".into() } else { String::new() },
                format!("{}/{}", r.ready, r.replicas),
                r.created.map_or_else(|| "-".into(), |t| short_age(now, t)),
                r.images.join(","),
                r.change_cause.clone().unwrap_or_else(|| "<none>".into()),
            ]
        })
        .collect();
    let header = [
        "REVISION",
        "CURRENT",
        "READY",
        "AGE",
        "IMAGES",
        "CHANGE-CAUSE",
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cols: [&str; 6]| {
        let mut text = String::new();
        for (i, col) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                text.push_str(col);
            } else {
                let _ = write!(text, "{col:<w$}  ", w = widths[i]);
            }
        }
        text.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", styles.bold(&line(header)));
    for (row, c) in rows.iter().zip(&cells) {
        let text = line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]);
        let text = if row.current {
            styles.good(&text)
        } else {
            text
        };
        let _ = writeln!(out, "{text}");
    }
    if rows.is_empty() {
        let _ = writeln!(out, "no rollout history found");
    }
    out
}

/// The same table in Markdown, for PR comments and job summaries.
pub fn render_markdown(name: &str, rows: &[RevisionRow], now: jiff::Timestamp) -> String {
    let mut out = format!(
        "### Rollout history of `deployment/{name}`\n\n| revision | current | ready | age | images | change-cause |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} | {} | {} |",
            r.revision,
            if r.current { "yes" } else { "" },
            r.ready,
            r.replicas,
            r.created.map_or_else(|| "-".into(), |t| short_age(now, t)),
            r.images
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(" "),
            r.change_cause.as_deref().unwrap_or("").replace('|', "\\|")
        );
    }
    out
}

/// A unified diff of two pod templates rendered as YAML (hash labels removed).
/// The unified diff of two templates, with every credential blanked on both sides
/// ([`redact_document`]); a credential whose value differs is named below the diff, so a changed
/// `DATABASE_PASSWORD` is seen without either value being printed.
pub fn template_diff(
    current: &PodTemplateSpec,
    current_label: &str,
    target: &PodTemplateSpec,
    target_label: &str,
) -> String {
    let redactor = Redactor::patterns_only();
    let yaml = |t: &PodTemplateSpec| {
        let (value, _) = redacted_value(&undo::without_hash(t), &redactor);
        serde_saphyr::to_string(&value).unwrap_or_default()
    };
    let (old, new) = (yaml(current), yaml(target));
    let mut diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(current_label, target_label)
        .to_string();
    for name in changed_credentials(current, target) {
        let _ = writeln!(diff, "# {name}: the value differs (not shown)");
    }
    diff
}

/// `container/ENV` for every credential-named literal env var whose value differs between the
/// templates (or exists on one side only).
fn changed_credentials(a: &PodTemplateSpec, b: &PodTemplateSpec) -> Vec<String> {
    let literals = |t: &PodTemplateSpec| -> std::collections::BTreeMap<String, String> {
        t.spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .flat_map(|c| {
                c.env.iter().flatten().filter_map(move |e| {
                    let value = e.value.as_ref()?;
                    is_sensitive_name(&e.name)
                        .then(|| (format!("{}/{}", c.name, e.name), value.clone()))
                })
            })
            .collect()
    };
    let (a, b) = (literals(a), literals(b));
    let mut names: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rollout::undo::tests::{deployment, replica_set, running_replica_set};

    fn rows() -> Vec<RevisionRow> {
        let d = deployment("app:3", "3", json!({}));
        let mut current = running_replica_set(&d, "web-c", "3");
        current.spec.as_mut().unwrap().replicas = Some(3);
        current.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T09:00:00Z".parse().unwrap(),
            ));
        let mut old = replica_set("web-a", Some("1"), "app:1", "dep-uid");
        old.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2025-12-29T10:00:00Z".parse().unwrap(),
            ));
        old.metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(CHANGE_CAUSE_ANNOTATION);
        revision_rows(&d, &[current, old]).unwrap()
    }

    #[test]
    fn rows_are_ordered_and_mark_the_running_revision() {
        let rows = rows();
        let summary: Vec<(i64, bool, &str)> = rows
            .iter()
            .map(|r| (r.revision, r.current, r.images[0].as_str()))
            .collect();
        assert_eq!(summary, [(1, false, "app=app:1"), (3, true, "app=app:3")]);
        assert_eq!(rows[1].change_cause.as_deref(), Some("deploy app:3"));
    }

    #[test]
    fn table_snapshot() {
        let now = "2026-01-01T10:00:00Z".parse().unwrap();
        insta::assert_snapshot!(render_table("web", &rows(), now, &Styles::plain()), @r"
        deployment.apps/web
        REVISION  CURRENT  READY  AGE  IMAGES     CHANGE-CAUSE
        1                  0/0    3d   app=app:1  <none>
        3         *        0/3    60m  app=app:3  deploy app:3
        ");
        assert!(
            render_markdown("web", &rows(), now)
                .contains("| 3 | yes | 0/3 | 60m | `app=app:3` | deploy app:3 |")
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now: jiff::Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        let ago = |s: i64| now - jiff::SignedDuration::from_secs(s);
        assert_eq!(short_age(now, ago(59)), "59s");
        assert_eq!(short_age(now, ago(600)), "10m");
        assert_eq!(short_age(now, ago(5 * 3600)), "5h");
        assert_eq!(short_age(now, ago(3 * 86400)), "3d");
    }

    #[test]
    fn diff_shows_only_what_the_rollback_changes() {
        let d = deployment("app:3", "3", json!({}));
        let target = replica_set("web-a", Some("1"), "app:1", "dep-uid");
        let diff = template_diff(
            &d.spec.unwrap().template,
            "current (revision 3)",
            &target.spec.unwrap().template.unwrap(),
            "target (revision 1)",
        );
        assert!(
            diff.starts_with("--- current (revision 3)\n+++ target (revision 1)\n"),
            "{diff}"
        );
        assert!(
            diff.contains("-    image: app:3\n") && diff.contains("+  - image: app:1\n"),
            "{diff}"
        );
        assert!(diff.contains("-    - name: MODE\n"), "{diff}");
        assert!(!diff.contains(undo::HASH_LABEL), "{diff}");
    }

    fn with_env(image: &str, env: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": image, "env": env}]}
        }))
        .unwrap()
    }

    /// Issue 14 item 2: `rollback --dry-run` printed a full `phs_` key and both sides of a
    /// changed DATABASE_PASSWORD.
    #[test]
    fn the_template_diff_shows_no_credential_and_names_a_changed_one() {
        let key = "phs_Qw3Er4Ty5Ui6Op7As8Df9Gh0Jk1Lz2Xc3Vb4Nm5Q";
        let current = with_env(
            "app:2",
            json!([{"name": "DATABASE_PASSWORD", "value": "new-db-password-1"},
                   {"name": "FLAGS_KEY", "value": key}]),
        );
        let target = with_env(
            "app:1",
            json!([{"name": "DATABASE_PASSWORD", "value": "old-db-password-0"},
                   {"name": "FLAGS_KEY", "value": key}]),
        );
        let diff = template_diff(&current, "current", &target, "revision 1");
        for secret in ["new-db-password-1", "old-db-password-0", &key[4..]] {
            assert!(!diff.contains(secret), "{secret} in\n{diff}");
        }
        assert!(diff.contains("+    image: app:1"), "{diff}");
        assert!(
            diff.contains("# app/DATABASE_PASSWORD: the value differs (not shown)"),
            "{diff}"
        );
        assert!(!diff.contains("FLAGS_KEY: the value differs"), "{diff}");
    }

    /// Issue 14 item 2: `rollback history` printed `kubectl set env … DB_PASSWORD=…` as recorded.
    #[test]
    fn change_causes_are_redacted() {
        let d = deployment("app:3", "3", json!({}));
        let mut rs = running_replica_set(&d, "web-c", "3");
        rs.metadata.annotations.as_mut().unwrap().insert(
            CHANGE_CAUSE_ANNOTATION.into(),
            "kubectl set env deploy/web DB_PASSWORD=hunter2-cause DB_PASS=other-cause".into(),
        );
        let rows = revision_rows(&d, &[rs]).unwrap();
        let cause = rows[0].change_cause.as_deref().unwrap();
        assert_eq!(
            cause,
            "kubectl set env deploy/web DB_PASSWORD=[REDACTED] DB_PASS=[REDACTED]"
        );
    }
}
