//! The sticky comment: one comment per command and target, found by its hidden marker among the
//! comments by the same author (across all pages), edited in place, left alone when unchanged, and
//! never posted twice — also when a POST fails after GitHub stored it.

use std::time::Duration;

use serde_json::{Value, json};

use super::api::{ApiError, GithubClient, Method};

/// The login of comments made with the workflow's `GITHUB_TOKEN`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// How many times a comment is posted when GitHub's answer leaves it unknown whether it was stored.
const CREATE_ATTEMPTS: u32 = 3;

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

/// The login the token comments as: `GET /user` for a personal token; the workflow token may not
/// ask (403), and its comments are `github-actions[bot]`'s.
pub async fn comment_author(client: &GithubClient) -> String {
    match client.send(Method::Get, "/user", None).await {
        Ok(response) => response.body["login"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| ACTIONS_BOT.to_string()),
        Err(error) => {
            tracing::debug!(%error, "GET /user refused; assuming the workflow token");
            ACTIONS_BOT.to_string()
        }
    }
}

/// The first comment by `author` that carries `marker`.
pub fn find_marked<'a>(comments: &'a [Value], marker: &str, author: &str) -> Option<&'a Value> {
    comments.iter().find(|c| {
        c["user"]["login"].as_str() == Some(author)
            && c["body"].as_str().is_some_and(|b| b.contains(marker))
    })
}

fn same_body(existing: &Value, body: &str) -> bool {
    existing["body"]
        .as_str()
        .is_some_and(|b| b.replace("\r\n", "\n").trim_end() == body.trim_end())
}

fn url_of(comment: &Value) -> String {
    comment["html_url"].as_str().unwrap_or_default().to_string()
}

/// One sticky comment: where it lives and how it is recognised.
pub struct Sticky<'a> {
    pub client: &'a GithubClient,
    pub owner: &'a str,
    pub repo: &'a str,
    pub thread: Thread,
    pub marker: &'a str,
    pub author: &'a str,
}

impl Sticky<'_> {
    /// Creates or edits the marked comment so that it reads `body`. When GitHub refuses `body` as
    /// too long (422), `short_body` is written instead.
    pub async fn upsert(&self, body: &str, short_body: &str) -> Result<Upsert, ApiError> {
        match self.write(body).await {
            Err(ApiError::Status { status: 422, .. }) if body != short_body => {
                self.write(short_body).await
            }
            other => other,
        }
    }

    async fn write(&self, body: &str) -> Result<Upsert, ApiError> {
        let list = self.thread.comments_path(self.owner, self.repo);
        let comments = self.client.list_all(&list).await?;
        if let Some(existing) = find_marked(&comments, self.marker, self.author) {
            return self.edit(existing, body, false).await;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .client
                .send(Method::Post, &list, Some(&json!({ "body": body })))
                .await
            {
                Ok(created) => return Ok(Upsert::Created(url_of(&created.body))),
                Err(error) if error.is_uncertain() && attempt < CREATE_ATTEMPTS => {
                    // The comment may have been stored before the error: look before posting again.
                    tracing::info!(%error, "posting the comment failed uncertainly; listing again");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    let comments = self.client.list_all(&list).await?;
                    if let Some(stored) = find_marked(&comments, self.marker, self.author) {
                        return self.edit(stored, body, true).await;
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Edits `existing` to `body` unless it already reads so. `just_created` reports a comment our
    /// own uncertain POST stored as created.
    async fn edit(
        &self,
        existing: &Value,
        body: &str,
        just_created: bool,
    ) -> Result<Upsert, ApiError> {
        let url = url_of(existing);
        if same_body(existing, body) {
            return Ok(if just_created {
                Upsert::Created(url)
            } else {
                Upsert::Unchanged(url)
            });
        }
        let Some(id) = existing["id"].as_u64() else {
            return Err(ApiError::Status {
                what: format!("listing comments of {}", self.thread),
                status: 200,
                message: "a comment without an id".to_string(),
            });
        };
        let path = self.thread.comment_path(self.owner, self.repo, id);
        let updated = self
            .client
            .send(Method::Patch, &path, Some(&json!({ "body": body })))
            .await?;
        let url = updated.body["html_url"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(url);
        Ok(if just_created {
            Upsert::Created(url)
        } else {
            Upsert::Updated(url)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_the_same_authors_marked_comment() {
        let marker = "<!-- kubectl-posthog:preflight:web -->";
        let comments = vec![
            json!({"id": 1, "user": {"login": "alice"}, "body": format!("quoting {marker}")}),
            json!({"id": 2, "user": {"login": ACTIONS_BOT}, "body": "other bot text"}),
            json!({"id": 3, "user": {"login": ACTIONS_BOT}, "body": format!("{marker}\nreport")}),
            json!({"id": 4, "user": {"login": ACTIONS_BOT}, "body": format!("{marker}\nlater")}),
        ];
        assert_eq!(
            find_marked(&comments, marker, ACTIONS_BOT).unwrap()["id"],
            3
        );
        assert_eq!(find_marked(&comments, marker, "alice").unwrap()["id"], 1);
        assert!(
            find_marked(
                &comments,
                "<!-- kubectl-posthog:canary:web -->",
                ACTIONS_BOT
            )
            .is_none()
        );
    }

    #[test]
    fn bodies_compare_across_line_endings() {
        assert!(same_body(&json!({"body": "a\r\nb\n"}), "a\nb"));
        assert!(!same_body(&json!({"body": "a\nb"}), "a\nc"));
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
