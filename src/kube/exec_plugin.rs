//! Building the client runs the kubeconfig's exec credential plugin (`aws eks get-token`,
//! `gke-gcloud-auth-plugin`, …) synchronously inside kube. A plugin that hangs used to block the
//! command forever, deaf to SIGTERM; one that failed printed Rust debug text
//! (`Output { status: ExitStatus(unix_wait_status(256)), … }`). Here the build runs off the async
//! threads with a deadline, and a failure is one line naming the plugin.

use std::time::Duration;

use crate::error::{Error, Result};

/// How long an exec credential plugin may take when `--request-timeout` does not say: a login
/// through a browser is not expected here (`interactiveMode` plugins time out too).
pub const EXEC_PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// `kube::Client::try_from(config)`, bounded by `timeout` (else [`EXEC_PLUGIN_TIMEOUT`]).
pub async fn build_client(
    config: kube::Config,
    server: &str,
    timeout: Option<Duration>,
) -> Result<kube::Client> {
    let plugin = plugin_name(&config);
    // kube's own retry (15 tries over minutes, any Retry-After waited out) is replaced by the
    // budgeted one; a client built without retries stays without.
    let retry = config
        .default_retry
        .then(|| super::retry::RetryPolicy::within(timeout));
    let mut config = config;
    config.default_retry = false;
    let timeout = timeout.unwrap_or(EXEC_PLUGIN_TIMEOUT);
    // Every answer capped (innermost, so the -vvv log below never holds more), every request
    // in the log (`-v` changes, `-vv` requests, `-vvv` details), so a retried request shows
    // each attempt.
    let url = config.cluster_url.to_string();
    let cap = super::body_cap::BodyCapLayer::new(&url, super::body_cap::api_body_cap());
    let trace = super::http_trace::HttpTraceLayer::new(&url);
    let build = tokio::task::spawn_blocking(move || {
        kube::client::ClientBuilder::try_from(config).map(|b| b.with_layer(&cap).with_layer(&trace))
    });
    match tokio::time::timeout(timeout, build).await {
        Ok(Ok(Ok(builder))) => Ok(match retry {
            Some(policy) => builder
                .with_layer(&tower::buffer::BufferLayer::new(1024))
                .with_layer(&tower::retry::RetryLayer::new(
                    super::retry::BudgetedRetry::new(policy),
                ))
                .build(),
            None => builder.build(),
        }),
        Ok(Ok(Err(e))) => Err(Error::Input(format!(
            "cannot build a client for the cluster at {server}: {}",
            describe(&e, plugin.as_deref())
        ))),
        Ok(Err(join)) => Err(Error::Input(format!(
            "cannot build a client for the cluster at {server}: {join}"
        ))),
        Err(_) => Err(Error::Cluster(format!(
            "the kubeconfig's exec credential plugin {} did not finish within {}",
            plugin.as_deref().unwrap_or("(unnamed)"),
            humantime::format_duration(timeout)
        ))),
    }
}

fn plugin_name(config: &kube::Config) -> Option<String> {
    config
        .auth_info
        .exec
        .as_ref()
        .and_then(|e| e.command.clone())
        .map(|c| format!("{c:?}"))
}

/// One line: which plugin, its exit status and the first line of what it said on stderr.
fn describe(error: &kube::Error, plugin: Option<&str>) -> String {
    use kube::client::AuthError;
    let kube::Error::Auth(auth) = error else {
        return error.to_string();
    };
    let plugin = plugin.unwrap_or("(unnamed)");
    match auth {
        AuthError::AuthExecRun { out, .. } => {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.lines().map(str::trim).find(|l| !l.is_empty());
            let said = said.map(|l| {
                let (l, _) = crate::redact::Redactor::patterns_only().redact_str(l);
                format!(": {}", l.chars().take(200).collect::<String>())
            });
            format!(
                "the exec credential plugin {plugin} failed ({}){}",
                out.status,
                said.unwrap_or_default()
            )
        }
        AuthError::AuthExecStart(e) => {
            format!("the exec credential plugin {plugin} could not be started: {e}")
        }
        other => format!("the exec credential plugin {plugin}: {other}"),
    }
}
