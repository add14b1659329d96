//! `kubectl posthog preflight`: the production checklist, live against the cluster or offline
//! against manifest files, plus PostHog's own answers about keys, status and health.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use url::Url;

use crate::checks::checklist::{self, Inputs};
use crate::checks::live::{self, Scope};
use crate::checks::manifests::{self, Input};
use crate::checks::remote::{self, Probe, RemoteInputs};
use crate::checks::{Subject, local, policy, proxy, scan, select};
use crate::cmd::{Ctx, DEFAULT_DEPLOYMENT, TargetArg};
use crate::error::{Error, Result};
use crate::posthog::{PostHogClient, STATUS_FALLBACK_URL, STATUS_URL};
use crate::report::{FailOn, Report, ReportTarget, Verdict};

const EXAMPLES: &str = "\
Examples:
  # the checklist for deployment/posthog-integration in the current namespace
  kubectl posthog preflight

  # every Deployment using PostHog in all namespaces, as JSON
  kubectl posthog preflight --all -A -o json

  # a PR gate: manifests only, no cluster and no network, Markdown for the comment
  kustomize build k8s/prod | kubectl posthog preflight -f - --all --offline --scan . -o markdown

  # check the keys and health against a self-hosted PostHog
  kubectl posthog preflight web --posthog-host https://posthog.internal --health-url https://web.internal/health";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub target: TargetArg,

    /// Check manifests instead of the cluster: a file, a directory, or - for stdin (repeatable)
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub filename: Vec<String>,

    /// Read directories given with -f recursively
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// Check every Deployment that uses PostHog (by POSTHOG_* variables, Secret names or label)
    #[arg(long)]
    pub all: bool,

    /// With --all, look in every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Look for hardcoded PostHog keys under PATH (honours .gitignore); output is masked
    #[arg(long, value_name = "PATH")]
    pub scan: Option<PathBuf>,

    /// Send no request to PostHog, the status page, health endpoints or Prometheus
    #[arg(long)]
    pub offline: bool,

    /// Fail (exit 1) when a failing finding is at or above this severity [default: p2, or failOn in the config]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// Offline: the variable of this process holding the project key to validate (never a flag value)
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,

    /// PostHog host for key validation (self-hosted, a proxy, tests); default: the Deployment's region
    #[arg(long, value_name = "URL")]
    pub posthog_host: Option<String>,

    /// Status summary to read [default: https://www.posthogstatus.com/api/v1/summary]
    #[arg(long, value_name = "URL")]
    pub status_url: Option<String>,

    /// The integration's health endpoint; live default: the probe's path through the API server's service proxy
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,

    /// Staging health URL for the checklist's `curl -f …/health`
    #[arg(long, value_name = "URL")]
    pub staging_url: Option<String>,

    /// Prometheus whose rules API holds the alerts of the checklist's table
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Timeout of each request to PostHog, the status page, health endpoints and Prometheus
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub remote_timeout: Option<Duration>,
}

impl PreflightArgs {
    /// The defaults of `kubectl posthog preflight TARGET` (for the demo and tests that call [`run`]).
    pub fn new(target: &str) -> Self {
        PreflightArgs {
            target: TargetArg {
                target: target.to_string(),
            },
            filename: Vec::new(),
            recursive: false,
            all: false,
            all_namespaces: false,
            scan: None,
            offline: false,
            fail_on: None,
            api_key_env: None,
            posthog_host: None,
            status_url: None,
            health_url: None,
            staging_url: None,
            prometheus_url: None,
            remote_timeout: None,
        }
    }
}

fn url_arg(raw: Option<&str>, what: &str) -> Result<Option<Url>> {
    raw.map(|r| Url::parse(r).map_err(|e| Error::Usage(format!("{what} {r:?} is not a URL: {e}"))))
        .transpose()
}

