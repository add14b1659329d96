//! `kubectl posthog preflight`: the production checklist, live against the cluster or offline
//! against manifest files, plus PostHog's own answers about keys, status and health.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::checks::canary_queries::{self, Answer, Query};
use crate::checks::checklist::{self, Inputs};
use crate::checks::facts::ClusterFacts;
use crate::checks::live::{self, Scope};
use crate::checks::local::LocalFacts;
use crate::checks::manifests;
use crate::checks::plan::{Options, Plan, Source};
use crate::checks::policy::{self, Policy};
use crate::checks::remote::{self, Probe, SharedRemote, SubjectRemote};
use crate::checks::{
    PreflightConfig, Sections, Subject, alerts, fix, local, proxy, scan, select, summary,
};
use crate::cmd::{Ctx, DEFAULT_DEPLOYMENT, TargetArg};
use crate::config::canary::CanaryConfig;
use crate::error::{Error, Result};
use crate::posthog::PostHogClient;
use crate::prometheus::Prometheus;
use crate::prometheus::alert_table::Naming;
use crate::report::{FailOn, Report};

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

    /// Write the fixes for what a machine can fix to DIR (a PrometheusRule, patches with a
    /// kustomization.yaml, a PDB, a Secret without its value, FIXES.md); changes nothing in the cluster
    #[arg(long, value_name = "DIR")]
    pub fix: Option<PathBuf>,

    /// Timeout of each request to PostHog, the status page, health endpoints and Prometheus
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::duration_arg)]
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
            fix: None,
            remote_timeout: None,
        }
    }
}

impl PreflightArgs {
    fn options(&self, namespace: Option<&str>) -> Result<Options> {
        // The positional defaults to the checklist's name; names.deployment in the config replaces it.
        let named = self.target.parse()?.name;
        Ok(Options {
            target: (self.target.target != DEFAULT_DEPLOYMENT).then_some(named),
            files: self.filename.clone(),
            recursive: self.recursive,
            all: self.all,
            all_namespaces: self.all_namespaces,
            scan: self.scan.clone(),
            offline: self.offline,
            fail_on: self.fail_on,
            api_key_env: self.api_key_env.clone(),
            posthog_host: self.posthog_host.clone(),
            status_url: self.status_url.clone(),
            health_url: self.health_url.clone(),
            staging_url: self.staging_url.clone(),
            remote_timeout: self.remote_timeout,
            namespace: namespace.map(str::to_string),
        })
    }
}

