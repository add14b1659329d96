//! Defaulting the apiserver applies on write, for the fields clients read back: Deployment
//! replicas, strategy, history limit and progress deadline; ReplicaSet replicas; Service
//! type, cluster IP, port protocol and targetPort; Lease MicroTimes; HPA minReplicas,
//! metrics and behavior.

use serde_json::{Value, json};

use crate::controllers::hash::fnv1a32;
use crate::meta;
use crate::resources::{ResId, ids};

pub(crate) fn apply(res: ResId, obj: &mut Value) {
    // Typed decoding on a real apiserver turns `null` into "absent"; clients that round-trip
    // through typed structs send `creationTimestamp: null` and the like.
    drop_nulls(obj);
    match res {
        ids::DEPLOYMENTS => {
            deployment(obj);
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                pod_spec(spec);
            }
        }
        ids::REPLICASETS => {
            meta::obj_mut(obj, &["spec"])
                .entry("replicas")
                .or_insert(json!(1));
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                pod_spec(spec);
            }
        }
        ids::PODS => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        ids::SERVICES => service(obj),
        ids::LEASES => crate::lease::normalize(obj),
        ids::HPAS => crate::controllers::hpa::spec::defaults(obj),
        _ if crate::resources::def(res).kind == "Secret" => secret(obj),
        _ => {}
    }
}

/// `stringData` is write-only: the apiserver folds it into base64 `data`.
fn secret(obj: &mut Value) {
    use base64::Engine;
    let Some(m) = obj.as_object_mut() else { return };
    m.entry("type").or_insert(json!("Opaque"));
    let Some(Value::Object(string_data)) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (k, v) in string_data {
        let text = v
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string());
        data[k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Pod spec defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`), so templates compare
/// equal whether or not a client round-tripped them through typed structs.
fn pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    s.entry("restartPolicy").or_insert(json!("Always"));
    s.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    s.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    s.entry("securityContext").or_insert(json!({}));
    s.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(cs)) = s.get_mut(list) else {
            continue;
        };
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let tag = image
                .rsplit('/')
                .next()
                .and_then(|last| last.split_once(':'))
                .map(|(_, t)| t);
            let policy = if image.contains('@') || tag.is_some_and(|t| t != "latest") {
                "IfNotPresent"
            } else {
                "Always"
            };
            c.entry("imagePullPolicy").or_insert(json!(policy));
            c.entry("resources").or_insert(json!({}));
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            if let Some(Value::Array(ports)) = c.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
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
    fn typed_round_trip_compares_equal() {
        let mut a = json!({"spec": {"template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "w", "image": "nginx:1"}]}}}});
        let mut b = json!({"spec": {"template": {"metadata": {"labels": {"app": "w"}, "creationTimestamp": null}, "spec": {"containers": [{"name": "w", "image": "nginx:1", "resources": {}}]}}}});
        apply(ids::DEPLOYMENTS, &mut a);
        apply(ids::DEPLOYMENTS, &mut b);
        assert_eq!(a["spec"]["template"], b["spec"]["template"]);
        assert_eq!(
            a["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn secret_string_data_becomes_data() {
        let mut s = json!({"stringData": {"key": "phc_abc"}, "data": {"other": "eA=="}});
        apply(
            crate::resources::by_path("", "v1", "secrets").unwrap(),
            &mut s,
        );
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"other": "eA==", "key": "cGhjX2FiYw=="}})
        );
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
