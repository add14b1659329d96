//! The GitHub Actions runner contract as plain data: the `GITHUB_*` variables a job step sees,
//! read once so the rest of the module is testable without touching the process environment.

use std::path::PathBuf;

/// What the runner tells a step about the run, the repository and where to write results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubEnv {
    /// `GITHUB_ACTIONS`: "true" inside a job.
    pub actions: Option<String>,
    /// `GITHUB_API_URL`, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// `GITHUB_SERVER_URL`, for links to the run.
    pub server_url: String,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: Option<String>,
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    pub sha: Option<String>,
    /// `GITHUB_REF`: `refs/heads/main`, `refs/pull/7/merge`, … (code scanning files results under it).
    pub git_ref: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub runner_temp: Option<PathBuf>,
    /// `GITHUB_TOKEN` (the action maps its `github-token` input to it), else `GH_TOKEN`.
    pub token: Option<String>,
}

impl GithubEnv {
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds from any variable lookup; empty values count as unset, as the runner's do.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let path = |name: &str| get(name).map(PathBuf::from);
        GithubEnv {
            actions: get("GITHUB_ACTIONS"),
            api_url: get("GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".to_string())
                .trim_end_matches('/')
                .to_string(),
            server_url: get("GITHUB_SERVER_URL")
                .unwrap_or_else(|| "https://github.com".to_string())
                .trim_end_matches('/')
                .to_string(),
            repository: get("GITHUB_REPOSITORY"),
            event_name: get("GITHUB_EVENT_NAME"),
            event_path: path("GITHUB_EVENT_PATH"),
            sha: get("GITHUB_SHA"),
            git_ref: get("GITHUB_REF"),
            run_id: get("GITHUB_RUN_ID"),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
            workspace: path("GITHUB_WORKSPACE"),
            runner_temp: path("RUNNER_TEMP"),
            token: get("GITHUB_TOKEN").or_else(|| get("GH_TOKEN")),
        }
    }

    /// `owner` and `name` of `GITHUB_REPOSITORY`.
    pub fn owner_repo(&self) -> Option<(&str, &str)> {
        let (owner, name) = self.repository.as_deref()?.split_once('/')?;
        (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then_some((owner, name))
    }

    /// The link to this workflow run (and attempt), shown at the foot of the comment.
    pub fn run_url(&self) -> Option<String> {
        let repository = self.repository.as_deref()?;
        let run_id = self.run_id.as_deref()?;
        let mut url = format!("{}/{repository}/actions/runs/{run_id}", self.server_url);
        if let Some(attempt) = self.run_attempt.as_deref().filter(|a| *a != "1") {
            url.push_str(&format!("/attempts/{attempt}"));
        }
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> GithubEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GithubEnv::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_to_github_dot_com_and_trims_slashes() {
        let e = env(&[("GITHUB_API_URL", "http://127.0.0.1:9/api/v3/")]);
        assert_eq!(e.api_url, "http://127.0.0.1:9/api/v3");
        assert_eq!(env(&[]).api_url, "https://api.github.com");
        assert_eq!(env(&[]).server_url, "https://github.com");
    }

    #[test]
    fn empty_token_is_no_token() {
        assert_eq!(env(&[("GITHUB_TOKEN", "  ")]).token, None);
        assert_eq!(
            env(&[("GITHUB_TOKEN", ""), ("GH_TOKEN", "ghs_x")]).token,
            Some("ghs_x".into())
        );
    }

    #[test]
    fn owner_repo_rejects_malformed() {
        assert_eq!(
            env(&[("GITHUB_REPOSITORY", "acme/app")]).owner_repo(),
            Some(("acme", "app"))
        );
        for bad in ["acme", "acme/", "/app", "a/b/c"] {
            assert_eq!(
                env(&[("GITHUB_REPOSITORY", bad)]).owner_repo(),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn run_url_names_the_attempt_after_the_first() {
        let mut e = env(&[
            ("GITHUB_REPOSITORY", "acme/app"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "1"),
        ]);
        assert_eq!(
            e.run_url().unwrap(),
            "https://github.com/acme/app/actions/runs/42"
        );
        e.run_attempt = Some("3".into());
        assert!(e.run_url().unwrap().ends_with("/runs/42/attempts/3"));
    }
}
