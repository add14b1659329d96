//! A target Deployment that does not exist, worded once for every command: an input error
//! (exit 2) that names the Deployment, the namespace and the context, with the close names the
//! namespace does have (or the close namespaces, when the namespace itself does not exist).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

use super::client::Cluster;
use crate::error::Error;

/// At most this many close names are offered.
const MAX_SUGGESTIONS: usize = 3;

/// The one error for "the target Deployment does not exist", with a hint listing close names.
/// Asks the cluster for the namespace's Deployments (and, when there are none, whether the
/// namespace exists); a refused or failed question only leaves the hint out.
pub async fn deployment_not_found(cluster: &Cluster, namespace: &str, name: &str) -> Error {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    let names: Vec<String> = match deployments.list_metadata(&ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut hint = Hint::Names(close_names(name, &names));
    if names.is_empty() {
        let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
        if let Ok(None) = namespaces.get_opt(namespace).await {
            let existing: Vec<String> = match namespaces.list_metadata(&ListParams::default()).await
            {
                Ok(list) => list
                    .items
                    .into_iter()
                    .filter_map(|n| n.metadata.name)
                    .collect(),
                Err(_) => Vec::new(),
            };
            hint = Hint::NoNamespace(close_names(namespace, &existing));
        }
    }
    Error::DeploymentNotFound {
        name: name.to_string(),
        message: wording(name, namespace, cluster.context.as_deref(), &hint),
    }
}

/// Rewords a [`Error::DeploymentNotFound`] raised where only the API's answer was at hand (see
/// [`super::api_error`]) for the command's namespace; any other error is returned as it is.
pub async fn explain_not_found(cluster: &Cluster, error: Error) -> Error {
    match error {
        Error::DeploymentNotFound { name, .. } => {
            deployment_not_found(cluster, &cluster.namespace, &name).await
        }
        other => other,
    }
}

/// What follows the error itself.
#[derive(Debug, PartialEq, Eq)]
enum Hint {
    /// Deployments of the namespace whose names are close to the one asked for.
    Names(Vec<String>),
    /// The namespace does not exist; these namespaces are close to it.
    NoNamespace(Vec<String>),
}

fn wording(name: &str, namespace: &str, context: Option<&str>, hint: &Hint) -> String {
    let context = match context {
        Some(context) => format!("context {context}"),
        None => "in-cluster".to_string(),
    };
    let mut line = format!("deployment {name:?} not found in namespace {namespace:?} ({context})");
    match hint {
        Hint::Names(names) if !names.is_empty() => {
            line.push_str(&format!("; did you mean {}?", alternatives(names)));
        }
        Hint::Names(_) => {}
        Hint::NoNamespace(close) => {
            line.push_str(&format!("; namespace {namespace:?} does not exist"));
            if !close.is_empty() {
                line.push_str(&format!(": did you mean -n {}?", alternatives(close)));
            }
        }
    }
    line
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn alternatives(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The candidates within a few edits of `wanted` (a third of its length, at least 2), or that it
/// is a prefix of (or that are a prefix of it): closest first, then by name, at most
/// [`MAX_SUGGESTIONS`].
fn close_names(wanted: &str, candidates: &[String]) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(2);
    let mut close: Vec<(usize, &String)> = candidates
        .iter()
        .filter(|c| c.as_str() != wanted)
        .filter_map(|c| {
            let distance = edit_distance(wanted, c);
            let prefix =
                wanted.len() >= 3 && (c.starts_with(wanted) || wanted.starts_with(c.as_str()));
            (distance <= limit || prefix).then_some((distance, c))
        })
        .collect();
    close.sort();
    close.dedup();
    close
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c.clone())
        .collect()
}

/// Levenshtein distance, with a swap of two neighbours counted as one edit (a typo's usual shape).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_wording_with_the_context() {
        assert_eq!(
            wording(
                "nope",
                "production",
                Some("simcluster"),
                &Hint::Names(vec![])
            ),
            r#"deployment "nope" not found in namespace "production" (context simcluster)"#
        );
        assert_eq!(
            wording("nope", "default", None, &Hint::Names(vec![])),
            r#"deployment "nope" not found in namespace "default" (in-cluster)"#
        );
    }

    #[test]
    fn hints_name_the_close_deployments_or_the_missing_namespace() {
        assert_eq!(
            wording(
                "posthog-integratoin",
                "default",
                Some("c"),
                &Hint::Names(names(&["posthog-integration"]))
            ),
            r#"deployment "posthog-integratoin" not found in namespace "default" (context c); did you mean "posthog-integration"?"#
        );
        assert_eq!(
            wording(
                "web",
                "prod",
                Some("c"),
                &Hint::NoNamespace(names(&["production", "prod-2"]))
            ),
            r#"deployment "web" not found in namespace "prod" (context c); namespace "prod" does not exist: did you mean -n "production" or "prod-2"?"#
        );
        assert_eq!(
            wording("web", "x", Some("c"), &Hint::NoNamespace(vec![])),
            r#"deployment "web" not found in namespace "x" (context c); namespace "x" does not exist"#
        );
    }

    #[test]
    fn close_names_are_typos_and_prefixes_not_everything() {
        let deployments = names(&["posthog-integration", "web", "web-2", "worker", "api"]);
        assert_eq!(
            close_names("posthog-integratoin", &deployments),
            names(&["posthog-integration"])
        );
        assert_eq!(
            close_names("posthog", &deployments),
            names(&["posthog-integration"])
        );
        assert_eq!(close_names("wbe", &deployments), names(&["web"]));
        assert_eq!(close_names("nope", &deployments), Vec::<String>::new());
        assert_eq!(close_names("nope", &[]), Vec::<String>::new());
        let many = names(&["web-1", "web-2", "web-3", "web-4"]);
        assert_eq!(close_names("web", &many).len(), MAX_SUGGESTIONS);
    }

    #[test]
    fn a_swap_is_one_edit() {
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
