//! Connecting to the cluster with kubectl's precedence: `--kubeconfig`, then `$KUBECONFIG`
//! (a list of files, merged), then `~/.kube/config`, then the in-cluster service account.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::error::{Error, Result};

/// A connected client and the coordinates every command needs.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// `-n` if given, else the namespace of the kubeconfig context, else `default`.
    pub namespace: String,
    /// The kubeconfig context in use (absent in-cluster).
    pub context: Option<String>,
    /// The API server URL, for error messages.
    pub server: String,
    /// The resolved client configuration, for clients with other settings (see [`Cluster::client_without_retries`]).
    pub config: kube::Config,
}

impl Cluster {
    /// A client that does not retry 429/503/504 (kube's default client retries them up to 15
    /// times): for asking an application through the API server's proxy, where a 503 is an answer.
    pub fn client_without_retries(&self) -> Result<kube::Client> {
        self.client_without_retries_within(None)
    }

    /// As [`Cluster::client_without_retries`], with `timeout` (when given) bounding each request.
    pub fn client_without_retries_within(
        &self,
        timeout: Option<std::time::Duration>,
    ) -> Result<kube::Client> {
        let mut config = self.config.clone();
        config.default_retry = false;
        if let Some(timeout) = timeout {
            config.read_timeout = Some(timeout);
            config.connect_timeout = Some(timeout);
        }
        super::http_trace::logged_client(config).map_err(|e| {
            Error::Input(format!(
                "cannot build a client for the cluster at {}: {e}",
                self.server
            ))
        })
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

/// How to reach the cluster, as kubectl's global flags say (`--kubeconfig`, `--context`,
/// `-n/--namespace`, `--request-timeout`).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// `Some(ZERO)` means no timeout, as kubectl's `--request-timeout 0`.
    pub request_timeout: Option<Duration>,
}

pub async fn connect(global: &ConnectOptions) -> Result<Cluster> {
    let (kubeconfig, source) = load_kubeconfig(global.kubeconfig.as_deref())?;
    let (mut config, context) = match kubeconfig {
        Some(kubeconfig) => {
            let context = global
                .context
                .clone()
                .or_else(|| kubeconfig.current_context.clone());
            if let Some(wanted) = &global.context
                && !kubeconfig.contexts.iter().any(|c| &c.name == wanted)
            {
                return Err(Error::Input(format!(
                    "context {wanted:?} not found in kubeconfig {source}: \
                     run `kubectl config get-contexts` to list the contexts"
                )));
            }
            let options = KubeConfigOptions {
                context: global.context.clone(),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| kubeconfig_error(&source, e))?;
            (config, context)
        }
        None => {
            let config = kube::Config::incluster().map_err(|_| {
                Error::Input(
                    "no kubeconfig found: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config"
                        .to_string(),
                )
            })?;
            (config, None)
        }
    };
    if let Some(timeout) = global.request_timeout {
        // kubectl: 0 means no timeout.
        let timeout = (timeout > Duration::ZERO).then_some(timeout);
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        config.connect_timeout = timeout;
    }
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    if !super::is_dns1123_subdomain(&namespace) || namespace.contains('.') {
        return Err(Error::Usage(format!(
            "invalid namespace {namespace:?}: a namespace is a lowercase DNS-1123 label"
        )));
    }
    let server = config.cluster_url.to_string();
    let client = super::exec_plugin::build_client(
        config.clone(),
        &server,
        global.request_timeout.filter(|t| !t.is_zero()),
    )
    .await?;
    Ok(Cluster {
        client,
        namespace,
        context,
        server,
        config,
    })
}

/// Returns the merged kubeconfig (or `None` when only in-cluster config could apply) and a
/// description of where it came from for messages.
pub(super) fn load_kubeconfig(explicit: Option<&Path>) -> Result<(Option<Kubeconfig>, String)> {
    if let Some(path) = explicit {
        return read_one(path).map(|k| (Some(k), path.display().to_string()));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
        if existing.is_empty() {
            return Err(Error::Input(format!(
                "KUBECONFIG names no existing file ({}): fix KUBECONFIG or pass --kubeconfig",
                std::env::join_paths(&paths)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )));
        }
        let mut merged: Option<Kubeconfig> = None;
        for path in &existing {
            let next = read_one(path)?;
            merged = Some(match merged {
                None => next,
                Some(acc) => acc.merge(next).map_err(|e| {
                    Error::Input(format!("cannot merge kubeconfig {}: {e}", path.display()))
                })?,
            });
        }
        let source = existing
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        return Ok((merged, source));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let default = PathBuf::from(home).join(".kube").join("config");
        if default.exists() {
            return read_one(&default).map(|k| (Some(k), default.display().to_string()));
        }
    }
    Ok((None, "in-cluster".to_string()))
}

fn read_one(path: &Path) -> Result<Kubeconfig> {
    if !path.exists() {
        return Err(Error::Input(format!(
            "kubeconfig {} not found: pass an existing file to --kubeconfig or fix KUBECONFIG",
            path.display()
        )));
    }
    Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(&path.display().to_string(), e))
}

