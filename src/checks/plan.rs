//! What a preflight run will do, decided from the command line and the config before anything
//! is read: the target, manifests or cluster, the severity that fails, the timeout and every
//! remote endpoint. Pure, so each rule of precedence is tested without a cluster or a network.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::config::Names;
use crate::config::posthog::PostHogConfig;
use crate::error::{Error, Result};
use crate::posthog::{STATUS_FALLBACK_URL, STATUS_URL};
use crate::report::FailOn;

use super::PreflightConfig;
use super::manifests::Input;
use super::remote::RemoteInputs;

/// The command line as plain values (the clap struct stays in `cmd/`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// The Deployment named on the command line; `None` when the positional kept its default
    /// (then `names.deployment` from the config is checked).
    pub target: Option<String>,
    pub files: Vec<String>,
    pub recursive: bool,
    pub all: bool,
    pub all_namespaces: bool,
    pub scan: Option<PathBuf>,
    pub offline: bool,
    pub fail_on: Option<FailOn>,
    pub api_key_env: Option<String>,
    pub posthog_host: Option<String>,
    pub status_url: Option<String>,
    pub health_url: Option<String>,
    pub staging_url: Option<String>,
    pub remote_timeout: Option<Duration>,
    /// `-n/--namespace`, if given.
    pub namespace: Option<String>,
}

/// Where the Deployments come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Manifest files (`-f`), read like `kubectl apply -f`.
    Files { inputs: Vec<Input>, recursive: bool },
    /// The cluster: one Deployment, or with `--all` every one in the namespace or in all of them.
    Cluster,
}

/// The decisions of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: Source,
    /// The Deployment to check; `None` with `--all` (every one that uses PostHog).
    pub target: Option<String>,
    pub all_namespaces: bool,
    /// `-n`, which offline is also the namespace of objects without one.
    pub namespace: Option<String>,
    pub fail_on: FailOn,
    pub scan: Option<PathBuf>,
    /// The repository root the documentation lines are looked for in.
    pub docs_root: PathBuf,
    pub remote: RemoteInputs,
    /// The status summary asked (shown in the rollout findings).
    pub status_url: String,
}

