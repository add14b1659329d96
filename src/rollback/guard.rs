//! `rollback --only-canary-of [CONTAINER=]IMAGE`: act only on what a canary of that image left
//! unfinished, and on nothing else.
//!
//! A deploy workflow's cleanup step ("roll back when the canary ended without a verdict") also
//! runs when the job failed before the canary changed anything — an unset variable, a typo, a
//! cluster that could not be reached — and a plain rollback would then undo the live revision,
//! which nobody deployed. With this guard the step rolls back only when the image it deployed is
//! still live because of a canary: a canary Deployment running it, a canary state naming it that
//! did not finish, or a failed promotion that left the stable running it. A canary that was
//! promoted or aborted leaves nothing to undo. Pure: decided from the stable and the canary
//! Deployment as read.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;

use crate::canary::objects::{self, CanaryMatch, ImageArg};
use crate::canary::state::{CanaryState, Phase};

/// Whether the rollback goes ahead, and why (a sentence for the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    Proceed(String),
    NothingToUndo(String),
    /// The canary state cannot be read, so it cannot be told whose change is live: refuse.
    Unknown(String),
}

fn runs(images: &BTreeMap<String, String>, wanted: &ImageArg) -> bool {
    match &wanted.container {
        Some(container) => images.get(container) == Some(&wanted.image),
        None => images.values().any(|image| *image == wanted.image),
    }
}

