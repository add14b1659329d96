//! `canary status --watch` (alias `canary get -w`): the canary as a live tree, the way
//! `kubectl argo rollouts get rollout --watch` shows a Rollout — the stable and the canary with
//! their images and revisions, their ReplicaSets and pods (ready, restarts, age), the step list
//! with the current one marked, the last analysis with its values, and the time elapsed.
//! [`observe`] reads; [`render`] is pure, so a frame is a snapshot test.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;

use super::analysis::ReadingStatus;
use super::objects::{self, canary_name};
use super::ops::Apis;
use super::plan::CanaryStep;
use super::state::{self, CanaryState, Phase};
use crate::error::Result;
use crate::ui::Styles;

mod rows;
use rows::render_tree;

/// What one frame shows, as read.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub stable: Deployment,
    pub canary: Option<Deployment>,
    pub state: Option<CanaryState>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
}

impl Observed {
    /// Changes whenever any object shown changes (the resourceVersions), not with the clock:
    /// without a terminal a new frame is printed only then.
    pub fn version_key(&self) -> String {
        let rv = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.resource_version.clone().unwrap_or_default()
        };
        let mut key = vec![
            rv(&self.stable.metadata),
            self.canary
                .as_ref()
                .map(|c| rv(&c.metadata))
                .unwrap_or_default(),
            serde_json::to_string(&self.state).unwrap_or_default(),
        ];
        key.extend(self.replica_sets.iter().map(|r| rv(&r.metadata)));
        key.extend(self.pods.iter().map(|p| rv(&p.metadata)));
        key.join("/")
    }

    /// The canary ended (or none was ever recorded): the watch stops after this frame.
    pub fn ended(&self) -> bool {
        self.state.as_ref().is_none_or(|s| s.phase.is_terminal())
    }
}

/// Reads the stable, its Lease, the canary Deployment, and the ReplicaSets and pods of both.
pub async fn observe(apis: &Apis, name: &str) -> Result<Observed> {
    let canary_name = canary_name(name);
    let (stable, stored, canary) = tokio::try_join!(
        apis.get(name),
        apis.read_stored(name),
        apis.get_opt(&canary_name)
    )?;
    let mut replica_sets = Vec::new();
    let mut pods = Vec::new();
    for deployment in std::iter::once(&stable).chain(canary.as_ref()) {
        let selector = crate::kube::selector_string(
            deployment
                .spec
                .as_ref()
                .map(|s| &s.selector)
                .unwrap_or(&Default::default()),
        );
        let params = ListParams::default().labels(&selector);
        let (rs, ps) = tokio::try_join!(
            async {
                apis.replica_sets
                    .list(&params)
                    .await
                    .map_err(apis.err(format!("list replicasets -l {selector}")))
            },
            async {
                apis.pods
                    .list(&params)
                    .await
                    .map_err(apis.err(format!("list pods -l {selector}")))
            },
        )?;
        replica_sets.extend(
            rs.items
                .into_iter()
                .filter(|r| owned_by(&r.metadata, deployment)),
        );
        pods.extend(ps.items);
    }
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.dedup_by(|a, b| a.metadata.name == b.metadata.name);
    Ok(Observed {
        stable,
        canary,
        state: stored.state,
        replica_sets,
        pods,
    })
}

pub(super) fn owned_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    owner: &Deployment,
) -> bool {
    let uid = owner.metadata.uid.as_deref();
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid)
}

pub(super) fn age(
    created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: jiff::Timestamp,
) -> String {
    let Some(created) = created else {
        return "-".into();
    };
    let secs = now.duration_since(created.0).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn short_duration(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64)).to_string()
}