pub async fn run(args: PreflightArgs, ctx: &Ctx) -> Result<Report> {
    let target = args.target.parse()?;
    let config = ctx.config()?;
    policy::validate(config, ctx.now())?;
    let fail_on = args.fail_on.or(config.fail_on).unwrap_or_default();
    if args.all_namespaces && !args.all {
        return Err(Error::Usage(
            "-A/--all-namespaces goes with --all".to_string(),
        ));
    }
    if args.api_key_env.is_some() && args.filename.is_empty() {
        return Err(Error::Usage(
            "--api-key-env is for offline checks (-f); live, the key is read from the Deployment's Secret"
                .to_string(),
        ));
    }
    // The positional defaults to the checklist's name; names.deployment in the config replaces it.
    let target_name = if args.target.target == DEFAULT_DEPLOYMENT {
        config.names.deployment.clone()
    } else {
        target.name.clone()
    };
    let pf = &config.preflight;
    let timeout = match (args.remote_timeout, &config.posthog.timeout) {
        (Some(t), _) => t,
        (None, Some(text)) => humantime::parse_duration(text)
            .map_err(|e| Error::Input(format!("posthog.timeout {text:?}: {e}")))?,
        (None, None) => Duration::from_secs(10),
    };

    // Fetch: the Kubernetes side.
    let offline_files = !args.filename.is_empty();
    let spinner = ctx.ui.spinner(if offline_files {
        "reading manifests"
    } else {
        "reading the cluster"
    });
    let (mut facts, cluster, source) = if offline_files {
        let inputs: Vec<Input> = args.filename.iter().map(|f| Input::parse(f)).collect();
        let namespace = ctx
            .global
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let facts = manifests::load(&inputs, args.recursive, &namespace)?;
        (
            facts,
            None,
            format!("the manifests ({})", args.filename.join(", ")),
        )
    } else {
        let cluster = ctx.cluster().await?;
        let facts = if args.all {
            let scope = if args.all_namespaces {
                Scope::All
            } else {
                Scope::Namespace(cluster.namespace.clone())
            };
            live::gather_all(cluster, &scope).await?
        } else {
            live::gather_one(cluster, &cluster.namespace, &target_name).await?
        };
        let source = match (&cluster.context, args.all_namespaces) {
            (_, true) => "the cluster".to_string(),
            _ => format!("namespace {}", cluster.namespace),
        };
        (facts, Some(cluster), source)
    };
    spinner.finish_and_clear();

    // The same Prometheus, with the same credentials, as the canary's analysis reads.
    if args.offline {
        let url = crate::prometheus::choose_url(
            args.prometheus_url.as_deref(),
            std::env::var(crate::prometheus::URL_ENV).ok().as_deref(),
            pf.prometheus_url.as_deref(),
            &config.prometheus,
        );
        if let Some(url) = url_arg(url.as_deref(), "--prometheus-url")? {
            facts
                .alert_sources
                .push(format!("rules API at {url} not asked (--offline)"));
        }
    } else if let Some(prometheus) = ctx
        .prometheus(args.prometheus_url.as_deref(), pf.prometheus_url.as_deref())
        .await?
    {
        let url = prometheus.url().to_string();
        match prometheus.alert_rules().await {
            Ok(rules) => {
                let source = format!("rules API {url}/");
                facts
                    .alert_sources
                    .push(format!("{} alert rules from {source}", rules.len()));
                facts.alert_rules.extend(rules.into_iter().map(|r| {
                    crate::checks::facts::AlertRule {
                        name: r.name,
                        expr: r.expr,
                        severity: r.severity,
                        source: format!("{source} group {}", r.group),
                        origin: Default::default(),
                    }
                }));
            }
            Err(e) => facts.alert_sources.push(format!("failed to {e}")),
        }
    }

    let namespace_filter = if offline_files {
        ctx.global.namespace.as_deref()
    } else {
        None
    };
    let chosen = select::select(
        &facts,
        (!args.all).then_some((target_name.as_str(), namespace_filter)),
        &config.names,
        &source,
    )?;
    let several = args.all;
    let subjects: Vec<Subject> = chosen
        .iter()
        .map(|i| Subject::new(&facts.deployments[*i], &facts, config, several))
        .collect();

    // Fetch: the repository.
    let scan = match &args.scan {
        Some(path) => {
            let path = path.clone();
            let result = tokio::task::spawn_blocking(move || scan::scan(&path))
                .await
                .map_err(|e| Error::Input(format!("the scan stopped: {e}")))??;
            Some(result)
        }
        None => None,
    };
    let root = pf
        .docs
        .root
        .clone()
        .map(PathBuf::from)
        .or_else(|| args.scan.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let local = local::gather(&root, &pf.docs, &pf.tests, scan);

    // Fetch: remote services.
    let status_explicit = args.status_url.is_some() || config.posthog.status_url.is_some();
    let status_url = args
        .status_url
        .clone()
        .or(config.posthog.status_url.clone())
        .unwrap_or_else(|| STATUS_URL.to_string());
    let fallback = match &config.posthog.status_fallback_url {
        Some(text) if text.is_empty() => None,
        Some(text) => Some(text.clone()),
        // An explicit status URL (a mirror, a test) gets no fallback to the public page.
        None if status_explicit => None,
        None => Some(STATUS_FALLBACK_URL.to_string()),
    };
    let inputs = RemoteInputs {
        offline: args.offline,
        live: cluster.is_some(),
        posthog_host: args.posthog_host.clone().or(config.posthog.host.clone()),
        status_url: url_arg(Some(&status_url), "--status-url")?,
        status_url_explicit: status_explicit,
        status_fallback_url: url_arg(fallback.as_deref(), "posthog.statusFallbackUrl")?,
        staging_url: url_arg(
            args.staging_url.as_deref().or(pf.staging_url.as_deref()),
            "--staging-url",
        )?,
        health_url: url_arg(
            args.health_url.as_deref().or(pf.health_url.as_deref()),
            "--health-url",
        )?,
        api_key_env: args
            .api_key_env
            .clone()
            .unwrap_or_else(|| config.names.api_key_env.clone()),
        timeout,
    };
    let client = PostHogClient::new(timeout).map_err(|e| Error::Remote(e.to_string()))?;
    let spinner = ctx
        .ui
        .spinner("asking PostHog, the status page and health endpoints");
    let probe_client = match cluster {
        Some(c) if !args.offline => Some(c.client_without_retries()?),
        _ => None,
    };
    let health = |i: usize| {
        let subject = &subjects[i];
        let client = probe_client.as_ref();
        async move {
            let Some(client) = client else {
                return Probe::Skipped("no cluster".to_string());
            };
            match proxy::health_route(subject) {
                Ok(route) => proxy::probe_health(client, &route, timeout).await,
                Err(why) => Probe::Skipped(why),
            }
        }
    };
    let (remotes, shared) = remote::gather(&subjects, &inputs, &client, health).await;
    spinner.finish_and_clear();

    // Decide.
    let findings = checklist::evaluate(
        &Inputs {
            subjects: &subjects,
            remotes: &remotes,
            shared: &shared,
            local: &local,
            facts: &facts,
            config,
            posthog_host: inputs.posthog_host.as_deref(),
            status_url: Some(status_url.as_str()),
        },
        ctx.now(),
    );
    let verdict = Verdict::judge(&findings, fail_on);

    // Report.
    let context = cluster.and_then(|c| c.context.as_deref());
    // `--all` keeps `*` even when it found one Deployment: the target is what was selected (the
    // sticky comment's marker is made of it, so one more Deployment must not change it).
    let report_target = if subjects.len() == 1 && !args.all {
        ReportTarget::deployment(&subjects[0].name, Some(&subjects[0].namespace), context)
    } else {
        let namespace = match (&cluster, args.all_namespaces) {
            (_, true) => None,
            (Some(c), false) => Some(c.namespace.as_str()),
            (None, false) => ctx.global.namespace.as_deref(),
        };
        ReportTarget::deployment(
            &format!("* ({} using PostHog)", subjects.len()),
            namespace,
            context,
        )
    };
    let details = serde_json::json!({
        "mode": if offline_files { "offline" } else { "live" },
        "network": !args.offline,
        "deployments": subjects.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect::<Vec<_>>(),
        "files": facts.files,
        "ignoredKinds": facts.ignored_kinds,
        "alertSources": facts.alert_sources,
        "regions": remotes.iter().map(|r| format!("{} (from {})", r.region.region.name(), r.region.from)).collect::<std::collections::BTreeSet<_>>(),
    });
    let report = Report::new("preflight", report_target, verdict, findings, ctx.now())
        .with_untyped_details(details);
    Ok(report)
}
