//! GitHub mode against the stand-in GitHub API: the sticky comment (create, update in place, no
//! write when unchanged, never two — also after a 502 that stored the comment), pagination, fork
//! tokens, rate limits, over-long bodies, and the PR of each event shape. The hook is driven
//! through the library here; `action.rs` drives the real binary through `act`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kubectl_posthog::github::{GithubEnv, PublishOptions, Published, publish};
use kubectl_posthog::report::{
    FailOn, Finding, Report, ReportTarget, Severity, Status, Step, Verdict,
};
use serde_json::json;

use kubectl_posthog::github::CommentMode;

use crate::standins::github::{
    APP_LOGIN, APP_TOKEN, BOT_LOGIN, GhFault, GithubStandIn, IDENTITIES, OWNER, PAT_LOGIN,
    PAT_TOKEN, READ_ONLY_TOKEN, REPO, Thread, WRITE_TOKEN,
};

const PR: u64 = 7;
const HEAD_SHA: &str = "2222222222222222222222222222222222222222";
const PUSH_SHA: &str = "3333333333333333333333333333333333333333";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/e2e/fixtures/github/{name}.json"))
}

/// A preflight report with one located P1 failure and `extra` passing checks.
pub fn report(failing_value: &str, extra: usize) -> Report {
    let mut findings = vec![
        Finding::new(
            "config.personal-key",
            Step::Configuration,
            Severity::P1,
            Status::Fail,
            "No personal (phx_) key where a project key belongs",
        )
        .measured(failing_value)
        .remediation("use the project API key (phc_…) from Project settings")
        .at("k8s/production.yaml", Some(42)),
        Finding::new(
            "infra.image-pinned",
            Step::Infrastructure,
            Severity::P3,
            Status::Warn,
            "Image is pinned",
        )
        .measured("ghcr.io/acme/app:1.4 (tag, no digest)"),
    ];
    for i in 0..extra {
        findings.push(
            Finding::new(
                &format!("infra.check-{i}"),
                Step::Infrastructure,
                Severity::P4,
                Status::Pass,
                "A passing check with a long enough title to fill the comment quickly",
            )
            .measured(format!(
                "measured value {i} that is shown next to the verdict"
            )),
        );
    }
    let verdict = Verdict::judge(&findings, FailOn::P2);
    Report::new(
        "preflight",
        ReportTarget::deployment("posthog-integration", Some("prod"), None),
        verdict,
        findings,
        "2026-11-22T10:00:00Z".parse().unwrap(),
    )
}

/// `GITHUB_REF` as the runner sets it for `event`.
fn git_ref(event: &str) -> String {
    match event {
        "pull_request" | "pull_request_fork" => format!("refs/pull/{PR}/merge"),
        _ => "refs/heads/main".to_string(),
    }
}

pub struct Job {
    pub dir: tempfile::TempDir,
    pub env: GithubEnv,
    pub args: PublishOptions,
}

impl Job {
    /// A job step for `event` ("pull_request", "pull_request_fork", "issue_comment", "push")
    /// with the fixture payload of that name.
    pub fn new(gh: &GithubStandIn, event: &str, token: Option<&str>) -> Job {
        Job::at(gh.url(), event, token)
    }

