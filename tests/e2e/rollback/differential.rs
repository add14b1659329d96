//! The real `kubectl rollout undo` is the judge: on two simulated clusters with identical
//! histories, kubectl undoes on one and `kubectl posthog rollback` on the other, and the
//! resulting Deployments (spec and annotations) and ReplicaSet revisions must be equal; so must
//! the refusals.

use serde_json::{Value, json};

use super::{Env, Revision, four_revisions, measured, report, with_history};

/// What must be equal: the spec and the annotations (uid, resourceVersion, timestamps and status
/// are the cluster's, not the undo's).
fn comparable(deployment: &Value) -> Value {
    json!({
        "spec": deployment["spec"],
        "annotations": deployment["metadata"]["annotations"],
    })
}

async fn pair() -> (Env, Env) {
    let (a, b) = tokio::join!(with_history(20.0), with_history(20.0));
    assert_eq!(
        comparable(&a.deployment("web")),
        comparable(&b.deployment("web")),
        "the two histories start identical"
    );
    (a, b)
}

/// kubectl undoes on `judge`, we roll back on `ours`; both settle; everything compared.
async fn undo_both(judge: &Env, ours: &Env, to_revision: Option<&str>) {
    let mut kubectl_args = vec!["rollout", "undo", "deployment/web"];
    let flag = to_revision.map(|r| format!("--to-revision={r}"));
    if let Some(flag) = &flag {
        kubectl_args.push(flag);
    }
    let by_kubectl = judge.kubectl(&kubectl_args);
    assert_eq!(by_kubectl.code, 0, "kubectl: {}", by_kubectl.stderr);

    let mut our_args = vec!["deployment/web", "-o", "json"];
    if let Some(r) = to_revision {
        our_args.extend(["--to-revision", r]);
    }
    let by_us = ours.rollback(&our_args);
    assert_eq!(by_us.code, 0, "{}\n{}", by_us.stdout, by_us.stderr);

    judge.settle("web").await;
    ours.settle("web").await;
    assert_eq!(
        comparable(&ours.deployment("web")),
        comparable(&judge.deployment("web")),
        "after undo {to_revision:?}: ours (left) differs from kubectl's (right)"
    );
    assert_eq!(
        ours.replica_sets(),
        judge.replica_sets(),
        "ReplicaSet revisions"
    );
}

