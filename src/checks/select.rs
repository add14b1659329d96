//! Which Deployments a preflight covers: the named one, or with `--all` every one that uses PostHog.

use k8s_openapi::api::apps::v1::Deployment;

use crate::config::Names;
use crate::error::{Error, Result};

use super::facts::{ClusterFacts, Obj};
use super::live::uses_posthog;

/// Indices into `facts.deployments`.
pub fn select(
    facts: &ClusterFacts,
    target: Option<(&str, Option<&str>)>,
    names: &Names,
    source: &str,
) -> Result<Vec<usize>> {
    match target {
        Some((name, namespace)) => {
            let found = facts.deployments.iter().position(|d: &Obj<Deployment>| {
                d.name() == name && namespace.is_none_or(|ns| d.namespace() == ns)
            });
            found.map(|i| vec![i]).ok_or_else(|| {
                let names: Vec<String> = facts
                    .deployments
                    .iter()
                    .map(|d| format!("{}/{}", d.namespace(), d.name()))
                    .collect();
                Error::Input(format!(
                    "deployment/{name} is not in {source}{}: name one of them, or pass --all",
                    if names.is_empty() {
                        " (no Deployment at all)".to_string()
                    } else {
                        format!(" (found {})", names.join(", "))
                    }
                ))
            })
        }
        None => {
            let chosen: Vec<usize> = facts
                .deployments
                .iter()
                .enumerate()
                .filter(|(_, d)| uses_posthog(&d.object, names))
                .map(|(i, _)| i)
                .collect();
            if chosen.is_empty() {
                return Err(Error::Input(format!(
                    "no Deployment in {source} uses PostHog (no POSTHOG_* variable, no Secret named like {}, no label {}=true)",
                    names.secret, names.label
                )));
            }
            Ok(chosen)
        }
    }
}
