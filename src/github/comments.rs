//! The sticky comments of a run: which threads (the PR of the event, or of the pushed commit; the
//! commit), whose comments are ours ([`super::identity`]), and one upsert per thread.

use super::api::Method;
use super::comment::{self, RunLink};
use super::event::{self, PullSource};
use super::identity;
use super::job::{Job, RemoteOutcome, Repo, SUMMARY_ONLY, Write, warning};
use super::sticky::{Sticky, Thread};

/// Upserts the PR and/or commit comment the options ask for.
pub async fn upsert_all(job: &Job<'_>, repo: &Repo<'_>, out: &mut RemoteOutcome) {
    let options = job.options;
    let sha = job.commit();
    let mut threads = Vec::new();
    if options.pr_comment {
        match event::pull_source(job.event_name(), job.payload) {
            PullSource::Number(n) => threads.push(Thread::Pull(n)),
            PullSource::Commit(sha) => {
                let path = repo.path(&format!("/commits/{sha}/pulls"));
                match repo.client.send(Method::Get, &path, None).await {
                    Ok(response) => {
                        let pulls = response.body.as_array().cloned().unwrap_or_default();
                        match event::choose_pull(&pulls, &sha) {
                            Some(n) => threads.push(Thread::Pull(n)),
                            None => out.lines.push(format!(
                                "comment skipped: commit {} belongs to no pull request",
                                &sha[..sha.len().min(12)]
                            )),
                        }
                    }
                    Err(error) => out.warnings.push(format!(
                        "cannot find the pull request of commit {sha}: {error}; {SUMMARY_ONLY}"
                    )),
                }
            }
            PullSource::None(reason) => out.lines.push(format!("comment skipped: {reason}")),
        }
    }
    if options.commit_comment {
        match &sha {
            Some(sha) => threads.push(Thread::Commit(sha.clone())),
            None => out.warnings.push(format!(
                "no commit SHA in the event or GITHUB_SHA to comment on: {SUMMARY_ONLY}"
            )),
        }
    }
    if threads.is_empty() {
        return;
    }

    let link = RunLink {
        run_url: job.env.run_url(),
        sha,
    };
    let body = comment::body(job.report, job.marker, job.markdown, &link);
    let short = comment::short_body(job.report, job.marker, &link);
    let identity = identity::token_identity(repo.client).await;
    if let Some(why) = &identity.assumed_because {
        out.warnings.push(format!(
            "cannot tell which account the token writes as ({why}); looking for comments by {}",
            identity.login
        ));
    }
    for thread in threads {
        let write = match thread {
            Thread::Pull(_) => Write::PullComment,
            Thread::Commit(_) => Write::CommitComment,
        };
        let sticky = Sticky {
            client: repo.client,
            owner: repo.owner,
            repo: repo.name,
            thread: thread.clone(),
            marker: job.marker,
            author: &identity.login,
            mode: options.comment_mode,
        };
        match sticky.upsert(&body, &short).await {
            Ok(outcome) => {
                let upsert = outcome.upsert;
                out.lines.push(format!(
                    "comment {} on {thread}: {}",
                    upsert.verb(),
                    upsert.url()
                ));
                out.warnings.extend(outcome.warning);
                // PR threads come first: the PR comment is the `comment-url` output when there is one.
                out.comment_url
                    .get_or_insert_with(|| upsert.url().to_string());
            }
            Err(error) => out.warnings.push(warning(
                &format!("could not comment on {thread}"),
                &error,
                write,
                job.is_fork(),
            )),
        }
    }
}
