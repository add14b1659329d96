//! Whose comments are ours: the login the token writes as, asked of GitHub.
//!
//! GraphQL `query { viewer { login } }` answers for all three kinds of token a workflow uses: the
//! workflow's `GITHUB_TOKEN` (`github-actions[bot]`), a GitHub App installation token
//! (`<app-slug>[bot]`) and a personal token (its user). `GET /user` answers only the last (403 for
//! the other two), and `GET /app` needs the App's JWT, not an installation token. Assuming
//! `github-actions[bot]` when asking fails made an App post a new comment on every run, so the
//! fallbacks are `GET /user` and then an explicit, warned assumption.

use super::api::{GithubClient, Method};

/// The login of comments made with the workflow's `GITHUB_TOKEN`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

const VIEWER_QUERY: &str = "query { viewer { login } }";

/// The login comments by this token carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    /// Set when GitHub did not say and [`ACTIONS_BOT`] is assumed: why.
    pub assumed_because: Option<String>,
}

/// Asks GitHub who the token is: GraphQL first, then `GET /user`.
pub async fn token_identity(client: &GithubClient) -> Identity {
    let graphql = match client
        .graphql("the viewer query", VIEWER_QUERY, serde_json::json!({}))
        .await
    {
        Ok(data) => match login_of(&data["viewer"]) {
            Some(login) => return known(login),
            None => "the viewer query answered no login".to_string(),
        },
        Err(error) => error.to_string(),
    };
    let rest = match client.send(Method::Get, "/user", None).await {
        Ok(response) => match login_of(&response.body) {
            Some(login) => return known(login),
            None => "GET /user answered no login".to_string(),
        },
        Err(error) => error.to_string(),
    };
    tracing::debug!(%graphql, %rest, "cannot tell whose token this is");
    Identity {
        login: ACTIONS_BOT.to_string(),
        assumed_because: Some(format!("{graphql}; {rest}")),
    }
}

fn known(login: String) -> Identity {
    Identity {
        login,
        assumed_because: None,
    }
}

fn login_of(value: &serde_json::Value) -> Option<String> {
    value["login"]
        .as_str()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_login_must_be_a_non_empty_string() {
        assert_eq!(
            login_of(&json!({"login": "posthog-gate[bot]"})).as_deref(),
            Some("posthog-gate[bot]")
        );
        assert_eq!(login_of(&json!({"login": ""})), None);
        assert_eq!(login_of(&json!({"login": 7})), None);
        assert_eq!(login_of(&json!(null)), None);
    }
}
