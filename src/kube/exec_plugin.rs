//! Building the client runs the kubeconfig's exec credential plugin (`aws eks get-token`,
//! `gke-gcloud-auth-plugin`, …) synchronously inside kube. A plugin that hangs used to block the
//! command forever, deaf to SIGTERM; one that failed printed Rust debug text
//! (`Output { status: ExitStatus(unix_wait_status(256)), … }`). Here the build runs off the async
//! threads with a deadline, and a failure is one line naming the plugin.
//!
//! kube re-runs the plugin itself when the token it gave expires (mid-canary, say), with no
//! deadline. So the plugin is never run directly: the kubeconfig's command is replaced by this
//! binary's hidden `__exec-plugin MILLIS COMMAND ARGS…`, which runs it with the same arguments,
//! environment and streams and kills it at the deadline ([`run_bounded`]), for the first run and
//! every refresh alike.

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
    let request_timeout = timeout;
    let timeout = timeout.unwrap_or(EXEC_PLUGIN_TIMEOUT);
    bound_plugin(&mut config, timeout);
    // Every answer capped (innermost, so the -vvv log below never holds more), every request
    // in the log (`-v` changes, `-vv` requests, `-vvv` details), so a retried request shows
    // each attempt.
    let url = config.cluster_url.to_string();
    let cap =
        super::body_cap::BodyCapLayer::new(&url, super::body_cap::api_body_cap(), request_timeout)
            .with_refresh(match config.auth_info.exec {
                Some(_) => timeout + Duration::from_secs(1),
                None => Duration::ZERO,
            });
    let trace = super::http_trace::HttpTraceLayer::new(&url);
    let build = tokio::task::spawn_blocking(move || {
        kube::client::ClientBuilder::try_from(config).map(|b| b.with_layer(&cap).with_layer(&trace))
    });
    // The wrapper kills the plugin at `timeout`; this outer bound is for what it cannot see.
    match tokio::time::timeout(timeout + Duration::from_secs(1), build).await {
        Ok(Ok(Ok(builder))) => Ok(match retry {
            Some(policy) => builder
                .with_layer(&tower::buffer::BufferLayer::new(1024))
                .with_layer(&tower::retry::RetryLayer::new(
                    super::retry::BudgetedRetry::new(policy),
                ))
                .build(),
            None => builder.build(),
        }),
        Ok(Ok(Err(e))) if timed_out(&e) => Err(Error::Cluster(describe(&e, plugin.as_deref()))),
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

/// The plugin ran past its deadline and [`run_bounded`] killed it.
fn timed_out(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Auth(kube::client::AuthError::AuthExecRun { out, .. })
        if out.status.code() == Some(TIMED_OUT))
}

/// The hidden subcommand that runs an exec plugin within a deadline.
pub const BOUNDED_EXEC: &str = "__exec-plugin";
/// Its exit status when the plugin ran past the deadline (as `timeout(1)`).
const TIMED_OUT: i32 = 124;

/// Points the kubeconfig's exec plugin at [`run_bounded`] (this binary), so every run of it,
/// kube's refreshes included, ends within `timeout`.
fn bound_plugin(config: &mut kube::Config, timeout: Duration) {
    let Some(exec) = config.auth_info.exec.as_mut() else {
        return;
    };
    let (Some(command), Ok(me)) = (exec.command.clone(), std::env::current_exe()) else {
        return;
    };
    let mut args = vec![
        BOUNDED_EXEC.to_string(),
        timeout.as_millis().to_string(),
        command,
    ];
    args.extend(exec.args.take().unwrap_or_default());
    exec.command = Some(me.to_string_lossy().into_owned());
    exec.args = Some(args);
}

/// `kubectl-posthog __exec-plugin MILLIS COMMAND ARGS…`: runs COMMAND with this process's
/// environment and stdin, its stderr passed through as it comes and its stdout (the credential)
/// handed on when it ends; past MILLIS it is killed, with one line on stderr naming it, and the
/// exit status is 124. Its output goes through pipes of our own, so a child the plugin left
/// behind (a `sleep` in a shell script) cannot keep kube waiting on the credential pipe.
pub fn run_bounded(args: &[String]) -> std::process::ExitCode {
    use std::io::{Read, Write};
    use std::process::{ExitCode, Stdio};
    let (Some(millis), Some(command)) = (
        args.first().and_then(|m| m.parse::<u64>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: {BOUNDED_EXEC} MILLIS COMMAND [ARGS…]");
        return ExitCode::from(2);
    };
    let timeout = Duration::from_millis(millis);
    let deadline = std::time::Instant::now() + timeout;
    let spawned = std::process::Command::new(command)
        .args(&args[2..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot start the exec credential plugin {command:?}: {e}");
            return ExitCode::from(127);
        }
    };
    let (tx, credential) = std::sync::mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    if let Some(mut err) = child.stderr.take() {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut err, &mut std::io::stderr());
        });
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => break None,
        }
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match (status, credential.recv_timeout(left)) {
        (Some(status), Ok(bytes)) => {
            let _ = std::io::stdout().write_all(&bytes);
            let _ = std::io::stdout().flush();
            ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1))
        }
        _ => {
            let _ = child.kill();
            let _ = child.try_wait();
            eprintln!(
                "the exec credential plugin {command:?} did not finish within {}",
                humantime::format_duration(timeout)
            );
            let _ = std::io::stderr().flush();
            // Not `return`: a reader thread may still hold a pipe a stray child keeps open.
            std::process::exit(TIMED_OUT);
        }
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
    let kube::Error::Auth(auth) = error else {
        return error.to_string();
    };
    describe_auth(auth, plugin)
}

/// The plugin [`bound_plugin`] wraps, from kube's description of the command it ran
/// (`"/path/kubectl-posthog" "__exec-plugin" "30000" "aws" …`).
fn wrapped_plugin(cmd: &str) -> Option<String> {
    let rest = cmd.split_once(&format!("\"{BOUNDED_EXEC}\" "))?.1;
    let rest = rest.split_once(' ')?.1;
    rest.split(' ').next().map(str::to_string)
}

/// [`describe`] for an error kube met while refreshing a token mid-run (inside a request): the
/// one line, when it is the exec plugin's.
pub(super) fn describe_refresh(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(kube::Error::Auth(auth)) = e.downcast_ref::<kube::Error>() {
            return Some(describe_auth(auth, None));
        }
        if let Some(auth) = e.downcast_ref::<kube::client::AuthError>() {
            return Some(describe_auth(auth, None));
        }
        current = e.source();
    }
    None
}

fn describe_auth(auth: &kube::client::AuthError, plugin: Option<&str>) -> String {
    use kube::client::AuthError;
    let named = match auth {
        AuthError::AuthExecRun { cmd, .. } => wrapped_plugin(cmd),
        _ => None,
    };
    let plugin = named.as_deref().or(plugin).unwrap_or("(unnamed)");
    match auth {
        AuthError::AuthExecRun { out, .. } if out.status.code() == Some(TIMED_OUT) => {
            let said = String::from_utf8_lossy(&out.stderr);
            match said.lines().find(|l| l.contains("did not finish within")) {
                Some(line) => line.trim().to_string(),
                None => format!("the exec credential plugin {plugin} did not finish in time"),
            }
        }
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
