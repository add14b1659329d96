//! The tree under the status lines: each Deployment, its ReplicaSets with replicas, and their
//! pods (ready, restarts, age), drawn as `kubectl argo rollouts get` draws them.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use super::{Observed, age, owned_by};
use crate::ui::Styles;

pub(super) fn render_tree(
    line: &mut impl FnMut(String),
    name: &str,
    seen: &Observed,
    now: jiff::Timestamp,
    styles: &Styles,
) {
    line(String::new());
    line(format!(
        "{:<52} {:<11} {:<13} {:>4}  INFO",
        "NAME", "KIND", "STATUS", "AGE"
    ));
    let mut deployments = vec![(&seen.stable, "stable")];
    if let Some(canary) = &seen.canary {
        deployments.push((canary, "canary"));
    }
    for (d, track) in deployments {
        let ready = crate::kube::apps::ready_replicas(d);
        let want = crate::kube::apps::current_replicas(d);
        let status = if ready >= want {
            styles.good("✔ Healthy")
        } else {
            styles.warn("◌ Progressing")
        };
        line(format!(
            "{:<52} {:<11} {} {:>4}  {track}, {ready}/{want} ready, revision {}",
            format!("⟳ {}", d.metadata.name.as_deref().unwrap_or(name)),
            "Deployment",
            cell(&status, 13),
            age(d.metadata.creation_timestamp.as_ref(), now),
            revision(&d.metadata).unwrap_or("-")
        ));
        let mut sets: Vec<&ReplicaSet> = seen
            .replica_sets
            .iter()
            .filter(|r| owned_by(&r.metadata, d))
            .filter(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0)
            .collect();
        sets.sort_by_key(|r| std::cmp::Reverse(revision_number(&r.metadata)));
        for (i, rs) in sets.iter().enumerate() {
            let last_set = i + 1 == sets.len();
            let (branch, stem) = if last_set {
                ("└──", "   ")
            } else {
                ("├──", "│  ")
            };
            let ready = rs
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            line(format!(
                "{:<52} {:<11} {} {:>4}  revision {}, {ready}/{want} ready, {}",
                format!("{branch}⧉ {}", rs.metadata.name.as_deref().unwrap_or("")),
                "ReplicaSet",
                cell(
                    &if ready >= want {
                        styles.good("✔ Healthy")
                    } else {
                        styles.warn("◌ Progressing")
                    },
                    13
                ),
                age(rs.metadata.creation_timestamp.as_ref(), now),
                revision(&rs.metadata).unwrap_or("-"),
                rs_images(rs),
            ));
            let pods: Vec<&Pod> = seen.pods.iter().filter(|p| owned_by_rs(p, rs)).collect();
            for (j, pod) in pods.iter().enumerate() {
                let twig = if j + 1 == pods.len() {
                    "└──"
                } else {
                    "├──"
                };
                let (status, info) = pod_status(pod, styles);
                line(format!(
                    "{:<52} {:<11} {} {:>4}  {info}",
                    format!(
                        "{stem}{twig}□ {}",
                        pod.metadata.name.as_deref().unwrap_or("")
                    ),
                    "Pod",
                    cell(&status, 13),
                    age(pod.metadata.creation_timestamp.as_ref(), now),
                ));
            }
        }
    }
}

/// `text` padded to `width` visible characters (colour codes take no room).
fn cell(text: &str, width: usize) -> String {
    let mut visible = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => visible += 1,
        }
    }
    format!("{text}{}", " ".repeat(width.saturating_sub(visible)))
}

fn owned_by_rs(pod: &Pod, rs: &ReplicaSet) -> bool {
    let uid = rs.metadata.uid.as_deref();
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid)
}

fn revision(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")
        .map(String::as_str)
}

fn revision_number(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> i64 {
    revision(meta).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn rs_images(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A pod's status word and its `ready:1/1, restarts:2` info.
fn pod_status(pod: &Pod, styles: &Styles) -> (String, String) {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_ref())
        .cloned()
        .unwrap_or_default();
    let ready = containers.iter().filter(|c| c.ready).count();
    let total = pod
        .spec
        .as_ref()
        .map_or(containers.len(), |s| s.containers.len());
    let restarts: i32 = containers.iter().map(|c| c.restart_count).sum();
    let waiting = containers.iter().find_map(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
    });
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let word = match (terminating, waiting, status.and_then(|s| s.phase.clone())) {
        (true, _, _) => styles.warn("◌ Terminating"),
        (_, Some(reason), _) => styles.bad(&format!("✖ {reason}")),
        (_, None, Some(phase)) if phase == "Running" && ready == total => styles.good("✔ Running"),
        (_, None, Some(phase)) => styles.warn(&format!("◌ {phase}")),
        _ => styles.warn("◌ Pending"),
    };
    let mut info = format!("ready:{ready}/{total}");
    if restarts > 0 {
        info.push_str(&format!(", restarts:{restarts}"));
    }
    (word, info)
}
