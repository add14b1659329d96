//! Step 5's network half: asking PostHog about the keys, the status page about incidents, and the
//! staging and health endpoints about themselves. Each answer (or failure, with its cause) becomes a
//! [`Probe`] that the pure checks judge; nothing here decides pass or fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::OnceCell;
use url::Url;

use crate::posthog::{
    PersonalKeyCheck, PostHogClient, ProjectKeyCheck, Region, RemoteError, StatusSnapshot,
};

use super::Subject;
use super::facts::SecretValue;
use super::region::{RegionChoice, region_for};

/// The outcome of one remote question.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe<T> {
    Done(T),
    /// The remote failed: unreachable, timed out, 5xx, malformed answer. The cause is one line.
    Failed(String),
    /// 429 even after the retry: not the remote's fault, try again later.
    RateLimited(String),
    /// Not asked, and why (`--offline`, no key available, no URL given).
    Skipped(String),
}

impl<T> Probe<T> {
    pub fn from_result(result: Result<T, RemoteError>) -> Self {
        match result {
            Ok(value) => Probe::Done(value),
            Err(e) if e.status() == Some(429) => Probe::RateLimited(e.to_string()),
            Err(e) => Probe::Failed(e.to_string()),
        }
    }
}

/// What an HTTP health endpoint answered.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthAnswer {
    /// The URL or the API-server proxy path that was asked.
    pub via: String,
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

/// A personal or secret key found in the Deployment (live) or the environment (offline).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalKeyResult {
    pub env: String,
    pub masked: String,
    pub result: Probe<PersonalKeyCheck>,
}

/// Remote answers about one Deployment.
#[derive(Debug, Clone)]
pub struct SubjectRemote {
    pub region: RegionChoice,
    pub health: Probe<HealthAnswer>,
    pub project_key: Probe<ProjectKeyCheck>,
    /// Where the project key came from, masked (`POSTHOG_API_KEY from secret x: phc_…abcd`).
    pub project_key_source: Option<String>,
    pub personal_keys: Vec<PersonalKeyResult>,
    pub status: Probe<StatusSnapshot>,
    /// The URL asked for key validation, for the evidence column.
    pub ingest: Url,
    pub app: Url,
}

/// Remote answers that do not depend on a Deployment.
#[derive(Debug, Clone)]
pub struct SharedRemote {
    pub staging: Probe<HealthAnswer>,
}

/// What the command line and config say about remotes.
#[derive(Debug, Clone)]
pub struct RemoteInputs {
    pub offline: bool,
    /// Live mode reads keys from the cluster; offline mode from the tool's own environment.
    pub live: bool,
    pub posthog_host: Option<String>,
    pub status_url: Option<Url>,
    /// True when the status URL was given explicitly (then it is asked even for self-hosted PostHog).
    pub status_url_explicit: bool,
    pub status_fallback_url: Option<Url>,
    pub staging_url: Option<Url>,
    pub health_url: Option<Url>,
    /// Offline: the variable of this process holding the project key.
    pub api_key_env: String,
    pub timeout: Duration,
}

pub const OFFLINE: &str = "offline: no request sent (--offline)";

/// The keys a Deployment would send, from its Secrets (live) or this process's environment (offline).
fn key_from(
    s: &Subject,
    inputs: &RemoteInputs,
    deployment_var: &str,
    process_var: &str,
) -> Result<(SecretValue, String), String> {
    if inputs.live {
        let var = s
            .env
            .get(deployment_var)
            .ok_or_else(|| format!("{deployment_var} is not set in the Deployment"))?;
        match var.value.known() {
            Some(value) => Ok((
                value.clone(),
                format!(
                    "{deployment_var} from {}: {}",
                    var.source.describe(),
                    value.masked()
                ),
            )),
            None => Err(format!("the value of {deployment_var} is not readable")),
        }
    } else {
        match std::env::var(process_var) {
            Ok(value) if !value.trim().is_empty() => {
                let value = SecretValue::new(value);
                let masked = value.masked();
                Ok((value, format!("${process_var} of this process: {masked}")))
            }
            _ => Err(format!(
                "offline, no key in ${process_var} (set it, or name another variable with --api-key-env)"
            )),
        }
    }
}

