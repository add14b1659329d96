//! Live mode: the facts read from the cluster with a bounded number of requests. A single target
//! costs one GET for the Deployment, one LIST each for its pods and ReplicaSets (by its selector),
//! Services, PDBs, HPAs and PrometheusRules, and one GET per distinct Secret or ConfigMap its
//! containers reference — never one request per pod or per variable. `--all` costs one LIST per
//! kind in scope, however many Deployments and pods there are.

use std::collections::BTreeSet;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::kube::{Cluster, api_error, is_not_found, selector_string};

use super::facts::{ClusterFacts, Obj, Origin, SecretFacts};

/// Where to look: one namespace or all of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    fn api<K>(&self, client: &kube::Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        match self {
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
            Scope::All => Api::all(client.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("in namespace {ns}"),
            Scope::All => "in all namespaces".to_string(),
        }
    }
}

async fn list<K>(
    cluster: &Cluster,
    scope: &Scope,
    params: &ListParams,
    what: &str,
) -> Result<Vec<Obj<K>>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = scope.api(&cluster.client);
    let list = api.list(params).await.map_err(|e| {
        api_error(
            &format!("list {what} {}", scope.describe()),
            &cluster.server,
            e,
        )
    })?;
    Ok(list
        .items
        .into_iter()
        .map(|object| Obj {
            object,
            origin: Origin::default(),
        })
        .collect())
}

/// PrometheusRule objects, when the CRD is installed (a 404 means it is not: no rules from there).
async fn prometheus_rules(cluster: &Cluster, facts: &mut ClusterFacts) -> Result<()> {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "prometheusrules");
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &resource);
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let count = list.items.len();
            for item in list.items {
                let source = format!(
                    "PrometheusRule {}/{}",
                    item.namespace().unwrap_or_default(),
                    item.name_any()
                );
                let value = serde_json::to_value(&item).unwrap_or_default();
                facts.alert_rules.extend(super::manifests::prometheus_rules(
                    &value,
                    &Origin::default(),
                    &source,
                ));
            }
            facts.alert_sources.push(format!(
                "{count} PrometheusRule object{} in the cluster",
                crate::report::plural(count)
            ));
            Ok(())
        }
        Err(e) if is_not_found(&e) => {
            facts
                .alert_sources
                .push("PrometheusRule CRD not installed".to_string());
            Ok(())
        }
        // Reading alert rules cluster-wide is often not granted; the alerting check says so
        // instead of the whole checklist failing.
        Err(kube::Error::Api(status)) if status.code == 403 => {
            facts.alert_sources.push(format!(
                "PrometheusRules not readable ({}): grant list on prometheusrules.monitoring.coreos.com or pass --prometheus-url",
                status.message
            ));
            Ok(())
        }
        Err(e) => Err(api_error(
            "list PrometheusRules in all namespaces",
            &cluster.server,
            e,
        )),
    }
}

/// The Secrets and ConfigMaps a Deployment's containers reference (env, envFrom).
fn references(deploy: &Deployment) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut secrets = BTreeSet::new();
    let mut config_maps = BTreeSet::new();
    for c in super::env::containers(deploy) {
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                secrets.insert(r.name.clone());
            }
            if let Some(r) = &from.config_map_ref {
                config_maps.insert(r.name.clone());
            }
        }
        for var in c.env.iter().flatten() {
            if let Some(from) = &var.value_from {
                if let Some(r) = &from.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
                if let Some(r) = &from.config_map_key_ref {
                    config_maps.insert(r.name.clone());
                }
            }
        }
    }
    (secrets, config_maps)
}

enum Fetched<T> {
    Found(T),
    Missing,
    Unreadable(String),
}

async fn get_one<K>(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    kind: &str,
) -> Result<Fetched<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(cluster.client.clone(), namespace);
    match api.get(name).await {
        Ok(object) => Ok(Fetched::Found(object)),
        Err(e) if is_not_found(&e) => Ok(Fetched::Missing),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(Fetched::Unreadable(format!(
            "forbidden ({})",
            status.message
        ))),
        Err(e) => Err(api_error(
            &format!("get {kind} {namespace}/{name}"),
            &cluster.server,
            e,
        )),
    }
}

