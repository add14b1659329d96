//! Connecting like kubectl: kubeconfig precedence, contexts, namespaces and the errors people see.

use std::io::Write;

use clap::Parser;
use kubectl_posthog::cmd::Cli;
use kubectl_posthog::kube::{ConnectOptions, api_error, connect};

fn global(args: &[&str]) -> ConnectOptions {
    let mut argv = vec!["kubectl-posthog"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["completion", "bash"]);
    Cli::try_parse_from(argv)
        .expect("valid flags")
        .global
        .connect_options()
}

fn kubeconfig_file(server: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: c1
  cluster:
    server: {server}
contexts:
- name: staging
  context: {{cluster: c1, user: u1, namespace: staging-ns}}
- name: prod
  context: {{cluster: c1, user: u1, namespace: prod-ns}}
users:
- name: u1
  user: {{token: not-a-real-token}}
"
    )
    .unwrap();
    file
}

#[tokio::test]
async fn missing_kubeconfig_names_the_file_and_the_fix() {
    let err = connect(&global(&["--kubeconfig", "/nonexistent/kubeconfig"]))
        .await
        .unwrap_err();
    assert_eq!(err.exit().code(), 2);
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/kubeconfig") && text.contains("--kubeconfig"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
}

#[tokio::test]
async fn malformed_kubeconfig_is_an_input_error() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "clusters: [unclosed").unwrap();
    let path = file.path().to_str().unwrap();
    let err = connect(&global(&["--kubeconfig", path])).await.unwrap_err();
    assert_eq!(err.exit().code(), 2, "{err}");
    assert!(err.to_string().contains(path), "{err}");
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn unknown_context_lists_how_to_find_contexts() {
    let file = kubeconfig_file("http://127.0.0.1:1");
    let path = file.path().to_str().unwrap();
    let err = connect(&global(&["--kubeconfig", path, "--context", "nope"]))
        .await
        .unwrap_err();
    assert_eq!(err.exit().code(), 2);
    let text = err.to_string();
    assert!(
        text.contains("\"nope\"") && text.contains("kubectl config get-contexts"),
        "{text}"
    );
}

#[tokio::test]
async fn namespace_comes_from_the_context_unless_given() {
    let file = kubeconfig_file("http://127.0.0.1:1");
    let path = file.path().to_str().unwrap();
    let current = connect(&global(&["--kubeconfig", path])).await.unwrap();
    assert_eq!(current.namespace, "staging-ns");
    assert_eq!(current.context.as_deref(), Some("staging"));
    let prod = connect(&global(&["--kubeconfig", path, "--context", "prod"]))
        .await
        .unwrap();
    assert_eq!(prod.namespace, "prod-ns");
    let explicit = connect(&global(&[
        "--kubeconfig",
        path,
        "--context",
        "prod",
        "-n",
        "other",
    ]))
    .await
    .unwrap();
    assert_eq!(explicit.namespace, "other");
}

#[tokio::test]
async fn unreachable_cluster_is_exit_3_with_the_server() {
    // Bind and drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let file = kubeconfig_file(&server);
    let path = file.path().to_str().unwrap();
    let cluster = connect(&global(&["--kubeconfig", path, "--request-timeout", "2s"]))
        .await
        .unwrap();
    let err = cluster.client.apiserver_version().await.unwrap_err();
    let err = api_error("GET /version", &cluster.server, err);
    assert_eq!(err.exit().code(), 3);
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("GET /version"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[tokio::test]
async fn invalid_namespace_flag_is_a_usage_error() {
    let file = kubeconfig_file("http://127.0.0.1:1");
    let path = file.path().to_str().unwrap();
    let err = connect(&global(&["--kubeconfig", path, "-n", "Bad_NS"]))
        .await
        .unwrap_err();
    assert_eq!(err.exit().code(), 2, "{err}");
}