fn kubeconfig_error(source: &str, error: KubeconfigError) -> Error {
    let detail = match &error {
        KubeconfigError::CurrentContextNotSet => {
            "no current context is set: pass --context or run `kubectl config use-context NAME`"
                .to_string()
        }
        KubeconfigError::LoadContext(name) => format!(
            "context {name:?} not found: run `kubectl config get-contexts` to list the contexts"
        ),
        KubeconfigError::LoadClusterOfContext(name) => {
            format!("the cluster {name:?} of the context is not defined")
        }
        KubeconfigError::Parse(e) => {
            format!("not a valid kubeconfig: {}", first_line(&e.to_string()))
        }
        other => first_line(&other.to_string()).to_string(),
    };
    Error::Input(format!("kubeconfig {source}: {detail}"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// One line for a failed API request: what we asked, what the server said, what to do.
///
/// A Deployment the server does not have is the user's input, not a failing cluster: it becomes
/// [`Error::DeploymentNotFound`] (exit 2), which `lib::run` words with the namespace, the context
/// and close names ([`super::deployment_not_found`]).
pub fn api_error(request: &str, server: &str, error: kube::Error) -> Error {
    match &error {
        kube::Error::Api(status)
            if status.code == 404
                && status
                    .details
                    .as_ref()
                    .is_some_and(|d| d.kind == "deployments" && !d.name.is_empty()) =>
        {
            let name = status
                .details
                .as_ref()
                .map(|d| d.name.clone())
                .unwrap_or_default();
            Error::DeploymentNotFound {
                message: format!("deployment {name:?} not found ({request} answered 404)"),
                name,
            }
        }
        kube::Error::Api(status) => {
            let hint = match status.code {
                401 => "; your credentials were refused: re-authenticate (kubectl auth whoami)",
                403 => "; you lack permission: check with `kubectl auth can-i`",
                404 => "; check the name and the namespace (-n)",
                409 => "; the object changed while we worked, re-run the command",
                429 | 503 => "; the API server is overloaded, retry shortly",
                _ => "",
            };
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            Error::Cluster(format!(
                "{request} failed: {message} ({}{hint})",
                status.code
            ))
        }
        _ if super::exec_plugin::describe_refresh(&error).is_some() => Error::Cluster(format!(
            "{request} failed: {}",
            super::exec_plugin::describe_refresh(&error).unwrap_or_default()
        )),
        _ if too_large(&error).is_some() => Error::Cluster(format!(
            "{request} failed: {}",
            too_large(&error)
                .map(ToString::to_string)
                .unwrap_or_default()
        )),
        _ if silent(&error).is_some() => Error::Cluster(format!(
            "{request} failed: {}",
            silent(&error).map(ToString::to_string).unwrap_or_default()
        )),
        _ => Error::Cluster(format!(
            "{request} failed: cannot reach the cluster at {server}: {}; \
             check --context and that the API server is reachable",
            error_chain(&error)
        )),
    }
}

/// The cap an answer passed ([`super::body_cap`]), wherever kube wrapped it.
fn too_large<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e super::body_cap::ApiBodyTooLarge> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<super::body_cap::ApiBodyTooLarge>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The idle bound a request or stream passed ([`super::body_cap`]).
fn silent<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e super::body_cap::StreamIdle> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<super::body_cap::StreamIdle>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The innermost causes, which say "connection refused" where the outer error says "ServiceError".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.last().cloned().unwrap_or_default()
}