pub async fn run(args: PreflightArgs, ctx: &Ctx) -> Result<Report> {
    let config = ctx.config()?;
    let policy = Policy {
        severity: &config.severity,
        attestations: &config.attestations,
        disabled: &config.disabled,
    };
    policy::validate(&policy, ctx.now())?;
    let plan = Plan::decide(
        &args.options(ctx.global.namespace.as_deref())?,
        &config.names,
        &config.preflight,
        &config.posthog,
        config.fail_on,
    )?;

    // Fetch: the Kubernetes side, alert rules, the repository, then remote services.
    let (mut facts, cluster) = objects(&plan, ctx).await?;
    let rules_key = config.preflight.prometheus_url.as_deref();
    let prometheus = prometheus(&args, rules_key, ctx, &mut facts).await?;
    if let Some(prometheus) = &prometheus {
        let answer = prometheus.alert_rules().await;
        facts.add_rules_api(prometheus.url(), answer);
    }
    let cluster_namespace = cluster.map(|c| c.namespace.as_str());
    let chosen = select::select(
        &facts,
        plan.selection(),
        &config.names,
        &plan.describe_source(cluster_namespace),
    )?;
    tracing::info!(
        "preflight plan: {} Deployment(s) from {}: {}",
        chosen.len(),
        plan.describe_source(cluster_namespace),
        chosen
            .iter()
            .map(|i| facts.deployments[*i].name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sections = Sections {
        names: &config.names,
        thresholds: &config.thresholds,
        posthog: &config.posthog,
        canary_steps: config.canary.steps.as_deref(),
    };
    let subjects: Vec<Subject> = chosen
        .iter()
        .map(|i| Subject::new(&facts.deployments[*i], &facts, sections, args.all))
        .collect();
    let local = repository(&plan, &config.preflight).await?;
    let (remotes, shared) = remotes(&plan, cluster, &subjects, ctx).await?;
    let canary_queries =
        canary_queries(prometheus.as_ref(), &args, &subjects, &config.canary).await;

    // Decide.
    let alert_table = alerts::Table::new(&config.preflight, &config.canary)?;
    let inputs = Inputs {
        subjects: &subjects,
        remotes: &remotes,
        shared: &shared,
        local: &local,
        facts: &facts,
        alert_table: &alert_table,
        canary_queries: &canary_queries,
        policy,
        posthog_host: plan.remote.posthog_host.as_deref(),
        status_url: Some(plan.status_url.as_str()),
    };
    let findings = checklist::evaluate(&inputs, ctx.now());

    // Act: with --fix, write the fixes (never to the cluster).
    let fix = match &args.fix {
        Some(dir) => {
            let inputs = fix::Inputs {
                subjects: &subjects,
                findings: &findings,
                facts: &facts,
                texts: &facts.texts,
                table: &alert_table,
                naming: Naming::from_config(&config.canary),
                rules: &config.preflight.alert_rules,
                live: !plan.offline_files(),
            };
            Some(write_fixes(dir, &inputs)?)
        }
        None => None,
    };

    // Report.
    let extras = summary::Extras {
        context: cluster.and_then(|c| c.context.as_deref()),
        namespace: cluster_namespace.or(plan.namespace.as_deref()),
        fix,
    };
    let report = summary::report(
        &plan,
        &facts,
        &subjects,
        &remotes,
        findings,
        extras,
        ctx.now(),
    );
    Ok(report)
}

/// The Deployments and what they reference: from the files, or from the cluster.
async fn objects<'c>(
    plan: &Plan,
    ctx: &'c Ctx,
) -> Result<(ClusterFacts, Option<&'c crate::kube::Cluster>)> {
    if let Source::Files { inputs, recursive } = &plan.source {
        let spinner = ctx.ui.spinner("reading manifests");
        let facts = manifests::load(inputs, *recursive, plan.default_namespace());
        spinner.finish_and_clear();
        return Ok((facts?, None));
    }
    let spinner = ctx.ui.spinner("reading the cluster");
    let cluster = ctx.cluster().await?;
    let facts = match &plan.target {
        Some(name) => live::gather_one(cluster, &cluster.namespace, name).await?,
        None if plan.all_namespaces => live::gather_all(cluster, &Scope::All).await?,
        None => {
            let scope = Scope::Namespace(cluster.namespace.clone());
            live::gather_all(cluster, &scope).await?
        }
    };
    spinner.finish_and_clear();
    Ok((facts, Some(cluster)))
}

/// The Prometheus the canary's analysis reads, with the same credentials (`command_key` is the
/// older `preflight.prometheusUrl`); `None` offline (noted in the alert sources) or when no URL
/// is given anywhere.
async fn prometheus(
    args: &PreflightArgs,
    command_key: Option<&str>,
    ctx: &Ctx,
    facts: &mut ClusterFacts,
) -> Result<Option<Prometheus>> {
    let flag = args.prometheus_url.as_deref();
    if !args.offline {
        return ctx.prometheus(flag, command_key).await;
    }
    let env = std::env::var(crate::prometheus::URL_ENV).ok();
    let config = &ctx.config()?.prometheus;
    if let Some(url) = crate::prometheus::choose_url(flag, env.as_deref(), command_key, config) {
        url::Url::parse(&url)
            .map_err(|e| Error::Usage(format!("--prometheus-url {url:?} is not a URL: {e}")))?;
        facts
            .alert_sources
            .push(format!("rules API at {url} not asked (--offline)"));
    }
    Ok(None)
}

/// The canary's analysis queries, run once per Deployment.
async fn canary_queries(
    prometheus: Option<&Prometheus>,
    args: &PreflightArgs,
    subjects: &[Subject<'_>],
    canary: &CanaryConfig,
) -> Vec<(Vec<Query>, Probe<Vec<Answer>>)> {
    use futures::StreamExt;
    // A few Deployments at a time (each runs its queries a few at a time), in subject order.
    futures::stream::iter(subjects.iter().map(|s| async move {
        let queries = canary_queries::queries(&s.namespace, &s.name, canary);
        let answers = match prometheus {
            _ if args.offline => Probe::Skipped(remote::OFFLINE.to_string()),
            None => Probe::Skipped(
                "no Prometheus configured (--prometheus-url, PROMETHEUS_URL or prometheus.url)"
                    .to_string(),
            ),
            Some(p) => Probe::Done(canary_queries::run(p, &queries).await),
        };
        (queries, answers)
    }))
    .buffered(4)
    .collect()
    .await
}

/// Writes the fix files under `dir`, which must be new, empty or an earlier `--fix` output.
fn write_fixes(dir: &std::path::Path, inputs: &fix::Inputs) -> Result<summary::FixReport> {
    let set = fix::plan(inputs).map_err(Error::Input)?;
    let earlier = dir.join("FIXES.md").exists();
    let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
    if dir.exists() && !empty && !earlier {
        return Err(Error::Usage(format!(
            "--fix {}: the directory is not empty and holds no earlier --fix output; name a new one",
            dir.display()
        )));
    }
    for (path, text) in &set.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    }
    Ok(summary::FixReport {
        dir: dir.display().to_string(),
        fixes: set.fixes,
    })
}

/// Documentation, test results and, with `--scan`, hardcoded keys in the repository.
async fn repository(plan: &Plan, preflight: &PreflightConfig) -> Result<LocalFacts> {
    let scan = match &plan.scan {
        Some(path) => {
            let path = path.clone();
            let result = tokio::task::spawn_blocking(move || scan::scan(&path))
                .await
                .map_err(|e| Error::Input(format!("the scan stopped: {e}")))??;
            Some(result)
        }
        None => None,
    };
    Ok(local::gather(
        &plan.docs_root,
        &preflight.docs,
        &preflight.tests,
        scan,
    ))
}

/// PostHog (keys), the status page and the health endpoints (through the API server live).
async fn remotes(
    plan: &Plan,
    cluster: Option<&crate::kube::Cluster>,
    subjects: &[Subject<'_>],
    ctx: &Ctx,
) -> Result<(Vec<SubjectRemote>, SharedRemote)> {
    let timeout = plan.remote.timeout;
    let client = PostHogClient::new(timeout).map_err(|e| Error::Remote(e.to_string()))?;
    let probe_client = match cluster {
        Some(c) if !plan.remote.offline => Some(c.client_without_retries()?),
        _ => None,
    };
    let spinner = ctx
        .ui
        .spinner("asking PostHog, the status page and health endpoints");
    let health = |i: usize| proxy::health_of(probe_client.as_ref(), &subjects[i], timeout);
    let answers = remote::gather(subjects, &plan.remote, &client, health).await;
    spinner.finish_and_clear();
    Ok(answers)
}
