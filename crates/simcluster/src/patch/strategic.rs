//! Strategic merge patch on JSON values. Lists of objects merge by the merge keys Kubernetes
//! declares for the core types (containers by `name`, ports by `containerPort`/`port`, …);
//! other lists are replaced. Supports `null` deletion and the directives `$patch`,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum SmpError {
    #[error("unknown patch directive $patch: {0:?}")]
    UnknownDirective(String),
    #[error("invalid $retainKeys: {0}")]
    RetainKeys(String),
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListStrategy {
    /// Objects merge by this key.
    Key(&'static str),
    /// Primitives merge as a set union (e.g. `finalizers`).
    PrimitiveUnion,
    Replace,
}

fn strategy(field: &str, sample: &[&Value]) -> ListStrategy {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::Key("name"),
        "volumeMounts" => ListStrategy::Key("mountPath"),
        "volumeDevices" => ListStrategy::Key("devicePath"),
        "hostAliases" => ListStrategy::Key("ip"),
        "conditions" => ListStrategy::Key("type"),
        "ownerReferences" => ListStrategy::Key("uid"),
        "topologySpreadConstraints" => ListStrategy::Key("topologyKey"),
        "finalizers" => ListStrategy::PrimitiveUnion,
        "ports" => {
            let container = sample.iter().any(|v| v.get("containerPort").is_some());
            ListStrategy::Key(if container { "containerPort" } else { "port" })
        }
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `original`.
pub(crate) fn merge(original: &Value, patch: &Value) -> Result<Value, SmpError> {
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => {
            Ok(merge_map(o, p)?.map(Value::Object).unwrap_or(Value::Null))
        }
        _ => Ok(patch.clone()),
    }
}

/// Returns `None` when the patch says `$patch: delete` for this map.
fn merge_map(
    orig: &Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, SmpError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            let mut p = patch.clone();
            p.remove("$patch");
            return Ok(Some(clean_map(&p)?));
        }
        Some("merge") | None => {}
        Some(other) => return Err(SmpError::UnknownDirective(other.to_string())),
    }
    let mut out = orig.clone();
    for (k, v) in patch {
        if k == "$patch" || k == "$retainKeys" || k.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            if let (Some(Value::Array(list)), Some(del)) = (out.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v) {
            (Some(Value::Object(o)), Value::Object(p)) => merge_map(o, p)?.map(Value::Object),
            (Some(Value::Array(o)), Value::Array(p)) => Some(Value::Array(merge_list(k, o, p)?)),
            (None, Value::Object(p)) => merge_map(&Map::new(), p)?.map(Value::Object),
            (None, Value::Array(p)) => Some(Value::Array(merge_list(k, &[], p)?)),
            (_, other) => Some(other.clone()),
        };
        match merged {
            Some(m) => out.insert(k.clone(), m),
            None => out.remove(k),
        };
    }
    for (k, order) in patch {
        if let (Some(field), Some(order)) = (k.strip_prefix(SET_ORDER), order.as_array())
            && let Some(Value::Array(list)) = out.get_mut(field)
        {
            reorder(field, list, order);
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keys = retain
            .as_array()
            .ok_or_else(|| SmpError::RetainKeys("must be a list of strings".into()))?;
        let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keys.contains(&k.as_str()));
    }
    Ok(Some(out))
}