/// Decides from the stable Deployment and the canary Deployment (when one exists).
pub fn only_canary_of(
    stable: &Deployment,
    state: std::result::Result<Option<&CanaryState>, &str>,
    canary: Option<&Deployment>,
    wanted: &ImageArg,
) -> Guard {
    let name = stable.metadata.name.clone().unwrap_or_default();
    let image = &wanted.image;
    let state = match state {
        Ok(state) => state,
        Err(problem) => {
            return Guard::Unknown(format!(
                "{problem}: cannot tell whether a canary of {image} is live on deployment {name}, so nothing is rolled back"
            ));
        }
    };
    let ours = canary
        .filter(|c| objects::canary_matches(c, &name, &BTreeMap::new()) != CanaryMatch::NotOurs);
    if let Some(canary) = ours.filter(|c| runs(&objects::template_images(c), wanted)) {
        let canary_name = canary.metadata.name.clone().unwrap_or_default();
        return Guard::Proceed(format!("deployment {canary_name} runs {image}"));
    }
    let Some(state) = state else {
        return Guard::NothingToUndo(format!(
            "no canary was ever started on deployment {name}, so {image} was not deployed by one: nothing to roll back"
        ));
    };
    if !runs(&state.images, wanted) {
        return Guard::NothingToUndo(format!(
            "the last canary on deployment {name} ran {}, not {image}: nothing of {image} to roll back",
            objects::images_text(&state.images)
        ));
    }
    let stable_runs = runs(&objects::template_images(stable), wanted);
    match state.phase {
        phase if !phase.is_terminal() => Guard::Proceed(format!(
            "the canary of {image} on deployment {name} is {} and unfinished",
            phase.label()
        )),
        Phase::PromotionFailed if stable_runs => Guard::Proceed(format!(
            "the promotion of {image} failed and deployment {name} runs it"
        )),
        phase => Guard::NothingToUndo(format!(
            "the canary of {image} on deployment {name} is {}: nothing of it is left to roll back",
            phase.label()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::state;
    use crate::canary::state::tests::sample_state;
    use serde_json::json;

    fn deployment(name: &str, image: &str, annotations: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
        }))
        .unwrap()
    }

    fn stable(image: &str, phase: Option<Phase>, canary_image: &str) -> Deployment {
        let annotations = match phase {
            Some(phase) => {
                let mut state = sample_state();
                state.phase = phase;
                state.images = BTreeMap::from([("app".into(), canary_image.into())]);
                json!({ state::STATE_ANNOTATION: state.encode() })
            }
            None => json!({}),
        };
        deployment("web", image, annotations)
    }

    fn canary(image: &str) -> Deployment {
        deployment(
            "web-canary",
            image,
            json!({ state::CANARY_OF_ANNOTATION: "web" }),
        )
    }

    /// The decision, with the state the test keeps in the stable's annotations (where the
    /// stable's Lease keeps it on a cluster).
    fn guard(stable: &Deployment, canary: Option<&Deployment>, wanted: &ImageArg) -> Guard {
        let read = state::read_annotations(stable.metadata.annotations.as_ref());
        let state = match &read {
            Ok((state, _)) => Ok(state.as_ref()),
            Err(e) => Err(e.as_str()),
        };
        only_canary_of(stable, state, canary, wanted)
    }

    fn wanted(raw: &str) -> ImageArg {
        ImageArg::parse(raw).unwrap()
    }

    fn proceeds(guard: Guard) -> bool {
        matches!(guard, Guard::Proceed(_))
    }

    /// Guards issue 16: the documented deploy gate rolled production back when an input error
    /// stopped the job before the canary started.
    #[test]
    fn nothing_is_undone_when_no_canary_of_the_image_started() {
        let live = stable("app:1", None, "");
        let decided = guard(&live, None, &wanted("app=app:2"));
        assert!(
            matches!(&decided, Guard::NothingToUndo(why) if why.contains("no canary was ever started")),
            "{decided:?}"
        );
        // An older canary of another image, finished long ago.
        let live = stable("app:1", Some(Phase::Aborted), "app:0");
        assert!(!proceeds(guard(&live, None, &wanted("app:2"))));
        // Even a live canary of another image is not this step's to undo.
        let live = stable("app:1", Some(Phase::Paused), "app:3");
        assert!(!proceeds(guard(
            &live,
            Some(&canary("app:3")),
            &wanted("app:2")
        )));
    }

    #[test]
    fn an_unfinished_canary_of_the_image_is_undone() {
        let live = stable("app:1", Some(Phase::Paused), "app:2");
        assert!(proceeds(guard(
            &live,
            Some(&canary("app:2")),
            &wanted("app=app:2")
        )));
        // The canary Deployment alone (the state lost) is enough.
        let left_behind = stable("app:1", Some(Phase::Aborted), "app:0");
        assert!(proceeds(guard(
            &left_behind,
            Some(&canary("app:2")),
            &wanted("app:2")
        )));
        // A driver killed while promoting.
        let promoting = stable("app:2", Some(Phase::Promoting), "app:2");
        assert!(proceeds(guard(&promoting, None, &wanted("app:2"))));
        let failed = stable("app:2", Some(Phase::PromotionFailed), "app:2");
        assert!(proceeds(guard(&failed, None, &wanted("app:2"))));
        // The container must match when named.
        assert!(!proceeds(guard(&failed, None, &wanted("sidecar=app:2"))));
    }

    #[test]
    fn a_finished_canary_leaves_nothing_to_undo() {
        // Promoted: a re-run of the same commit must not roll back a good deploy.
        let promoted = stable("app:2", Some(Phase::Promoted), "app:2");
        assert!(matches!(guard(&promoted, None, &wanted("app:2")),
            Guard::NothingToUndo(why) if why.contains("promoted")));
        let aborted = stable("app:1", Some(Phase::Aborted), "app:2");
        assert!(!proceeds(guard(&aborted, None, &wanted("app:2"))));
        // A canary Deployment that is not ours does not count.
        let foreign = deployment("web-canary", "app:2", json!({}));
        assert!(!proceeds(guard(&aborted, Some(&foreign), &wanted("app:2"))));
    }

    #[test]
    fn an_unreadable_state_refuses() {
        let live = deployment(
            "web",
            "app:2",
            json!({ state::STATE_ANNOTATION: "{not json" }),
        );
        assert!(matches!(
            guard(&live, None, &wanted("app:2")),
            Guard::Unknown(_)
        ));
    }
}
