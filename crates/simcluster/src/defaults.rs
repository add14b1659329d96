//! Defaulting the apiserver applies on write, for the fields clients read back: Deployment
//! replicas, strategy, history limit and progress deadline; ReplicaSet replicas; Service
//! type, cluster IP, port protocol and targetPort.

use serde_json::{Value, json};

use crate::controllers::hash::fnv1a32;
use crate::meta;
use crate::resources::{ResId, ids};

pub(crate) fn apply(res: ResId, obj: &mut Value) {
    match res {
        ids::DEPLOYMENTS => deployment(obj),
        ids::REPLICASETS => {
            meta::obj_mut(obj, &["spec"])
                .entry("replicas")
                .or_insert(json!(1));
        }
        ids::SERVICES => service(obj),
        _ => {}
    }
}

fn deployment(obj: &mut Value) {
    let spec = meta::obj_mut(obj, &["spec"]);
    spec.entry("replicas").or_insert(json!(1));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if !strategy.is_object() {
        *strategy = json!({});
    }
    if strategy.get("type").is_none() {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = meta::obj_mut(strategy, &["rollingUpdate"]);
        ru.entry("maxSurge").or_insert(json!("25%"));
        ru.entry("maxUnavailable").or_insert(json!("25%"));
    }
}

fn service(obj: &mut Value) {
    let key = format!("{}/{}", meta::namespace(obj), meta::name(obj));
    let h = fnv1a32(key.as_bytes());
    let spec = meta::obj_mut(obj, &["spec"]);
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if spec.get("clusterIP").is_none() {
        let ip = format!("10.96.{}.{}", (h >> 8) % 256, h % 254 + 1);
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            if p.get("protocol").is_none() {
                p["protocol"] = json!("TCP");
            }
            if p.get("targetPort").is_none()
                && let Some(port) = p.get("port").cloned()
            {
                p["targetPort"] = port;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        apply(ids::DEPLOYMENTS, &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        let mut d = json!({"spec": {}});
        apply(ids::DEPLOYMENTS, &mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    }

    #[test]
    fn service_defaults_are_stable() {
        let mut a = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
        let mut b = a.clone();
        apply(ids::SERVICES, &mut a);
        apply(ids::SERVICES, &mut b);
        assert_eq!(a, b);
        assert_eq!(a["spec"]["ports"][0]["targetPort"], 80);
    }
}