/// Asks every remote question for the given Deployments, concurrently and at most once per
/// distinct key and region. `health` answers the live health probe (through the API server) and
/// is only called when no `--health-url` is given.
pub async fn gather<'a, H, F>(
    subjects: &[Subject<'a>],
    inputs: &RemoteInputs,
    client: &PostHogClient,
    health: H,
) -> (Vec<SubjectRemote>, SharedRemote)
where
    H: Fn(usize) -> F,
    F: std::future::Future<Output = Probe<HealthAnswer>>,
{
    let staging = async {
        match (&inputs.staging_url, inputs.offline) {
            (_, true) => Probe::Skipped(OFFLINE.to_string()),
            (None, false) => Probe::Skipped(
                "no staging URL: pass --staging-url or set preflight.stagingUrl".to_string(),
            ),
            (Some(url), false) => probe_url(client, url).await,
        }
    };

    // One status request per region in use, concurrently with everything else.
    let regions: Vec<RegionChoice> = subjects.iter().map(region_for).collect();
    let statuses = async {
        let mut distinct: Vec<Region> = Vec::new();
        for choice in &regions {
            if !distinct.contains(&choice.region) {
                distinct.push(choice.region.clone());
            }
        }
        let probes = futures::future::join_all(
            distinct
                .iter()
                .map(|region| status_probe(client, inputs, region)),
        )
        .await;
        distinct
            .into_iter()
            .map(|r| r.name())
            .zip(probes)
            .collect::<HashMap<String, Probe<StatusSnapshot>>>()
    };

    // One request per distinct key and endpoint, however many Deployments share it.
    let caches = Caches::default();
    let work = subjects.iter().enumerate().map(|(i, s)| {
        let choice = regions[i].clone();
        let health = &health;
        let caches = &caches;
        async move {
            let health = if inputs.offline {
                Probe::Skipped(OFFLINE.to_string())
            } else if let Some(url) = &inputs.health_url {
                probe_url(client, url).await
            } else if inputs.live {
                health(i).await
            } else {
                Probe::Skipped(
                    "offline manifests: pass --health-url to check the endpoint".to_string(),
                )
            };
            subject_remote(s, choice, health, inputs, client, caches).await
        }
    });
    let remotes = futures::stream::iter(work)
        .enumerate()
        .map(|(i, f)| async move { (i, f.await) })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<(usize, SubjectRemote)>>();
    let (staging, statuses, mut results) = tokio::join!(staging, statuses, remotes);
    results.sort_by_key(|(i, _)| *i);
    let remotes = results
        .into_iter()
        .map(|(_, mut remote)| {
            if let Some(status) = statuses.get(&remote.region.region.name()) {
                remote.status = status.clone();
            }
            remote
        })
        .collect();
    (remotes, SharedRemote { staging })
}

/// Answers already asked for, per (endpoint, key), shared by every Deployment of a run.
#[derive(Default)]
struct Caches {
    project: KeyCache<ProjectKeyCheck>,
    personal: KeyCache<PersonalKeyCheck>,
}

/// The key checks of one Deployment, against the endpoints of its region (or `--posthog-host`).
async fn subject_remote(
    s: &Subject<'_>,
    choice: RegionChoice,
    health: Probe<HealthAnswer>,
    inputs: &RemoteInputs,
    client: &PostHogClient,
    caches: &Caches,
) -> SubjectRemote {
    // --posthog-host (or posthog.host) replaces the endpoints, not the region.
    let endpoint = inputs
        .posthog_host
        .as_deref()
        .and_then(Region::from_host)
        .unwrap_or_else(|| choice.region.clone());
    let ingest = endpoint.ingest_url();
    let app = endpoint.app_url();
    let names = s.names;
    let (project_key, project_key_source) =
        match key_from(s, inputs, &names.api_key_env, &inputs.api_key_env) {
            _ if inputs.offline => (Probe::Skipped(OFFLINE.to_string()), None),
            Err(why) => (Probe::Skipped(why), None),
            Ok((key, source)) => {
                let probe = once(&caches.project, &ingest, &key, || async {
                    Probe::from_result(client.check_project_key(&ingest, key.expose()).await)
                })
                .await;
                (probe, Some(source))
            }
        };
    let mut personal_keys = Vec::new();
    for name in &names.personal_key_env {
        let Ok((key, _)) = key_from(s, inputs, name, name) else {
            continue;
        };
        let result = if inputs.offline {
            Probe::Skipped(OFFLINE.to_string())
        } else {
            once(&caches.personal, &app, &key, || async {
                Probe::from_result(client.check_personal_key(&app, key.expose()).await)
            })
            .await
        };
        personal_keys.push(PersonalKeyResult {
            env: name.clone(),
            masked: key.masked(),
            result,
        });
    }
    SubjectRemote {
        region: choice,
        health,
        project_key,
        project_key_source,
        personal_keys,
        status: Probe::Skipped("no status request".to_string()),
        ingest,
        app,
    }
}

/// Requests in flight at once (health probes through the API server, key checks).
const CONCURRENCY: usize = 16;

type KeyCache<T> = tokio::sync::Mutex<HashMap<(String, String), Arc<OnceCell<Probe<T>>>>>;

/// The answer for (endpoint, key), asking at most once even when many Deployments ask together.
async fn once<T, F, Fut>(cache: &KeyCache<T>, endpoint: &Url, key: &SecretValue, ask: F) -> Probe<T>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Probe<T>>,
{
    let cell = cache
        .lock()
        .await
        .entry((endpoint.to_string(), key.expose().to_string()))
        .or_default()
        .clone();
    cell.get_or_init(ask).await.clone()
}

async fn status_probe(
    client: &PostHogClient,
    inputs: &RemoteInputs,
    region: &Region,
) -> Probe<StatusSnapshot> {
    if inputs.offline {
        return Probe::Skipped(OFFLINE.to_string());
    }
    if matches!(region, Region::SelfHosted(_)) && !inputs.status_url_explicit {
        return Probe::Skipped(
            "self-hosted PostHog is not on PostHog's status page (pass --status-url to ask one)"
                .to_string(),
        );
    }
    let Some(url) = &inputs.status_url else {
        return Probe::Skipped("no status URL".to_string());
    };
    let filter = match region {
        Region::SelfHosted(_) => None,
        other => Some(other),
    };
    Probe::from_result(
        client
            .status(url, inputs.status_fallback_url.as_ref(), filter)
            .await,
    )
}

async fn probe_url(client: &PostHogClient, url: &Url) -> Probe<HealthAnswer> {
    match client.probe(url).await {
        Ok(answer) => Probe::Done(HealthAnswer {
            via: format!("GET {url}"),
            status: answer.status,
            body: answer.body,
            elapsed: answer.elapsed,
        }),
        Err(e) => Probe::from_result(Err(e)),
    }
}