    /// The same against `api_url` (the stand-in's github.com or GHES layout).
    pub fn at(api_url: &str, event: &str, token: Option<&str>) -> Job {
        let dir = tempfile::tempdir().unwrap();
        let event_name = event.strip_suffix("_fork").unwrap_or(event);
        let vars: Vec<(String, String)> = [
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_API_URL", api_url.to_string()),
            ("GITHUB_SERVER_URL", "https://github.com".to_string()),
            ("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}")),
            ("GITHUB_EVENT_NAME", event_name.to_string()),
            ("GITHUB_EVENT_PATH", fixture(event).display().to_string()),
            ("GITHUB_SHA", PUSH_SHA.to_string()),
            ("GITHUB_REF", git_ref(event)),
            ("GITHUB_RUN_ID", "9001".to_string()),
            ("GITHUB_RUN_ATTEMPT", "1".to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                dir.path().join("summary.md").display().to_string(),
            ),
            (
                "GITHUB_OUTPUT",
                dir.path().join("output").display().to_string(),
            ),
            ("GITHUB_WORKSPACE", dir.path().display().to_string()),
            ("RUNNER_TEMP", dir.path().display().to_string()),
            ("GITHUB_TOKEN", token.unwrap_or("").to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let env = GithubEnv::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        let args = PublishOptions {
            pr_comment: true,
            max_wait: Duration::from_secs(5),
            ..PublishOptions::default()
        };
        Job { dir, env, args }
    }

    /// Runs the hook the way `Ctx::emit` does (blocking, off the stand-in's runtime threads).
    pub async fn publish(&self, report: &Report) -> (Published, String) {
        let (report, args, env, cwd) = (
            report.clone(),
            self.args.clone(),
            self.env.clone(),
            self.dir.path().to_path_buf(),
        );
        tokio::task::spawn_blocking(move || {
            let mut err = Vec::new();
            let published = publish(&report, &args, &env, &cwd, &mut err).expect("publish");
            (published, String::from_utf8(err).unwrap())
        })
        .await
        .unwrap()
    }

    /// The next run of the same workflow: a new run id, as on every real run.
    pub fn next_run(&mut self, run_id: u64) {
        self.env.run_id = Some(run_id.to_string());
    }

    pub fn outputs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("output")).unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("summary.md")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_second_leaves_alone_changed_report_edits_in_place() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));

    let (first, stderr) = job
        .publish(&report("POSTHOG_API_KEY holds a phx_ key", 0))
        .await;
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_eq!(gh.writes(), ["POST /repos/acme/app/issues/7/comments"]);
    assert_eq!(
        gh.requests().len(),
        3,
        "the viewer query, one page of comments, POST"
    );
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].author, BOT_LOGIN);
    let body = &comments[0].body;
    assert!(
        body.starts_with("<!-- kubectl-posthog:preflight:prod/posthog-integration -->\n### ❌"),
        "{body}"
    );
    assert!(body.contains("POSTHOG_API_KEY holds a phx_ key"));
    assert!(body.contains("[workflow run](https://github.com/acme/app/actions/runs/9001)"));
    assert!(
        body.contains(&format!("commit {}", &HEAD_SHA[..12])),
        "the PR head, not the merge commit"
    );
    let url = format!(
        "https://github.com/acme/app/pull/7#issuecomment-{}",
        comments[0].id
    );
    assert_eq!(first.comment_url.as_deref(), Some(url.as_str()));
    assert!(
        job.outputs().contains(&format!("comment-url={url}\n")),
        "{}",
        job.outputs()
    );
    assert!(
        stderr.contains("::error file=k8s/production.yaml,line=42,"),
        "{stderr}"
    );
    assert!(
        stderr.contains("comment posted on pull request #7"),
        "{stderr}"
    );

    // The same report in the same run: nothing to write.
    gh.clear_requests();
    let (again, stderr) = job
        .publish(&report("POSTHOG_API_KEY holds a phx_ key", 0))
        .await;
    assert_eq!(gh.writes(), Vec::<String>::new());
    assert_eq!(
        gh.requests().len(),
        2,
        "the viewer query and one page: nothing else"
    );
    assert_eq!(again.comment_url.as_deref(), Some(url.as_str()));
    assert!(
        stderr.contains("comment unchanged on pull request #7"),
        "{stderr}"
    );

    // A changed report edits the same comment with PATCH.
    gh.clear_requests();
    let (third, _) = job
        .publish(&report("POSTHOG_API_KEY holds a phx_ key (rotated)", 0))
        .await;
    let id = comments[0].id;
    assert_eq!(
        gh.writes(),
        [format!("PATCH /repos/acme/app/issues/comments/{id}")]
    );
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1, "never two comments");
    assert_eq!(comments[0].edits, 1);
    assert!(comments[0].body.contains("(rotated)"));
    assert_eq!(third.comment_url.as_deref(), Some(url.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marked_comment_is_found_on_a_later_page_among_other_authors() {
    let gh = GithubStandIn::start().await;
    let marker = "<!-- kubectl-posthog:preflight:prod/posthog-integration -->";
    for i in 0..230 {
        gh.seed(Thread::Issue(PR), "reviewer", &format!("review remark {i}"));
    }
    // A person quoting the marker is not the tool's comment.
    gh.seed(
        Thread::Issue(PR),
        "reviewer",
        &format!("why does {marker} say FAIL?"),
    );
    let ours = gh.seed(
        Thread::Issue(PR),
        BOT_LOGIN,
        &format!("{marker}\nold report"),
    );
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));

    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(
        gh.writes(),
        [format!("PATCH /repos/acme/app/issues/comments/{ours}")]
    );
    let pages: Vec<String> = gh
        .requests()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/comments"))
        .map(|s| format!("{}?{}", s.path, s.query.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        pages,
        [
            "/repos/acme/app/issues/7/comments?per_page=100",
            "/repositories/4242/issues/7/comments?per_page=100&page=2",
            "/repositories/4242/issues/7/comments?per_page=100&page=3",
        ]
    );
    assert!(
        gh.requests()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {WRITE_TOKEN}"))),
        "every page, including Link-followed ones, is authenticated"
    );
    assert_eq!(gh.comments_on_pull(PR).len(), 232, "edited, none added");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gateway_after_the_comment_was_stored_does_not_duplicate_it() {
    let gh = GithubStandIn::start().await;
    gh.fail(
        Some("POST"),
        "/repos/acme/app/issues/7/comments",
        GhFault::BadGatewayAfterWrite,
        1,
    );
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));

    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(gh.comments_on_pull(PR).len(), 1, "never two comments");
    assert_eq!(
        gh.writes(),
        ["POST /repos/acme/app/issues/7/comments"],
        "listed again instead of re-posting"
    );
    assert!(published.comment_url.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gateway_before_the_write_posts_again() {
    let gh = GithubStandIn::start().await;
    gh.fail(
        Some("POST"),
        "/repos/acme/app/issues/7/comments",
        GhFault::Status(502, r#"{"message":"Server Error"}"#.into()),
        1,
    );
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(gh.writes().len(), 2);
    assert_eq!(gh.comments_on_pull(PR).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_read_only_token_degrades_to_summary_and_annotations() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "pull_request_fork", Some(READ_ONLY_TOKEN));
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.comments().len(), 0);
    assert_eq!(published.comment_url, None);
    assert!(stderr.contains("::warning title=kubectl-posthog::could not comment on pull request #7: the token may not write here (403 Resource not accessible by integration); this pull request comes from a fork"), "{stderr}");
    assert!(
        stderr.contains("::error file=k8s/production.yaml,line=42"),
        "{stderr}"
    );
    assert!(
        job.summary()
            .contains("### ❌ kubectl-posthog preflight: FAIL")
    );
    assert!(
        job.outputs().contains("verdict=fail\n"),
        "{}",
        job.outputs()
    );
    assert!(
        job.outputs().contains("comment-url=\n"),
        "{}",
        job.outputs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_degrades_without_calling_github() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "pull_request", None);
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert!(gh.requests().is_empty());
    assert!(
        stderr.contains("::warning title=kubectl-posthog::no GitHub token"),
        "{stderr}"
    );
    assert_eq!(published.comment_url, None);
    assert!(
        job.outputs().contains("failed=1\nwarnings=1\n"),
        "{}",
        job.outputs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out() {
    let cases = [
        (
            "429 retry-after",
            GhFault::RateLimit {
                status: 429,
                retry_after: Some(1),
                reset_in: None,
            },
            Duration::from_secs(1),
        ),
        (
            "403 secondary retry-after",
            GhFault::RateLimit {
                status: 403,
                retry_after: Some(1),
                reset_in: None,
            },
            Duration::from_secs(1),
        ),
        (
            "403 primary reset",
            GhFault::RateLimit {
                status: 403,
                retry_after: None,
                reset_in: Some(1),
            },
            Duration::from_secs(1),
        ),
        // No time named: GitHub says wait a minute; the 2 s budget shortens the guess.
        (
            "429 bare",
            GhFault::RateLimit {
                status: 429,
                retry_after: None,
                reset_in: None,
            },
            Duration::from_secs(2),
        ),
    ];
    for (name, fault, least) in cases {
        let gh = GithubStandIn::start().await;
        gh.fail(Some("POST"), "/repos/acme/app/issues/7/comments", fault, 1);
        let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
        job.args.max_wait = Duration::from_secs(3);
        let (published, _) = job.publish(&report("phx_ key", 0)).await;
        assert!(
            published.warnings.is_empty(),
            "{name}: {:?}",
            published.warnings
        );
        assert_eq!(gh.comments_on_pull(PR).len(), 1, "{name}");
        let posts: Vec<Instant> = gh
            .requests()
            .iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/comments"))
            .map(|s| s.at)
            .collect();
        assert_eq!(posts.len(), 2, "{name}: limited, then accepted");
        let waited = posts[1] - posts[0];
        assert!(
            waited >= least - Duration::from_millis(50),
            "{name}: waited {waited:?}"
        );
        assert!(
            waited < least + Duration::from_millis(1500),
            "{name}: waited {waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_longer_than_the_bound_gives_up_with_a_warning() {
    let gh = GithubStandIn::start().await;
    gh.fail(
        None,
        "/repos/acme/app/issues/7/comments",
        GhFault::RateLimit {
            status: 403,
            retry_after: Some(600),
            reset_in: None,
        },
        1,
    );
    let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    job.args.max_wait = Duration::from_secs(2);
    let started = Instant::now();
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "did not sleep 600 s"
    );
    assert_eq!(published.comment_url, None);
    assert!(
        stderr.contains("GitHub asks to wait 600s, more than the 1s left of --github-max-wait")
            || stderr
                .contains("GitHub asks to wait 600s, more than the 2s left of --github-max-wait"),
        "{stderr}"
    );
    assert!(job.outputs().contains("verdict=fail\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_report_is_cut_to_githubs_limit_with_a_pointer_to_the_summary() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    let big = report("phx_ key", 1500);
    let (published, _) = job.publish(&big).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(
        body.contains(
            "The full report is in the [job summary](https://github.com/acme/app/actions/runs/9001)"
        ),
        "{}",
        &body[body.len() - 600..]
    );
    assert!(
        body.contains("config.personal-key"),
        "failing items come first and survive the cut"
    );
    assert!(
        job.summary().contains("infra.check-1499"),
        "the summary has everything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_for_the_server_falls_back_to_a_short_comment() {
    let gh = GithubStandIn::start().await;
    gh.set_body_limit(2_000);
    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 40)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .body
            .contains("The full report is in the [job summary]"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains("1 blocking finding"));
    let statuses: Vec<u16> = gh
        .requests()
        .iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("/comments"))
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [422, 201]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_comment_event_comments_on_its_pull_request() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "issue_comment", Some(WRITE_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(gh.comments_on_pull(PR).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_comments_on_the_pull_request_of_the_commit_and_on_the_commit() {
    let gh = GithubStandIn::start().await;
    gh.set_pulls_of_commit(
        PUSH_SHA,
        vec![json!({"number": 7, "state": "closed", "merged_at": "2026-11-22T10:20:00Z", "merge_commit_sha": PUSH_SHA})],
    );
    let mut job = Job::new(&gh, "push", Some(PAT_TOKEN));
    job.args.commit_comment = true;
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let on_pr = gh.comments_on_pull(PR);
    let on_commit = gh.comments_on(&Thread::Commit(PUSH_SHA.to_string()));
    assert_eq!((on_pr.len(), on_commit.len()), (1, 1));
    assert_eq!(
        on_pr[0].author, PAT_LOGIN,
        "a personal token comments as its user"
    );
    assert_eq!(
        published.comment_url.as_deref(),
        Some(
            format!(
                "https://github.com/acme/app/pull/7#issuecomment-{}",
                on_pr[0].id
            )
            .as_str()
        )
    );

    // Again: both are found (the commit's by its own listing) and left alone.
    gh.clear_requests();
    job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.writes(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_of_a_commit_without_a_pull_request_skips_the_comment_quietly() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "push", Some(WRITE_TOKEN));
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert!(gh.comments().is_empty());
    assert!(
        stderr.contains("skipped: commit 333333333333 belongs to no pull request"),
        "{stderr}"
    );
    assert_eq!(gh.writes(), Vec::<String>::new());
}

/// Fails with every violation of the official SARIF 2.1.0 schema (vendored from
/// oasis-tcs/sarif-spec, see fixtures/github/README.md).
pub fn assert_valid_sarif(log: &serde_json::Value) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("sarif-schema-2.1.0")).expect("the vendored schema"),
        )
        .expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid SARIF 2.1.0:\n{}\n{log:#}",
        errors.join("\n")
    );
}

/// Guards issue 16: an App installation token (for which `GET /user` answers 403) was taken for
/// `github-actions[bot]`, never found its own comment and posted a new one on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_token_keeps_one_comment_over_three_runs() {
    for (token, login) in IDENTITIES {
        let gh = GithubStandIn::start().await;
        let mut job = Job::new(&gh, "pull_request", Some(token));
        for (run, value) in [
            (101, "phx_ key"),
            (102, "phx_ key (rotated)"),
            (103, "phx_ key (rotated)"),
        ] {
            job.next_run(run);
            let (published, _) = job.publish(&report(value, 0)).await;
            assert!(
                published.warnings.is_empty(),
                "{login} run {run}: {:?}",
                published.warnings
            );
        }
        let comments = gh.comments_on_pull(PR);
        assert_eq!(comments.len(), 1, "{login}: {:?}", gh.writes());
        assert_eq!(comments[0].author, login);
        assert_eq!(
            comments[0].edits, 1,
            "{login}: edited once, then left alone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghes_layout_asks_graphql_at_api_graphql() {
    let gh = GithubStandIn::start().await;
    let job = Job::at(&gh.ghes_url(), "pull_request", Some(APP_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let paths: Vec<String> = gh
        .requests()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /api/graphql",
            "GET /api/v3/repos/acme/app/issues/7/comments",
            "POST /api/v3/repos/acme/app/issues/7/comments",
        ]
    );
    assert_eq!(gh.comments_on_pull(PR)[0].author, APP_LOGIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_down_falls_back_to_get_user_then_warns_before_assuming_the_bot() {
    let gh = GithubStandIn::start().await;
    gh.fail(
        Some("POST"),
        "/graphql",
        GhFault::Status(502, r#"{"message":"Server Error"}"#.into()),
        6,
    );
    let job = Job::new(&gh, "pull_request", Some(PAT_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(
        gh.comments_on_pull(PR)[0].author,
        PAT_LOGIN,
        "GET /user answered"
    );

    let job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    let warned = published.warnings.join("\n");
    assert!(
        warned.contains("cannot tell which account the token writes as")
            && warned.contains("looking for comments by github-actions[bot]"),
        "{warned}"
    );
    assert_eq!(gh.comments_on_pull(PR).len(), 2, "the PAT's and the bot's");
}

/// Guards issue 16: the body links the run, every real run has a new id, so an unchanged
/// report was written again on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_report_on_a_new_run_id_makes_no_write() {
    let gh = GithubStandIn::start().await;
    let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    job.publish(&report("phx_ key", 0)).await;
    let first = gh.comments_on_pull(PR)[0].body.clone();
    gh.clear_requests();
    job.next_run(9002);
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.writes(), Vec::<String>::new(), "{stderr}");
    assert!(
        stderr.contains("comment unchanged on pull request #7"),
        "{stderr}"
    );
    assert!(published.comment_url.is_some());
    assert_eq!(
        gh.comments_on_pull(PR)[0].body,
        first,
        "the footer names the run that last changed the report"
    );
}

/// Guards issue 16: `--all` put the Deployment count into the marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_deployments_with_a_growing_count_keep_one_comment() {
    let gh = GithubStandIn::start().await;
    // A comment left by a version that counted is taken over too.
    let legacy = gh.seed(
        Thread::Issue(PR),
        BOT_LOGIN,
        "<!-- kubectl-posthog:preflight:prod/* (2 using PostHog) -->\nold",
    );
    let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    for (run, count) in [(1, 2), (2, 3), (3, 4)] {
        let mut all = report("phx_ key", 0);
        all.target.name = format!("* ({count} using PostHog)");
        job.next_run(run);
        job.publish(&all).await;
    }
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1, "{:?}", gh.writes());
    assert_eq!(comments[0].id, legacy);
    assert!(
        comments[0]
            .body
            .starts_with("<!-- kubectl-posthog:preflight:prod/* -->")
    );

    // A key of the user's own keeps a second gate apart.
    job.args.comment_key = Some("staging".into());
    job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.comments_on_pull(PR).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_previous_posts_anew_and_minimizes_the_old_one() {
    let gh = GithubStandIn::start().await;
    let mut job = Job::new(&gh, "pull_request", Some(APP_TOKEN));
    job.args.comment_mode = CommentMode::HidePrevious;
    job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.writes(), ["POST /repos/acme/app/issues/7/comments"]);

    // Unchanged on a new run: nothing written, nothing hidden.
    gh.clear_requests();
    job.next_run(2);
    job.publish(&report("phx_ key", 0)).await;
    assert_eq!(gh.writes(), Vec::<String>::new());

    // Changed: a new comment at the end, the previous one hidden as outdated.
    gh.clear_requests();
    job.next_run(3);
    let (published, _) = job.publish(&report("phx_ key (rotated)", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(
        gh.writes(),
        [
            "POST /repos/acme/app/issues/7/comments",
            "GRAPHQL minimizeComment"
        ]
    );
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].minimized.as_deref(), Some("OUTDATED"));
    assert_eq!(comments[1].minimized, None);
    assert!(comments[1].body.contains("(rotated)"));
    assert_eq!(
        published.comment_url,
        Some(format!(
            "https://github.com/acme/app/pull/7#issuecomment-{}",
            comments[1].id
        ))
    );

    // Again changed: only the one that was shown is hidden now.
    job.next_run(4);
    job.publish(&report("phx_ key (rotated twice)", 0)).await;
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 3);
    assert!(comments[..2].iter().all(|c| c.minimized.is_some()));
    assert!(comments[2].minimized.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_posts_anew_and_deletes_the_old_one_also_after_a_502() {
    let gh = GithubStandIn::start().await;
    let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    job.args.comment_mode = CommentMode::Recreate;
    job.publish(&report("phx_ key", 0)).await;
    let old = gh.comments_on_pull(PR)[0].id;
    gh.fail(
        Some("POST"),
        "/repos/acme/app/issues/7/comments",
        GhFault::BadGatewayAfterWrite,
        1,
    );
    gh.clear_requests();
    job.next_run(2);
    let (published, _) = job.publish(&report("phx_ key (rotated)", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    assert_eq!(
        gh.writes(),
        [
            "POST /repos/acme/app/issues/7/comments".to_string(),
            format!("DELETE /repos/acme/app/issues/comments/{old}"),
        ],
        "the stored POST is found by listing again, not posted twice"
    );
    let comments = gh.comments_on_pull(PR);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("(rotated)"));
}

/// Guards issue 16: the 403 warning always blamed forks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_repository_token_without_permission_is_told_which_to_add() {
    let gh = GithubStandIn::start().await;
    let job = Job::new(&gh, "pull_request", Some(READ_ONLY_TOKEN));
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    let warned = published.warnings.join("\n");
    assert!(
        warned
            .contains("the token lacks `pull-requests: write`: add it to the job's `permissions`"),
        "{warned}"
    );
    assert!(!warned.contains("fork"), "{warned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_run_carries_the_summary_and_every_annotation_in_batches_of_fifty() {
    let gh = GithubStandIn::start().await;
    let mut job = Job::new(&gh, "push", Some(WRITE_TOKEN));
    job.args.pr_comment = false;
    job.args.check_run = true;
    let mut big = report("phx_ key", 0);
    for i in 0..119 {
        big.findings.push(
            Finding::new(
                &format!("infra.located-{i}"),
                Step::Infrastructure,
                Severity::P3,
                Status::Fail,
                "a P3 failure",
            )
            .measured(format!("value {i}"))
            .at("k8s/production.yaml", Some(100 + i)),
        );
    }
    big.verdict = Verdict::judge(&big.findings, FailOn::P2);
    let (published, stderr) = job.publish(&big).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        run.name,
        "kubectl-posthog preflight (prod/posthog-integration)"
    );
    assert_eq!(run.head_sha, PUSH_SHA);
    assert_eq!(
        (run.status.as_str(), run.conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert!(
        run.summary
            .contains("### ❌ kubectl-posthog preflight: FAIL"),
        "{}",
        run.summary
    );
    assert_eq!(run.annotations.len(), 120);
    let levels: Vec<&str> = run
        .annotations
        .iter()
        .map(|a| a["annotation_level"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels.iter().filter(|l| **l == "failure").count(),
        1,
        "only the P1 blocks at p2"
    );
    assert_eq!(levels.iter().filter(|l| **l == "warning").count(), 119);
    assert_eq!(
        gh.writes()
            .iter()
            .map(|w| w.split(' ').next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["POST", "PATCH", "PATCH"]
    );
    assert_eq!(
        published.check_run_url.as_deref(),
        Some(format!("https://github.com/acme/app/runs/{}", run.id).as_str())
    );
    assert!(job.outputs().contains(&format!(
        "check-run-url=https://github.com/acme/app/runs/{}\n",
        run.id
    )));
    assert!(stderr.contains("kubectl-posthog: check run"), "{stderr}");

    // A personal token cannot create check runs: a warning that says so, the verdict untouched.
    let mut job = Job::new(&gh, "push", Some(PAT_TOKEN));
    job.args.pr_comment = false;
    job.args.check_run = true;
    let (published, _) = job.publish(&big).await;
    assert!(
        published
            .warnings
            .join("\n")
            .contains("a personal token cannot"),
        "{:?}",
        published.warnings
    );
    assert!(job.outputs().contains("verdict=fail\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sarif_is_written_valid_and_uploaded_to_code_scanning() {
    let gh = GithubStandIn::start().await;
    let mut job = Job::new(&gh, "pull_request", Some(WRITE_TOKEN));
    job.args.pr_comment = false;
    job.args.upload_sarif = true;
    let (published, stderr) = job.publish(&report("phx_ key", 0)).await;
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let path = published.sarif.clone().expect("a SARIF file");
    assert!(
        job.outputs()
            .contains(&format!("sarif={}\n", path.display()))
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_valid_sarif(&written);
    let uploads = gh.sarif_uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].sarif, written, "the upload is the file");
    assert_eq!(uploads[0].git_ref, "refs/pull/7/merge");
    assert_eq!(uploads[0].commit_sha, PUSH_SHA);
    let result = &written["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "config.personal-key");
    assert_eq!(result["level"], "error");
    assert!(
        stderr.contains("SARIF uploaded to code scanning"),
        "{stderr}"
    );

    // A fork's token cannot upload: a warning, and the file is still there.
    let mut job = Job::new(&gh, "pull_request_fork", Some(READ_ONLY_TOKEN));
    job.args.pr_comment = false;
    job.args.upload_sarif = true;
    let (published, _) = job.publish(&report("phx_ key", 0)).await;
    assert!(
        published
            .warnings
            .join("\n")
            .contains("could not upload the SARIF log"),
        "{:?}",
        published.warnings
    );
    assert!(published.sarif.is_some_and(|p| p.is_file()));
}

/// The real binary in a job step: the gate's exit code follows `--fail-on` and nothing else.
mod binary {
    use super::*;
    use crate::support::{bin, run};

    const MANIFEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: posthog-integration\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/app:1.4\n          env:\n            - name: POSTHOG_API_KEY\n              value: phx_AAAAbbbbCCCCddddEEEEffffGGGGhhhh1234\n";

    fn step(gh: &GithubStandIn, dir: &Path, token: &str, extra: &[&str]) -> crate::support::Run {
        std::fs::create_dir_all(dir.join("k8s")).unwrap();
        std::fs::write(dir.join("k8s/production.yaml"), MANIFEST).unwrap();
        let mut cmd = bin();
        cmd.current_dir(dir)
            .args([
                "preflight",
                "-f",
                "k8s/production.yaml",
                "--offline",
                "--pr-comment",
            ])
            .args(extra)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", fixture("pull_request"))
            .env("GITHUB_RUN_ID", "77")
            .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
            .env("GITHUB_OUTPUT", dir.join("output"))
            .env("GITHUB_WORKSPACE", dir)
            .env("RUNNER_TEMP", dir)
            .env("GITHUB_TOKEN", token);
        run(&mut cmd)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exit_code_follows_fail_on_and_a_fork_token_only_warns() {
        let gh = GithubStandIn::start().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (gh2, p2) = (gh.clone(), path.clone());
        let out = tokio::task::spawn_blocking(move || step(&gh2, &p2, READ_ONLY_TOKEN, &[]))
            .await
            .unwrap();
        assert_eq!(
            out.code, 1,
            "blocking findings fail the gate:\n{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("::warning title=kubectl-posthog::could not comment on pull request #7"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("::error file=k8s/production.yaml,line="),
            "{}",
            out.stderr
        );
        assert!(
            out.stdout.contains("VERDICT  FAIL"),
            "the table still goes to stdout:\n{}",
            out.stdout
        );
        let outputs = std::fs::read_to_string(path.join("output")).unwrap();
        assert!(outputs.contains("verdict=fail\n"), "{outputs}");
        let report = path.join("kubectl-posthog-preflight.json");
        assert!(
            outputs.contains(&format!("report-json={}\n", report.display())),
            "{outputs}"
        );
        let json = crate::support::report_json(&std::fs::read_to_string(&report).unwrap());
        assert_eq!(json["verdict"]["result"], "fail");
        assert!(
            std::fs::read_to_string(path.join("summary.md"))
                .unwrap()
                .starts_with("### ❌ kubectl-posthog preflight: FAIL")
        );
        assert!(gh.comments().is_empty());

        // --fail-on never: the same findings pass the gate; the comment is posted with -o json on stdout.
        let (gh2, p2) = (gh.clone(), path.clone());
        let out = tokio::task::spawn_blocking(move || {
            step(
                &gh2,
                &p2,
                WRITE_TOKEN,
                &["--fail-on", "never", "-o", "json"],
            )
        })
        .await
        .unwrap();
        assert_eq!(out.code, 0, "{}", out.stderr);
        let stdout = crate::support::report_json(&out.stdout);
        assert_eq!(stdout["verdict"]["result"], "warn");
        assert_eq!(gh.comments_on_pull(PR).len(), 1);
        assert!(
            gh.comments_on_pull(PR)[0]
                .body
                .contains("[workflow run](https://github.com/acme/app/actions/runs/77)")
        );
    }

    /// Issue 17 item 1: `-vv` logs each request to GitHub (method, URL, status, latency) and
    /// `-vvv` the bodies, without the token and without the key the comment quotes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verbose_logs_each_github_request_without_the_token() {
        let gh = GithubStandIn::start().await;
        let dir = tempfile::tempdir().unwrap();
        let (gh2, path) = (gh.clone(), dir.path().to_path_buf());
        let out = tokio::task::spawn_blocking(move || step(&gh2, &path, WRITE_TOKEN, &["-vvv"]))
            .await
            .unwrap();
        assert_eq!(out.code, 1, "{}", out.stderr);
        for secret in [WRITE_TOKEN, "phx_AAAAbbbbCCCCddddEEEEffffGGGGhhhh1234"] {
            assert!(!out.stderr.contains(secret), "{secret}:\n{}", out.stderr);
        }
        let line = |pattern: &str| {
            let re = regex::Regex::new(pattern).unwrap();
            out.stderr.lines().any(|l| re.is_match(l))
        };
        assert!(
            line(
                r"DEBUG kubectl_posthog::http_log: github GET http://127\.0\.0\.1:\d+/repos/acme/app/issues/7/comments\S* 200 OK in \d+ ms$"
            ),
            "{}",
            out.stderr
        );
        assert!(
            line(
                r"DEBUG kubectl_posthog::http_log: github POST http://127\.0\.0\.1:\d+/repos/acme/app/issues/7/comments 201 Created in \d+ ms$"
            ),
            "{}",
            out.stderr
        );
        assert!(
            line(r"TRACE kubectl_posthog::http_log: github request body: \{.*kubectl-posthog"),
            "{}",
            out.stderr
        );
    }
}

/// The real binary: a command that stops on bad input says so as an annotation too.
#[test]
fn an_error_in_github_mode_is_an_error_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::run(
        crate::support::bin()
            .current_dir(dir.path())
            .args([
                "preflight",
                "-f",
                "k8s/missing.yaml",
                "--offline",
                "--github",
            ])
            .env("RUNNER_TEMP", dir.path()),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let annotation = out
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title=kubectl-posthog::"))
        .unwrap_or_else(|| panic!("no error annotation:\n{}", out.stderr));
    assert!(annotation.contains("k8s/missing.yaml"), "{annotation}");
    // Outside GitHub mode, the plain one-line error only.
    let out = crate::support::run(crate::support::bin().current_dir(dir.path()).args([
        "preflight",
        "-f",
        "k8s/missing.yaml",
        "--offline",
    ]));
    assert!(!out.stderr.contains("::error"), "{}", out.stderr);
}