impl Plan {
    /// Checks the flags against each other and resolves every default, flags first, then the
    /// config file, then the checklist's own.
    pub fn decide(
        options: &Options,
        names: &Names,
        preflight: &PreflightConfig,
        posthog: &PostHogConfig,
        config_fail_on: Option<FailOn>,
    ) -> Result<Plan> {
        if options.all_namespaces && !options.all {
            return Err(Error::Usage(
                "-A/--all-namespaces goes with --all".to_string(),
            ));
        }
        if options.api_key_env.is_some() && options.files.is_empty() {
            return Err(Error::Usage(
                "--api-key-env is for offline checks (-f); live, the key is read from the Deployment's Secret"
                    .to_string(),
            ));
        }
        let target = options
            .target
            .clone()
            .unwrap_or_else(|| names.deployment.clone());
        let timeout = match (options.remote_timeout, &posthog.timeout) {
            (Some(t), _) => t,
            (None, Some(text)) => crate::config::duration::config_duration(
                "posthog.timeout",
                text,
                Duration::ZERO,
                crate::config::duration::MAX_DURATION,
            )?,
            (None, None) => Duration::from_secs(10),
        };
        let status_explicit = options.status_url.is_some() || posthog.status_url.is_some();
        let status_url = options
            .status_url
            .clone()
            .or(posthog.status_url.clone())
            .unwrap_or_else(|| STATUS_URL.to_string());
        let fallback = match &posthog.status_fallback_url {
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text.clone()),
            // An explicit status URL (a mirror, a test) gets no fallback to the public page.
            None if status_explicit => None,
            None => Some(STATUS_FALLBACK_URL.to_string()),
        };
        let source = match options.files.is_empty() {
            true => Source::Cluster,
            false => Source::Files {
                inputs: options.files.iter().map(|f| Input::parse(f)).collect(),
                recursive: options.recursive,
            },
        };
        let remote = RemoteInputs {
            offline: options.offline,
            live: source == Source::Cluster,
            posthog_host: host_arg(options.posthog_host.as_deref(), posthog.host.as_deref())?,
            status_url: url_arg(Some(&status_url), "--status-url")?,
            status_url_explicit: status_explicit,
            status_fallback_url: url_arg(fallback.as_deref(), "posthog.statusFallbackUrl")?,
            staging_url: url_arg(
                options
                    .staging_url
                    .as_deref()
                    .or(preflight.staging_url.as_deref()),
                "--staging-url",
            )?,
            health_url: url_arg(
                options
                    .health_url
                    .as_deref()
                    .or(preflight.health_url.as_deref()),
                "--health-url",
            )?,
            api_key_env: options
                .api_key_env
                .clone()
                .unwrap_or_else(|| names.api_key_env.clone()),
            timeout,
        };
        let docs_root = preflight
            .docs
            .root
            .clone()
            .map(PathBuf::from)
            .or_else(|| options.scan.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Plan {
            source,
            target: (!options.all).then_some(target),
            all_namespaces: options.all_namespaces,
            namespace: options.namespace.clone(),
            fail_on: options.fail_on.or(config_fail_on).unwrap_or_default(),
            scan: options.scan.clone(),
            docs_root,
            remote,
            status_url,
        })
    }

    /// Manifest files rather than the cluster.
    pub fn offline_files(&self) -> bool {
        matches!(self.source, Source::Files { .. })
    }

    /// The namespace objects without one get offline (what `kubectl apply` would give them).
    pub fn default_namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// The Deployment to pick among the facts, and offline the namespace it must be in.
    pub fn selection(&self) -> Option<(&str, Option<&str>)> {
        let namespace = match self.offline_files() {
            true => self.namespace.as_deref(),
            false => None,
        };
        self.target.as_deref().map(|name| (name, namespace))
    }

    /// What was read, for messages: `the manifests (a.yaml)`, `namespace prod`, `the cluster`.
    pub fn describe_source(&self, cluster_namespace: Option<&str>) -> String {
        match (&self.source, cluster_namespace) {
            (Source::Files { inputs, .. }, _) => {
                let given: Vec<String> = inputs
                    .iter()
                    .map(|i| match i {
                        Input::Path(path) => path.display().to_string(),
                        Input::Stdin => "-".to_string(),
                    })
                    .collect();
                format!("the manifests ({})", given.join(", "))
            }
            (Source::Cluster, _) if self.all_namespaces => "the cluster".to_string(),
            (Source::Cluster, Some(ns)) => format!("namespace {ns}"),
            (Source::Cluster, None) => "the cluster".to_string(),
        }
    }
}

/// `--posthog-host` (or `posthog.host`) must name a host: an empty or malformed one used to fall
/// back to PostHog Cloud silently, sending the keys to a host the user did not choose.
fn host_arg(flag: Option<&str>, config: Option<&str>) -> Result<Option<String>> {
    let (raw, what) = match (flag, config) {
        (Some(raw), _) => (raw, "--posthog-host"),
        (None, Some(raw)) => (raw, "posthog.host"),
        (None, None) => return Ok(None),
    };
    let url = crate::posthog::parse_host_url(raw).filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    match url {
        Some(_) => Ok(Some(raw.to_string())),
        None => Err(Error::Usage(format!(
            "{what} {} is not an http(s) URL with a host",
            crate::error::shown_input(raw)
        ))),
    }
}

