//! Which pull request a run belongs to, from the event payload at `$GITHUB_EVENT_PATH`.
//!
//! `pull_request` and `pull_request_target` carry `.pull_request.number`; `issue_comment` carries
//! `.issue.number` and marks a PR with `.issue.pull_request`; a `push` names only a commit (`.after`),
//! whose PR is asked of the API (`GET /repos/{o}/{r}/commits/{sha}/pulls`, see [`choose_pull`]).

use serde_json::Value;

/// Where the PR comes from, decided from the event alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullSource {
    /// The payload names the PR.
    Number(u64),
    /// A push: the PR is the one the commit belongs to, if any.
    Commit(String),
    /// No PR for this event; the reason is shown in the warning.
    None(String),
}

/// Reads the PR (or the pushed commit) out of an event payload.
pub fn pull_source(event_name: &str, payload: &Value) -> PullSource {
    match event_name {
        "pull_request"
        | "pull_request_target"
        | "pull_request_review"
        | "pull_request_review_comment" => {
            match payload["pull_request"]["number"]
                .as_u64()
                .or_else(|| payload["number"].as_u64())
            {
                Some(n) => PullSource::Number(n),
                None => PullSource::None(format!(
                    "the {event_name} event payload has no pull_request.number"
                )),
            }
        }
        "issue_comment" => {
            if payload["issue"]["pull_request"].is_null() {
                return PullSource::None(
                    "the issue_comment event is on an issue, not a pull request".to_string(),
                );
            }
            match payload["issue"]["number"].as_u64() {
                Some(n) => PullSource::Number(n),
                None => PullSource::None(
                    "the issue_comment event payload has no issue.number".to_string(),
                ),
            }
        }
        "push" => match payload["after"].as_str() {
            Some(sha) if is_commit_sha(sha) && sha.bytes().any(|b| b != b'0') => {
                PullSource::Commit(sha.to_string())
            }
            // A deleted branch pushes the all-zero SHA: there is no commit to look up.
            _ => PullSource::None("the push event names no commit (.after)".to_string()),
        },
        other => PullSource::None(format!("a {other} event is not tied to a pull request")),
    }
}

/// A pull request from a fork, whose `pull_request` workflows get a read-only token (and no
/// secrets) whatever the workflow's `permissions` say. `pull_request_target` and `issue_comment`
/// run in the base repository with its token, so they are not.
pub fn is_fork_pull(event_name: &str, payload: &Value) -> bool {
    let pr_event = matches!(
        event_name,
        "pull_request" | "pull_request_review" | "pull_request_review_comment"
    );
    let head = &payload["pull_request"]["head"]["repo"];
    let base = &payload["pull_request"]["base"]["repo"];
    pr_event
        && (head["fork"] == true
            || (head["full_name"].is_string() && head["full_name"] != base["full_name"]))
}

/// The commit a commit comment belongs to: the PR head for PR events, else `.after` or `$GITHUB_SHA`.
pub fn commit_sha(payload: &Value, github_sha: Option<&str>) -> Option<String> {
    payload["pull_request"]["head"]["sha"]
        .as_str()
        .or_else(|| payload["after"].as_str())
        .filter(|sha| is_commit_sha(sha) && sha.bytes().any(|b| b != b'0'))
        .or(github_sha.filter(|sha| is_commit_sha(sha)))
        .map(str::to_string)
}

/// Picks the PR of a pushed commit from `GET /repos/{o}/{r}/commits/{sha}/pulls`: an open PR first
/// (a push to its branch), else the PR that was merged as this commit (a push to the base branch).
pub fn choose_pull(pulls: &[Value], sha: &str) -> Option<u64> {
    let open = pulls.iter().find(|p| p["state"] == "open");
    let merged_as = pulls
        .iter()
        .find(|p| p["merge_commit_sha"] == sha && !p["merged_at"].is_null());
    open.or(merged_as)
        .or_else(|| pulls.first())
        .and_then(|p| p["number"].as_u64())
}

fn is_commit_sha(sha: &str) -> bool {
    (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_request_events_name_their_pr() {
        let payload = json!({"action": "opened", "number": 7, "pull_request": {"number": 7}});
        assert_eq!(pull_source("pull_request", &payload), PullSource::Number(7));
        assert_eq!(
            pull_source("pull_request_target", &payload),
            PullSource::Number(7)
        );
    }

    #[test]
    fn issue_comment_only_on_a_pull_request() {
        let on_pr = json!({"issue": {"number": 9, "pull_request": {"url": "x"}}});
        assert_eq!(pull_source("issue_comment", &on_pr), PullSource::Number(9));
        let on_issue = json!({"issue": {"number": 9}});
        assert!(matches!(
            pull_source("issue_comment", &on_issue),
            PullSource::None(_)
        ));
    }

    #[test]
    fn push_names_the_commit_and_a_branch_deletion_none() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            pull_source("push", &json!({"after": sha})),
            PullSource::Commit(sha.into())
        );
        let deleted = json!({"after": "0000000000000000000000000000000000000000"});
        assert!(matches!(pull_source("push", &deleted), PullSource::None(_)));
        assert!(matches!(
            pull_source("workflow_dispatch", &json!({})),
            PullSource::None(_)
        ));
    }

    #[test]
    fn open_pr_wins_then_the_merged_one() {
        let sha = "abc1234";
        let pulls = [
            json!({"number": 1, "state": "closed", "merged_at": null, "merge_commit_sha": "fff0000"}),
            json!({"number": 2, "state": "closed", "merged_at": "2026-01-01T00:00:00Z", "merge_commit_sha": sha}),
            json!({"number": 3, "state": "open", "merged_at": null}),
        ];
        assert_eq!(choose_pull(&pulls, sha), Some(3));
        assert_eq!(choose_pull(&pulls[..2], sha), Some(2));
        assert_eq!(choose_pull(&[], sha), None);
    }

    #[test]
    fn only_a_pull_request_event_from_another_repository_is_a_fork() {
        let same = json!({"pull_request": {"head": {"repo": {"full_name": "acme/app", "fork": false}},
                                           "base": {"repo": {"full_name": "acme/app"}}}});
        let fork = json!({"pull_request": {"head": {"repo": {"full_name": "octo/app", "fork": true}},
                                           "base": {"repo": {"full_name": "acme/app"}}}});
        assert!(!is_fork_pull("pull_request", &same));
        assert!(is_fork_pull("pull_request", &fork));
        assert!(
            !is_fork_pull("pull_request_target", &fork),
            "runs with the base repository's token"
        );
        assert!(!is_fork_pull("push", &json!({})));
    }

    #[test]
    fn commit_sha_prefers_the_pr_head() {
        let payload = json!({"pull_request": {"head": {"sha": "aaaaaaa"}}, "after": "bbbbbbb"});
        assert_eq!(
            commit_sha(&payload, Some("ccccccc")).as_deref(),
            Some("aaaaaaa")
        );
        assert_eq!(
            commit_sha(&json!({}), Some("ccccccc")).as_deref(),
            Some("ccccccc")
        );
        assert_eq!(commit_sha(&json!({}), Some("not a sha")), None);
    }
}