fn merge_list(field: &str, orig: &[Value], patch: &[Value]) -> Result<Vec<Value>, SmpError> {
    let sample: Vec<&Value> = orig.iter().chain(patch.iter()).collect();
    // A `{"$patch": "replace"}` element replaces the whole list.
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(clean)
            .collect();
    }
    match strategy(field, &sample) {
        ListStrategy::Replace => patch.iter().map(clean).collect(),
        ListStrategy::PrimitiveUnion => {
            let mut out = orig.to_vec();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::Key(key) => {
            let mut out = orig.to_vec();
            for p in patch {
                let Some(pm) = p.as_object() else {
                    out.push(p.clone());
                    continue;
                };
                let id = pm.get(key);
                let pos = id.and_then(|id| out.iter().position(|o| o.get(key) == Some(id)));
                match (pm.get("$patch").and_then(Value::as_str), pos) {
                    (Some("delete"), _) => {
                        if let Some(id) = id {
                            out.retain(|o| o.get(key) != Some(id));
                        }
                    }
                    (_, Some(i)) => {
                        let merged = match &out[i] {
                            Value::Object(o) => merge_map(o, pm)?,
                            _ => Some(clean_map(pm)?),
                        };
                        match merged {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    (_, None) => {
                        if let Some(m) = merge_map(&Map::new(), pm)? {
                            out.push(Value::Object(m));
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Orders a merged list as `$setElementOrder` says; elements it does not name keep their
/// relative order after the named ones.
fn reorder(field: &str, list: &mut Vec<Value>, order: &[Value]) {
    let strat = {
        let sample: Vec<&Value> = list.iter().chain(order.iter()).collect();
        strategy(field, &sample)
    };
    let pos_of = |v: &Value| -> Option<usize> {
        match strat {
            ListStrategy::Key(key) => order
                .iter()
                .position(|o| o.get(key).is_some() && o.get(key) == v.get(key)),
            _ => order.iter().position(|o| o == v),
        }
    };
    let mut indexed: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, v)| (pos_of(&v).unwrap_or(usize::MAX), i, v))
        .collect();
    indexed.sort_by_key(|(p, i, _)| (*p, *i));
    list.extend(indexed.into_iter().map(|(_, _, v)| v));
}

/// Strips directives from a value that is inserted where nothing existed.
fn clean(v: &Value) -> Result<Value, SmpError> {
    match v {
        Value::Object(m) => Ok(merge_map(&Map::new(), m)?
            .map(Value::Object)
            .unwrap_or(Value::Null)),
        Value::Array(a) => Ok(Value::Array(a.iter().map(clean).collect::<Result<_, _>>()?)),
        other => Ok(other.clone()),
    }
}

fn clean_map(m: &Map<String, Value>) -> Result<Map<String, Value>, SmpError> {
    let mut out = Map::new();
    for (k, v) in m {
        if k.starts_with('$') {
            continue;
        }
        out.insert(k.clone(), clean(v)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"spec": {"paused": true, "template": {"spec": {
            "containers": [
                {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "sidecar", "image": "envoy:1"}
            ],
            "volumes": [{"name": "v1", "emptyDir": {}}]
        }}}})
    }

    #[test]
    fn kubectl_set_image_patch() {
        let p = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],"containers":[{"image":"nginx:3","name":"web"}]}}}});
        let out = merge(&deploy(), &p).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "nginx:3");
        assert_eq!(c[0]["env"][1]["value"], "2", "untouched fields survive");
        assert_eq!(c[1]["image"], "envoy:1");
    }

    #[test]
    fn null_deletes_and_pause_resume() {
        let out = merge(&deploy(), &json!({"spec": {"paused": null}})).unwrap();
        assert!(out["spec"].get("paused").is_none());
    }

    #[test]
    fn env_merge_and_delete_directive() {
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [
            {"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}, {"name": "A", "value": "9"}
        ]}]}}}});
        let out = merge(&deploy(), &p).unwrap();
        let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            env,
            &json!([{"name": "A", "value": "9"}, {"name": "C", "value": "3"}])
        );
    }

    #[test]
    fn replace_directives() {
        let p = json!({"spec": {"template": {"spec": {"volumes": [{"name": "v2", "secret": {"secretName": "s"}}, {"$patch": "replace"}]}}}});
        let out = merge(&deploy(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "v2", "secret": {"secretName": "s"}}])
        );
        let p = json!({"spec": {"template": {"$patch": "replace", "spec": {"containers": []}}}});
        let out = merge(&deploy(), &p).unwrap();
        assert_eq!(out["spec"]["template"], json!({"spec": {"containers": []}}));
    }

    #[test]
    fn retain_keys_and_primitive_lists() {
        let orig = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "metadata": {"finalizers": ["a", "b"]}});
        let p = json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                       "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out = merge(&orig, &p).unwrap();
        assert_eq!(out["strategy"], json!({"type": "Recreate"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out = merge(&orig, &json!({"metadata": {"finalizers": ["c"]}})).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn ports_by_container_port_and_service_port() {
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 9090, "name": "metrics"}]}]}}}});
        let out = merge(&deploy(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let out = merge(
            &svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
        )
        .unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}])
        );
    }

    #[test]
    fn set_element_order_reorders() {
        let p = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}}});
        let out = merge(&deploy(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["name"],
            "sidecar"
        );
    }

    #[test]
    fn map_delete_directive() {
        let out = merge(
            &json!({"a": {"b": 1}, "c": 2}),
            &json!({"a": {"$patch": "delete"}}),
        )
        .unwrap();
        assert_eq!(out, json!({"c": 2}));
        assert!(merge(&json!({}), &json!({"$patch": "bogus"})).is_err());
    }
}
