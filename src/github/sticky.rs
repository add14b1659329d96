//! The sticky comment: one comment per command and target, found by its hidden marker among the
//! comments by the token's own login (across all pages), and never posted twice — also when a
//! POST fails after GitHub stored it. How a changed report is shown is the [`CommentMode`]; an
//! unchanged one (compared without the run's footer) is never written again, in any mode.

use std::time::Duration;

use serde_json::{Value, json};

use super::api::{ApiError, GithubClient, Method};
use super::comment::{Marker, comparable};

/// How many times a comment is posted when GitHub's answer leaves it unknown whether it was stored.
const CREATE_ATTEMPTS: u32 = 3;

/// `--comment-mode`: what a changed report does to the comment (as sticky-pull-request-comment
/// offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CommentMode {
    /// Edit the comment in place.
    #[default]
    Update,
    /// Post a new comment at the end of the conversation, then delete the previous one.
    Recreate,
    /// Post a new comment, then hide (minimize as outdated) the previous one.
    HidePrevious,
    /// No comment.
    Off,
}

/// Where the comment lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thread {
    /// A pull request (its conversation is an issue's).
    Pull(u64),
    /// A commit's comments.
    Commit(String),
}

impl Thread {
    fn comments_path(&self, owner: &str, repo: &str) -> String {
        match self {
            Thread::Pull(n) => format!("/repos/{owner}/{repo}/issues/{n}/comments"),
            Thread::Commit(sha) => format!("/repos/{owner}/{repo}/commits/{sha}/comments"),
        }
    }

    fn comment_path(&self, owner: &str, repo: &str, id: u64) -> String {
        match self {
            Thread::Pull(_) => format!("/repos/{owner}/{repo}/issues/comments/{id}"),
            Thread::Commit(_) => format!("/repos/{owner}/{repo}/comments/{id}"),
        }
    }
}

impl std::fmt::Display for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Thread::Pull(n) => write!(f, "pull request #{n}"),
            Thread::Commit(sha) => write!(f, "commit {}", &sha[..sha.len().min(12)]),
        }
    }
}

/// What the upsert did, with the comment's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    Created(String),
    Updated(String),
    Unchanged(String),
}

impl Upsert {
    pub fn url(&self) -> &str {
        match self {
            Upsert::Created(url) | Upsert::Updated(url) | Upsert::Unchanged(url) => url,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Upsert::Created(_) => "posted",
            Upsert::Updated(_) => "updated",
            Upsert::Unchanged(_) => "unchanged",
        }
    }
}

/// The upsert's result and, when the previous comment could not be deleted or hidden, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub upsert: Upsert,
    pub warning: Option<String>,
}

/// The comments by `author` that carry `marker`, oldest first.
pub fn find_marked<'a>(comments: &'a [Value], marker: &Marker, author: &str) -> Vec<&'a Value> {
    comments
        .iter()
        .filter(|c| {
            c["user"]["login"].as_str() == Some(author)
                && c["body"].as_str().is_some_and(|b| marker.matches(b))
        })
        .collect()
}

fn same_body(existing: &Value, body: &str) -> bool {
    existing["body"]
        .as_str()
        .is_some_and(|b| comparable(b) == comparable(body))
}

fn url_of(comment: &Value) -> String {
    comment["html_url"].as_str().unwrap_or_default().to_string()
}

fn id_of(comment: &Value) -> Option<u64> {
    comment["id"].as_u64()
}

/// One sticky comment: where it lives and how it is recognised.
pub struct Sticky<'a> {
    pub client: &'a GithubClient,
    pub owner: &'a str,
    pub repo: &'a str,
    pub thread: Thread,
    pub marker: &'a Marker,
    pub author: &'a str,
    pub mode: CommentMode,
}