/// Facts for one Deployment.
pub async fn gather_one(cluster: &Cluster, namespace: &str, name: &str) -> Result<ClusterFacts> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    let deploy = match deployments.get(name).await {
        Ok(deploy) => deploy,
        Err(e) if is_not_found(&e) => {
            return Err(crate::kube::deployment_not_found(cluster, namespace, name).await);
        }
        Err(e) => {
            return Err(api_error(
                &format!("get deployment/{name} in namespace {namespace}"),
                &cluster.server,
                e,
            ));
        }
    };
    let selector = deploy
        .spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    let by_selector = ListParams::default().labels(&selector);
    let scope = Scope::Namespace(namespace.to_string());
    let (secret_names, config_map_names) = references(&deploy);

    let mut facts = ClusterFacts {
        authoritative: true,
        ..ClusterFacts::default()
    };
    let everything = ListParams::default();
    let (pods, replica_sets, services, pdbs, hpas) = tokio::try_join!(
        list::<Pod>(cluster, &scope, &by_selector, "pods"),
        list::<ReplicaSet>(cluster, &scope, &by_selector, "replicasets"),
        list::<Service>(cluster, &scope, &everything, "services"),
        list::<PodDisruptionBudget>(cluster, &scope, &everything, "poddisruptionbudgets"),
        list::<HorizontalPodAutoscaler>(cluster, &scope, &everything, "horizontalpodautoscalers"),
    )?;
    let secret_gets = join_all(
        secret_names
            .iter()
            .map(|n| get_one::<Secret>(cluster, namespace, n, "secret")),
    );
    let config_map_gets = join_all(
        config_map_names
            .iter()
            .map(|n| get_one::<ConfigMap>(cluster, namespace, n, "configmap")),
    );
    let (secrets, config_maps, rules) = tokio::join!(secret_gets, config_map_gets, async {
        let mut rules = ClusterFacts::default();
        prometheus_rules(cluster, &mut rules).await.map(|()| rules)
    });
    for (name, fetched) in secret_names.iter().zip(secrets) {
        match fetched? {
            Fetched::Found(secret) => facts
                .secrets
                .push(SecretFacts::from_secret(&secret, Origin::default())),
            Fetched::Missing => {}
            Fetched::Unreadable(reason) => {
                facts
                    .unreadable
                    .insert(format!("{namespace}/{name}"), reason);
            }
        }
    }
    for (name, fetched) in config_map_names.iter().zip(config_maps) {
        match fetched? {
            Fetched::Found(object) => facts.config_maps.push(Obj {
                object,
                origin: Origin::default(),
            }),
            Fetched::Missing => {}
            Fetched::Unreadable(reason) => {
                facts
                    .unreadable
                    .insert(format!("{namespace}/{name}"), reason);
            }
        }
    }
    let rules = rules?;
    facts.alert_rules = rules.alert_rules;
    facts.alert_sources = rules.alert_sources;
    facts.deployments = vec![Obj {
        object: deploy,
        origin: Origin::default(),
    }];
    facts.pods = Some(pods.into_iter().map(|p| p.object).collect());
    facts.replica_sets = replica_sets;
    facts.services = services;
    facts.pdbs = pdbs;
    facts.hpas = hpas;
    Ok(facts)
}

/// Facts for every Deployment in scope: one LIST per kind.
pub async fn gather_all(cluster: &Cluster, scope: &Scope) -> Result<ClusterFacts> {
    let all = ListParams::default();
    let (deployments, replica_sets, services, pdbs, hpas, secrets, config_maps) = tokio::try_join!(
        list::<Deployment>(cluster, scope, &all, "deployments"),
        list::<ReplicaSet>(cluster, scope, &all, "replicasets"),
        list::<Service>(cluster, scope, &all, "services"),
        list::<PodDisruptionBudget>(cluster, scope, &all, "poddisruptionbudgets"),
        list::<HorizontalPodAutoscaler>(cluster, scope, &all, "horizontalpodautoscalers"),
        list::<Secret>(cluster, scope, &all, "secrets"),
        list::<ConfigMap>(cluster, scope, &all, "configmaps"),
    )?;
    let mut facts = ClusterFacts {
        authoritative: true,
        deployments,
        replica_sets,
        services,
        pdbs,
        hpas,
        config_maps,
        secrets: secrets
            .iter()
            .map(|s| SecretFacts::from_secret(&s.object, Origin::default()))
            .collect(),
        ..ClusterFacts::default()
    };
    prometheus_rules(cluster, &mut facts).await?;
    Ok(facts)
}

/// Whether a Deployment uses PostHog: a `POSTHOG_*` or configured variable, a reference to a
/// Secret whose name contains `posthog` (or the configured one), or the opt-in label.
pub fn uses_posthog(deploy: &Deployment, names: &crate::config::Names) -> bool {
    let labels = deploy.metadata.labels.as_ref();
    if labels
        .and_then(|l| l.get(&names.label))
        .is_some_and(|v| v == "true")
    {
        return true;
    }
    let (secrets, _) = references(deploy);
    if secrets
        .iter()
        .any(|s| s == &names.secret || s.to_ascii_lowercase().contains("posthog"))
    {
        return true;
    }
    super::env::containers(deploy).iter().any(|c| {
        c.env.iter().flatten().any(|v| {
            v.name.starts_with("POSTHOG_")
                || names.required_env.contains(&v.name)
                || v.name == names.api_key_env
        })
    })
}