#[tokio::test]
async fn undo_to_previous_and_to_a_given_revision_matches_kubectl() {
    let (judge, ours) = pair().await;
    // Previous revision: back from 3.0 to MODE=fast (revision 3).
    undo_both(&judge, &ours, None).await;
    let d = ours.deployment("web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/app:2.0"
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "MODE=fast"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
    // The Deployment-only annotation of revision 4 goes, as kubectl drops it.
    assert!(d["metadata"]["annotations"].get("team").is_none(), "{d:#}");

    // A given revision: all the way back to 1.0 (env and pod annotations change too).
    undo_both(&judge, &ours, Some("1")).await;
    let d = ours.deployment("web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/app:1.0"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "normal"
    );

    // Previous again: kubectl toggles back to what was current before (revision 5).
    undo_both(&judge, &ours, None).await;
    // Back to the revision that carried the extra Deployment annotation.
    undo_both(&judge, &ours, Some("4")).await;
    let d = ours.deployment("web");
    assert_eq!(d["metadata"]["annotations"]["team"], "payments");
}

#[tokio::test]
async fn already_at_the_revision_changes_nothing_like_kubectls_skip() {
    let (judge, ours) = pair().await;
    let by_kubectl = judge.kubectl(&["rollout", "undo", "deployment/web", "--to-revision=4"]);
    assert_eq!(by_kubectl.code, 0, "{}", by_kubectl.stderr);
    assert!(
        by_kubectl.stdout.contains("skipped rollback"),
        "{}",
        by_kubectl.stdout
    );

    let before = ours.deployment("web");
    ours.sim.clear_requests();
    let run = ours.rollback(&["deployment/web", "--to-revision", "4", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        measured(&report(&run), "rollback.undo").starts_with("already at revision 4"),
        "{}",
        run.stdout
    );
    // Nothing changes but the record of the run: its Event on the Deployment (issue 18).
    assert_eq!(
        super::mutating(&ours.sim),
        ["POST /api/v1/namespaces/default/events"]
    );
    assert_eq!(
        ours.deployment("web")["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    assert_eq!(
        comparable(&ours.deployment("web")),
        comparable(&judge.deployment("web"))
    );
}

/// Both refuse, with the same words, and neither changes the Deployment.
fn refuse_both(judge: &Env, ours: &Env, to_revision: Option<&str>) -> String {
    let before = (
        comparable(&judge.deployment("web")),
        comparable(&ours.deployment("web")),
    );
    ours.sim.clear_requests();
    let mut kubectl_args = vec!["rollout", "undo", "deployment/web"];
    let flag = to_revision.map(|r| format!("--to-revision={r}"));
    if let Some(flag) = &flag {
        kubectl_args.push(flag);
    }
    let by_kubectl = judge.kubectl(&kubectl_args);
    assert_eq!(
        by_kubectl.code, 1,
        "kubectl should refuse: {}",
        by_kubectl.stdout
    );
    let kubectl_says = by_kubectl
        .stderr
        .trim()
        .strip_prefix("error: ")
        .unwrap_or(&by_kubectl.stderr)
        .to_string();

    let mut our_args = vec!["deployment/web", "-o", "json"];
    if let Some(r) = to_revision {
        our_args.extend(["--to-revision", r]);
    }
    let by_us = ours.rollback(&our_args);
    assert_eq!(by_us.code, 1, "{}\n{}", by_us.stdout, by_us.stderr);
    let report = report(&by_us);
    assert_eq!(report["verdict"]["result"], "fail");
    assert_eq!(measured(&report, "rollback.undo"), kubectl_says);
    assert_eq!(
        comparable(&judge.deployment("web")),
        before.0,
        "kubectl changed nothing"
    );
    assert_eq!(
        comparable(&ours.deployment("web")),
        before.1,
        "we changed nothing"
    );
    assert_eq!(
        super::mutating(&ours.sim),
        Vec::<String>::new(),
        "no write was even attempted"
    );
    kubectl_says
}

#[tokio::test]
async fn refusals_match_kubectl_word_for_word() {
    // No history: a single revision.
    let (judge, ours) = tokio::join!(Env::start(20.0), Env::start(20.0));
    let only = Revision::new("ghcr.io/acme/app:1.0");
    tokio::join!(judge.deploy(&only), ours.deploy(&only));
    let said = refuse_both(&judge, &ours, None);
    assert_eq!(said, "no rollout history found for deployment \"web\"");

    // A revision that does not exist.
    let (judge, ours) = pair().await;
    let said = refuse_both(&judge, &ours, Some("9"));
    assert_eq!(said, "unable to find specified revision 9 in history");

    // A paused Deployment (paused on both by the real kubectl).
    for env in [&judge, &ours] {
        let paused = env.kubectl(&["rollout", "pause", "deployment/web"]);
        assert_eq!(paused.code, 0, "{}", paused.stderr);
    }
    let said = refuse_both(&judge, &ours, None);
    assert!(
        said.starts_with("you cannot rollback a paused deployment"),
        "{said}"
    );
    let run = ours.rollback(&["deployment/web"]);
    assert!(
        run.stdout.contains("kubectl rollout resume deployment/web"),
        "{}",
        run.stdout
    );
}

#[test]
fn history_fixture_changes_what_the_issue_names() {
    // Guards the differential tests against a fixture that stopped exercising anything.
    let revisions = four_revisions();
    let images: std::collections::BTreeSet<_> = revisions.iter().map(|r| r.image).collect();
    assert!(images.len() >= 3, "several images");
    assert!(
        revisions.windows(2).any(|w| w[0].mode != w[1].mode),
        "an env change"
    );
    assert!(
        revisions
            .windows(2)
            .any(|w| w[0].pod_annotations != w[1].pod_annotations),
        "annotations"
    );
    assert!(
        revisions.iter().all(|r| !r.change_cause.is_empty()),
        "change-causes"
    );
}