impl Sticky<'_> {
    /// Makes the thread show `body`. When GitHub refuses `body` as too long (422), `short_body`
    /// is written instead.
    pub async fn upsert(&self, body: &str, short_body: &str) -> Result<Outcome, ApiError> {
        match self.write(body).await {
            Err(ApiError::Status { status: 422, .. }) if body != short_body => {
                self.write(short_body).await
            }
            other => other,
        }
    }

    async fn write(&self, body: &str) -> Result<Outcome, ApiError> {
        let list = self.thread.comments_path(self.owner, self.repo);
        let comments = self.client.list_all(&list).await?;
        let ours = find_marked(&comments, self.marker, self.author);
        let done = |upsert| {
            Ok(Outcome {
                upsert,
                warning: None,
            })
        };
        match self.mode {
            CommentMode::Update | CommentMode::Off => {
                // The first one: the one every earlier run edited.
                if let Some(existing) = ours.first() {
                    return done(self.edit(existing, body).await?);
                }
                done(self.create(&list, body, &[]).await?)
            }
            CommentMode::Recreate | CommentMode::HidePrevious => {
                // The newest one: the one still shown (older ones were hidden or deleted).
                let previous = ours.last().copied();
                if let Some(previous) = previous.filter(|p| same_body(p, body)) {
                    return done(Upsert::Unchanged(url_of(previous)));
                }
                let known: Vec<u64> = ours.iter().filter_map(|c| id_of(c)).collect();
                // New first, then the old one goes: the thread never lacks the report.
                let created = self.create(&list, body, &known).await?;
                let warning = match previous {
                    Some(previous) => self.retire(previous, &ours).await.err(),
                    None => None,
                };
                Ok(Outcome {
                    upsert: created,
                    warning,
                })
            }
        }
    }

    /// Posts `body`; after an uncertain failure, lists again and takes a marked comment that is
    /// not one of `known` (the ones there before) as our stored POST.
    async fn create(&self, list: &str, body: &str, known: &[u64]) -> Result<Upsert, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .client
                .send(Method::Post, list, Some(&json!({ "body": body })))
                .await
            {
                Ok(created) => return Ok(Upsert::Created(url_of(&created.body))),
                Err(error) if error.is_uncertain() && attempt < CREATE_ATTEMPTS => {
                    // The comment may have been stored before the error: look before posting again.
                    tracing::info!(%error, "posting the comment failed uncertainly; listing again");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    let comments = self.client.list_all(list).await?;
                    let stored = find_marked(&comments, self.marker, self.author)
                        .into_iter()
                        .rfind(|c| id_of(c).is_some_and(|id| !known.contains(&id)));
                    if let Some(stored) = stored {
                        return Ok(match self.edit(stored, body).await? {
                            Upsert::Updated(url) | Upsert::Unchanged(url) => Upsert::Created(url),
                            created => created,
                        });
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Edits `existing` to `body` unless it already reads so.
    async fn edit(&self, existing: &Value, body: &str) -> Result<Upsert, ApiError> {
        let url = url_of(existing);
        if same_body(existing, body) {
            return Ok(Upsert::Unchanged(url));
        }
        let path = self.path_of(existing)?;
        let updated = self
            .client
            .send(Method::Patch, &path, Some(&json!({ "body": body })))
            .await?;
        let url = updated.body["html_url"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(url);
        Ok(Upsert::Updated(url))
    }

    /// Deletes (recreate) or hides (hide-previous) the comment the new one replaces; recreate
    /// deletes every older marked comment, hide-previous hides the one that was shown.
    async fn retire(&self, previous: &Value, ours: &[&Value]) -> Result<(), String> {
        let failed = |what: &str, error: ApiError| {
            format!(
                "posted the new comment on {}, but could not {what} the previous one: {error}",
                self.thread
            )
        };
        match self.mode {
            CommentMode::Recreate => {
                for old in ours {
                    let path = self.path_of(old).map_err(|e| failed("delete", e))?;
                    match self.client.send(Method::Delete, &path, None).await {
                        // A retried DELETE finds it gone: that is what was asked.
                        Ok(_) | Err(ApiError::Status { status: 404, .. }) => {}
                        Err(error) => return Err(failed("delete", error)),
                    }
                }
                Ok(())
            }
            _ => {
                let Some(node) = previous["node_id"].as_str() else {
                    return Err(failed("hide", self.no_id()));
                };
                self.client
                    .graphql(
                        "minimizeComment",
                        "mutation($subjectId: ID!) { minimizeComment(input: {subjectId: $subjectId, classifier: OUTDATED}) { minimizedComment { isMinimized } } }",
                        json!({ "subjectId": node }),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| failed("hide", e))
            }
        }
    }

    fn path_of(&self, comment: &Value) -> Result<String, ApiError> {
        let id = id_of(comment).ok_or_else(|| self.no_id())?;
        Ok(self.thread.comment_path(self.owner, self.repo, id))
    }

    fn no_id(&self) -> ApiError {
        ApiError::Status {
            what: format!("listing comments of {}", self.thread),
            status: 200,
            message: "a comment without an id".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::identity::ACTIONS_BOT;
    use crate::report::tests::sample_report;

    #[test]
    fn finds_only_the_same_authors_marked_comments() {
        let marker = Marker::of(&sample_report(), None);
        let text = marker.text();
        let comments = vec![
            json!({"id": 1, "user": {"login": "alice"}, "body": format!("quoting {text}")}),
            json!({"id": 2, "user": {"login": ACTIONS_BOT}, "body": "other bot text"}),
            json!({"id": 3, "user": {"login": ACTIONS_BOT}, "body": format!("{text}\nreport")}),
            json!({"id": 4, "user": {"login": "posthog-gate[bot]"}, "body": format!("{text}\nreport")}),
            json!({"id": 5, "user": {"login": ACTIONS_BOT}, "body": format!("{text}\nlater")}),
        ];
        let ids = |found: Vec<&Value>| found.iter().map(|c| c["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(find_marked(&comments, &marker, ACTIONS_BOT)), [3, 5]);
        assert_eq!(
            ids(find_marked(&comments, &marker, "posthog-gate[bot]")),
            [4]
        );
        assert_eq!(ids(find_marked(&comments, &marker, "alice")), [1]);
        let mut canary = sample_report();
        canary.command = "canary".into();
        assert!(find_marked(&comments, &Marker::of(&canary, None), ACTIONS_BOT).is_empty());
    }

    #[test]
    fn bodies_compare_across_line_endings_and_footers() {
        assert!(same_body(&json!({"body": "a\r\nb\n"}), "a\nb"));
        assert!(!same_body(&json!({"body": "a\nb"}), "a\nc"));
        assert!(same_body(
            &json!({"body": "a\n\n<sub>kubectl-posthog 0.1.0 · [workflow run](https://github.com/o/r/actions/runs/1)</sub>\n"}),
            "a\n\n<sub>kubectl-posthog 0.1.0 · [workflow run](https://github.com/o/r/actions/runs/2)</sub>\n"
        ));
    }

    #[test]
    fn thread_paths() {
        let pull = Thread::Pull(7);
        assert_eq!(pull.comments_path("o", "r"), "/repos/o/r/issues/7/comments");
        assert_eq!(
            pull.comment_path("o", "r", 9),
            "/repos/o/r/issues/comments/9"
        );
        let commit = Thread::Commit("abc".into());
        assert_eq!(
            commit.comments_path("o", "r"),
            "/repos/o/r/commits/abc/comments"
        );
        assert_eq!(commit.comment_path("o", "r", 9), "/repos/o/r/comments/9");
    }
}
