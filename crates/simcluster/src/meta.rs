//! Small accessors over `serde_json::Value` objects: metadata, labels, owner references.
//! The store holds untyped JSON so strategic merge and unknown fields survive.

use serde_json::{Map, Value, json};

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

pub(crate) fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

pub(crate) fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

pub(crate) fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or("")
}

pub(crate) fn uid(v: &Value) -> &str {
    str_at(v, &["metadata", "uid"]).unwrap_or("")
}

pub(crate) fn resource_version(v: &Value) -> &str {
    str_at(v, &["metadata", "resourceVersion"]).unwrap_or("")
}

/// The object's labels (an empty map when it has none), borrowed: selectors run over every
/// object of a list, so they must not copy.
pub(crate) fn labels(v: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    at(v, &["metadata", "labels"])
        .and_then(Value::as_object)
        .unwrap_or(&EMPTY)
}

pub(crate) fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    at(v, &["metadata", "annotations", key]).and_then(Value::as_str)
}

/// Gets `obj[path]` as a mutable object, creating empty objects along the way (and
/// replacing non-objects, which only a malformed client object can contain).
pub(crate) fn obj_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for p in path {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Value::Object(m) = cur else {
            unreachable!("made an object above")
        };
        cur = m.entry(p.to_string()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    match cur {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

pub(crate) fn set_annotation(v: &mut Value, key: &str, value: &str) {
    obj_mut(v, &["metadata", "annotations"]).insert(key.to_string(), json!(value));
}

/// The `controller: true` owner reference's uid, if any.
pub(crate) fn controller_uid(v: &Value) -> Option<&str> {
    owner_refs(v)
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

pub(crate) fn owner_refs(v: &Value) -> &[Value] {
    at(v, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A controller owner reference pointing at `owner`.
pub(crate) fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Reads an int-or-percent (`2`, `"25%"`) and resolves it against `total` the way
/// Kubernetes' `GetScaledValueFromIntOrPercent` does.
pub(crate) fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let fallback = json!(default);
    let v = v.unwrap_or(&fallback);
    if let Some(i) = v.as_i64() {
        return i;
    }
    let s = v.as_str().unwrap_or(default);
    let pct = s
        .strip_suffix('%')
        .and_then(|p| p.trim().parse::<i64>().ok())
        .or_else(|| s.trim().parse::<i64>().ok().map(|i| i * 100 / total.max(1)))
        .unwrap_or(0);
    let scaled = pct.saturating_mul(total);
    if round_up {
        (scaled + 99).div_euclid(100)
    } else {
        scaled.div_euclid(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent_rounds_like_kubernetes() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, true, "25%"), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, false, "25%"), 0);
        assert_eq!(int_or_percent(Some(&json!("25%")), 10, true, "25%"), 3);
        assert_eq!(int_or_percent(Some(&json!("25%")), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(Some(&json!(2)), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(None, 4, true, "25%"), 1);
    }

    #[test]
    fn obj_mut_creates_path() {
        let mut v = json!({"metadata": {"name": "x"}});
        set_annotation(&mut v, "a", "b");
        assert_eq!(annotation(&v, "a"), Some("b"));
        assert_eq!(name(&v), "x");
    }
}