fn url_arg(raw: Option<&str>, what: &str) -> Result<Option<Url>> {
    raw.map(|r| {
        Url::parse(r).map_err(|e| {
            Error::Usage(format!(
                "{what} {} is not a URL: {e}",
                crate::error::shown_input(r)
            ))
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(options: &Options, config: &str) -> Result<Plan> {
        let config = crate::config::Config::parse(config).unwrap();
        Plan::decide(
            options,
            &config.names,
            &config.preflight,
            &config.posthog,
            config.fail_on,
        )
    }

    fn options() -> Options {
        Options::default()
    }

    #[test]
    fn flags_that_need_another_are_usage_errors() {
        let err = decide(
            &Options {
                all_namespaces: true,
                ..options()
            },
            "",
        )
        .unwrap_err();
        assert_eq!(err.exit().code(), 2);
        let err = decide(
            &Options {
                api_key_env: Some("K".into()),
                ..options()
            },
            "",
        )
        .unwrap_err();
        assert!(err.to_string().contains("--api-key-env"), "{err}");
    }

    #[test]
    fn the_default_target_is_the_configured_name_and_flags_win() {
        let plan = decide(&options(), "names: {deployment: web}\nfailOn: p1\n").unwrap();
        assert_eq!(plan.target.as_deref(), Some("web"));
        assert_eq!(plan.fail_on, FailOn::P1);
        let plan = decide(
            &Options {
                target: Some("api".into()),
                fail_on: Some(FailOn::P3),
                ..options()
            },
            "names: {deployment: web}\nfailOn: p1\n",
        )
        .unwrap();
        assert_eq!(plan.target.as_deref(), Some("api"));
        assert_eq!(plan.fail_on, FailOn::P3);
        let all = decide(
            &Options {
                all: true,
                ..options()
            },
            "",
        )
        .unwrap();
        assert_eq!(all.selection(), None);
    }

    #[test]
    fn remote_endpoints_and_the_status_fallback() {
        let plan = decide(&options(), "posthog: {timeout: 3s}").unwrap();
        assert_eq!(plan.remote.timeout, Duration::from_secs(3));
        assert_eq!(plan.status_url, STATUS_URL);
        assert!(plan.remote.status_fallback_url.is_some());
        // An explicit status URL (a mirror, a test) gets no fallback to the public page.
        let plan = decide(
            &Options {
                status_url: Some("http://127.0.0.1:9/s".into()),
                remote_timeout: Some(Duration::from_secs(1)),
                ..options()
            },
            "posthog: {timeout: 3s}",
        )
        .unwrap();
        assert!(plan.remote.status_fallback_url.is_none());
        assert_eq!(plan.remote.timeout, Duration::from_secs(1));
        let err = decide(
            &Options {
                health_url: Some("not a url".into()),
                ..options()
            },
            "",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("--health-url"), "{err}");
    }

    #[test]
    fn files_are_offline_and_select_in_the_given_namespace() {
        let plan = decide(
            &Options {
                files: vec!["a.yaml".into(), "-".into()],
                namespace: Some("prod".into()),
                ..options()
            },
            "",
        )
        .unwrap();
        assert!(plan.offline_files());
        assert!(!plan.remote.live);
        assert_eq!(
            plan.selection(),
            Some(("posthog-integration", Some("prod")))
        );
        assert_eq!(plan.describe_source(None), "the manifests (a.yaml, -)");
        let live = decide(
            &Options {
                namespace: Some("prod".into()),
                ..options()
            },
            "",
        )
        .unwrap();
        assert_eq!(live.selection(), Some(("posthog-integration", None)));
        assert_eq!(live.describe_source(Some("prod")), "namespace prod");
    }

    /// Issue 14 item 5: an invalid `--posthog-host` was replaced by PostHog Cloud silently.
    #[test]
    fn an_invalid_posthog_host_is_a_usage_error_naming_the_source() {
        for raw in ["", "not a url", "http://", "ftp://x.example"] {
            let options = Options {
                posthog_host: Some(raw.to_string()),
                ..options()
            };
            match decide(&options, "") {
                Err(Error::Usage(message)) => {
                    assert!(message.starts_with("--posthog-host"), "{message}")
                }
                Err(other) => panic!("{raw:?}: {other}"),
                Ok(_) => panic!("{raw:?} accepted"),
            }
        }
        let err = decide(&options(), "posthog:\n  host: 'not a url'\n")
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("posthog.host"), "{err}");
        let ok = Options {
            posthog_host: Some("http://127.0.0.1:9000".into()),
            ..options()
        };
        assert!(decide(&ok, "").is_ok());
    }
}