fn phase_mark(phase: Phase, styles: &Styles) -> String {
    match phase {
        Phase::Promoted => styles.good("✔ Promoted"),
        Phase::Aborted => styles.bad("✖ Aborted"),
        Phase::PromotionFailed => styles.bad("✖ PromotionFailed"),
        Phase::Paused => styles.warn("॥ Paused"),
        Phase::Held => styles.warn("॥ Held"),
        other => format!("◌ {}", capitalised(other.label())),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `hpa_stable`: the stable's replicas now, when an HPA sizes it: the current and later steps
/// show the counts they run at with it ([`super::plan::autoscaled_canary_replicas`]).
fn step_line(
    step: &CanaryStep,
    index: usize,
    state: &CanaryState,
    hpa_stable: Option<u32>,
) -> String {
    let mark = match (index.cmp(&state.step), state.phase) {
        (std::cmp::Ordering::Less, _) => "✔",
        (std::cmp::Ordering::Equal, Phase::Promoted) => "✔",
        (std::cmp::Ordering::Equal, Phase::Aborted | Phase::PromotionFailed) => "✖",
        (std::cmp::Ordering::Equal, _) => "►",
        (std::cmp::Ordering::Greater, _) => " ",
    };
    let mut step = step.clone();
    if let Some(stable) = hpa_stable.filter(|_| index >= state.step && !step.is_promotion()) {
        step.stable_replicas = stable;
        step.canary_replicas = super::plan::autoscaled_canary_replicas(stable, step.weight);
    }
    let what = if step.is_promotion() {
        "100%: promote (the stable takes the new template)".to_string()
    } else {
        format!(
            "{}%: {} canary + {} stable ({:.0}% of pods), pause {}",
            step.weight,
            step.canary_replicas,
            step.stable_replicas,
            step.actual_share(),
            step.pause_text()
        )
    };
    format!("  {mark} {}. {what}", step.number)
}

/// One frame of the tree, as plain text (coloured when `styles` allow).
pub fn render(name: &str, seen: &Observed, now: jiff::Timestamp, styles: &Styles) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("Name:            {name}"));
    line(format!(
        "Namespace:       {}",
        seen.stable
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default")
    ));
    let Some(state) = &seen.state else {
        line("Status:          no canary has run on this Deployment".into());
        render_tree(&mut line, name, seen, now, styles);
        return out;
    };
    let weight = state.current().map_or(0, |s| s.weight);
    let driver = if state::is_driven(state, now) {
        format!(
            "driven by {}, heartbeat {} ago",
            state.driver,
            short_duration(now.duration_since(state.heartbeat).as_secs())
        )
    } else if state.phase.is_terminal() {
        "ended".to_string()
    } else {
        format!(
            "no process drives it (last heartbeat {} ago)",
            short_duration(now.duration_since(state.heartbeat).as_secs())
        )
    };
    line(format!(
        "Status:          {} at step {}/{} ({weight}%) · {driver}",
        phase_mark(state.phase, styles),
        state.step + 1,
        state.steps.len()
    ));
    if let Some(reason) = &state.reason {
        line(format!("Message:         {reason}"));
    }
    line(format!(
        "Images:          {} (stable)",
        objects::images_text(&state.stable_images)
    ));
    line(format!(
        "                 {} (canary)",
        objects::images_text(&state.images)
    ));
    let elapsed = match state.phase.is_terminal() {
        true => state.heartbeat.duration_since(state.started_at).as_secs(),
        false => now.duration_since(state.started_at).as_secs(),
    };
    line(format!("Elapsed:         {}", short_duration(elapsed)));
    if let Some(a) = &state.autoscaler {
        line(format!(
            "Autoscaler:      HorizontalPodAutoscaler {}{}",
            a.name,
            if a.gone {
                " (deleted mid-canary: the stable keeps its replicas)"
            } else {
                " (sizes the stable; the canary follows it)"
            }
        ));
    }
    let hpa_stable = state
        .autoscaler
        .as_ref()
        .filter(|_| !state.phase.is_terminal())
        .map(|_| super::ops::current_replicas(&seen.stable));
    line("Steps:".into());
    for (i, step) in state.steps.iter().enumerate() {
        line(step_line(step, i, state, hpa_stable));
    }
    if !state.last_analysis.is_empty() {
        let at = state.last_analysis.iter().map(|r| r.at).max();
        line(format!(
            "Last analysis:   {}",
            at.map(|t| t.strftime("%H:%M:%S UTC").to_string())
                .unwrap_or_default()
        ));
        for reading in &state.last_analysis {
            let mark = match reading.status {
                ReadingStatus::Pass => styles.good("✔"),
                ReadingStatus::Breach => styles.bad("✖"),
                ReadingStatus::Inconclusive => styles.warn("?"),
            };
            line(format!(
                "  {mark} {:<22} {}  {}",
                reading.metric,
                reading.describe(),
                styles.severity(reading.severity)
            ));
        }
    }
    render_tree(&mut line, name, seen, now, styles);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canary::state::tests::sample_state;

    fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("a valid object")
    }

    fn seen() -> Observed {
        let created = "2026-01-01T09:00:00Z";
        let stable: Deployment = object(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "d-1", "resourceVersion": "7",
                "creationTimestamp": created,
                "annotations": {"deployment.kubernetes.io/revision": "4"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:1.0"}]}}},
            "status": {"replicas": 3, "readyReplicas": 3}
        }));
        let canary: Deployment = object(json!({
            "metadata": {"name": "web-canary", "namespace": "shop", "uid": "d-2",
                "creationTimestamp": "2026-01-01T10:00:00Z",
                "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "track": "canary"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:2.0"}]}}},
            "status": {"replicas": 1, "readyReplicas": 1}
        }));
        let rs = |name: &str,
                  owner: &str,
                  revision: &str,
                  replicas: i32,
                  image: &str|
         -> ReplicaSet {
            object(json!({
                "metadata": {"name": name, "uid": format!("rs-{name}"), "creationTimestamp": created,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "uid": owner}],
                    "annotations": {"deployment.kubernetes.io/revision": revision}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
                "status": {"replicas": replicas, "readyReplicas": replicas}
            }))
        };
        let pod = |name: &str, rs: &str, ready: bool, restarts: i32| -> Pod {
            object(json!({
                "metadata": {"name": name, "creationTimestamp": "2026-01-01T10:04:00Z",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": format!("rs-{rs}")}]},
                "spec": {"containers": [{"name": "app"}]},
                "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": ready,
                    "restartCount": restarts, "image": "i", "imageID": "", "state": {"running": {}}}]}
            }))
        };
        Observed {
            stable,
            canary: Some(canary),
            state: Some(sample_state()),
            replica_sets: vec![
                rs("web-old", "d-1", "3", 0, "ghcr.io/acme/app:0.9"),
                rs("web-abc", "d-1", "4", 3, "ghcr.io/acme/app:1.0"),
                rs("web-canary-xyz", "d-2", "1", 1, "ghcr.io/acme/app:2.0"),
            ],
            pods: vec![
                pod("web-abc-1", "web-abc", true, 0),
                pod("web-abc-2", "web-abc", true, 0),
                pod("web-canary-xyz-1", "web-canary-xyz", false, 2),
            ],
        }
    }

    #[test]
    fn a_frame_shows_status_steps_and_the_tree() {
        let now: jiff::Timestamp = "2026-01-01T10:05:00Z".parse().unwrap();
        let frame = render("web", &seen(), now, &Styles::plain());
        let expected = "\
Name:            web
Namespace:       shop
Status:          ॥ Paused at step 1/2 (25%) · no process drives it (last heartbeat 5m ago)
Images:          ghcr.io/acme/app:1.0 (stable)
                 ghcr.io/acme/app:2.0 (canary)
Elapsed:         5m
Steps:
  ► 1. 25%: 1 canary + 3 stable (25% of pods), pause 10m
    2. 100%: promote (the stable takes the new template)

NAME                                                 KIND        STATUS         AGE  INFO
⟳ web                                                Deployment  ✔ Healthy      65m  stable, 3/3 ready, revision 4
└──⧉ web-abc                                         ReplicaSet  ✔ Healthy      65m  revision 4, 3/3 ready, ghcr.io/acme/app:1.0
   ├──□ web-abc-1                                    Pod         ✔ Running      60s  ready:1/1
   └──□ web-abc-2                                    Pod         ✔ Running      60s  ready:1/1
⟳ web-canary                                         Deployment  ✔ Healthy       5m  canary, 1/1 ready, revision 1
└──⧉ web-canary-xyz                                  ReplicaSet  ✔ Healthy      65m  revision 1, 1/1 ready, ghcr.io/acme/app:2.0
   └──□ web-canary-xyz-1                             Pod         ◌ Running      60s  ready:0/1, restarts:2
";
        assert_eq!(frame, expected, "\n{frame}");
    }

    #[test]
    fn an_ended_canary_has_no_live_driver_line_and_stops_the_watch() {
        let mut seen = seen();
        let state = seen.state.as_mut().unwrap();
        state.phase = Phase::Aborted;
        state.reason = Some("errors-5xx 42/min > 10/min".into());
        let now: jiff::Timestamp = "2026-01-01T10:05:00Z".parse().unwrap();
        let frame = render("web", &seen, now, &Styles::plain());
        assert!(
            frame.contains("Status:          ✖ Aborted at step 1/2 (25%) · ended\n"),
            "{frame}"
        );
        assert!(
            frame.contains("Message:         errors-5xx 42/min > 10/min\n"),
            "{frame}"
        );
        assert!(frame.contains("  ✖ 1. 25%"), "{frame}");
        assert!(seen.ended());
    }

    /// With an HPA the current and later steps show the counts they run at beside the HPA's
    /// count now, not the ones planned before it (found by a probe of issue 15).
    #[test]
    fn with_an_hpa_the_steps_show_the_counts_beside_the_hpas() {
        let mut seen = seen();
        if let Some(spec) = seen.stable.spec.as_mut() {
            spec.replicas = Some(9);
        }
        let state = seen.state.as_mut().unwrap();
        state.autoscaler = Some(crate::canary::state::tests::sample_autoscaler("web", 9, 3));
        let now: jiff::Timestamp = "2026-01-01T10:05:00Z".parse().unwrap();
        let frame = render("web", &seen, now, &Styles::plain());
        assert!(
            frame.contains("  ► 1. 25%: 3 canary + 9 stable (25% of pods), pause 10m\n"),
            "{frame}"
        );
        assert!(
            frame.contains("Autoscaler:      HorizontalPodAutoscaler web (sizes the stable"),
            "{frame}"
        );
    }

    #[test]
    fn the_version_key_ignores_the_clock_and_follows_the_objects() {
        let a = seen();
        let mut b = seen();
        assert_eq!(a.version_key(), b.version_key());
        b.pods[0].metadata.resource_version = Some("99".into());
        assert_ne!(a.version_key(), b.version_key());
    }
}
