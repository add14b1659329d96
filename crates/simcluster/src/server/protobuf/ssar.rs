//! The protobuf SelfSubjectAccessReview `kubectl auth can-i` sends.

use serde_json::{Map, Value, json};

use super::{bytes_field, fields, string_field};

pub(super) fn decode(raw: &[u8]) -> Option<Value> {
    let review = fields(raw)?;
    let spec = fields(bytes_field(&review, 2).unwrap_or(&[]))?;
    let mut out = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {}});
    if let Some(ra) = bytes_field(&spec, 1) {
        let ra = fields(ra)?;
        let mut m = Map::new();
        for (n, key) in [
            (1, "namespace"),
            (2, "verb"),
            (3, "group"),
            (4, "version"),
            (5, "resource"),
            (6, "subresource"),
            (7, "name"),
        ] {
            if let Some(v) = string_field(&ra, n) {
                m.insert(key.into(), json!(v));
            }
        }
        out["spec"]["resourceAttributes"] = Value::Object(m);
    }
    if let Some(nra) = bytes_field(&spec, 2) {
        let nra = fields(nra)?;
        out["spec"]["nonResourceAttributes"] =
            json!({"path": string_field(&nra, 1), "verb": string_field(&nra, 2)});
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::wire::{bytes, envelope};
    use crate::resources::ids;
    use serde_json::json;

    #[test]
    fn decodes_resource_attributes() {
        let ra = [
            bytes(1, b"default"),
            bytes(2, b"patch"),
            bytes(3, b"apps"),
            bytes(5, b"deployments"),
        ]
        .concat();
        let spec = bytes(1, &ra);
        let review = [bytes(1, b""), bytes(2, &spec)].concat();
        let v = super::super::decode(ids::SSAR, &envelope(&review)).unwrap();
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "patch", "group": "apps", "resource": "deployments"})
        );
        assert!(super::super::decode(ids::SSAR, b"k8s\x00\xff").is_none());
        assert!(super::super::decode(ids::SSAR, b"{}").is_none());
    }
}
