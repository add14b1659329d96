//! The protobuf autoscaling/v2 HorizontalPodAutoscaler `kubectl autoscale` creates (field
//! numbers from k8s.io/api/autoscaling/v2/generated.proto). Status is not read: the apiserver
//! resets it on create.

use serde_json::{Map, Value, json};

use super::{Field, bytes_field, fields, int_field, object_meta, repeated, string_field};

/// Puts a non-empty string field under `key`.
fn put_str(out: &mut Map<String, Value>, fs: &[(u64, Field<'_>)], n: u64, key: &str) {
    if let Some(v) = string_field(fs, n).filter(|v| !v.is_empty()) {
        out.insert(key.into(), json!(v));
    }
}

fn put_int(out: &mut Map<String, Value>, fs: &[(u64, Field<'_>)], n: u64, key: &str) {
    if let Some(v) = int_field(fs, n) {
        out.insert(key.into(), json!(v));
    }
}

/// A `resource.Quantity` is a message with its text in field 1.
fn put_quantity(
    out: &mut Map<String, Value>,
    fs: &[(u64, Field<'_>)],
    n: u64,
    key: &str,
) -> Option<()> {
    if let Some(q) = bytes_field(fs, n) {
        out.insert(
            key.into(),
            json!(string_field(&fields(q)?, 1).unwrap_or_default()),
        );
    }
    Some(())
}

fn object(
    b: &[u8],
    f: impl Fn(&[(u64, Field<'_>)], &mut Map<String, Value>) -> Option<()>,
) -> Option<Value> {
    let fs = fields(b)?;
    let mut out = Map::new();
    f(&fs, &mut out)?;
    Some(Value::Object(out))
}

fn target(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        put_str(out, fs, 1, "type");
        put_quantity(out, fs, 2, "value")?;
        put_quantity(out, fs, 3, "averageValue")?;
        put_int(out, fs, 4, "averageUtilization");
        Some(())
    })
}

fn label_selector(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        let mut labels = Map::new();
        for entry in repeated(fs, 1) {
            let e = fields(entry)?;
            labels.insert(
                string_field(&e, 1).unwrap_or_default(),
                json!(string_field(&e, 2).unwrap_or_default()),
            );
        }
        if !labels.is_empty() {
            out.insert("matchLabels".into(), Value::Object(labels));
        }
        let exprs: Option<Vec<Value>> = repeated(fs, 2)
            .into_iter()
            .map(|e| {
                let e = fields(e)?;
                let values: Vec<String> = repeated(&e, 3).iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
                Some(json!({"key": string_field(&e, 1), "operator": string_field(&e, 2), "values": values}))
            })
            .collect();
        if let Some(exprs) = exprs.filter(|e| !e.is_empty()) {
            out.insert("matchExpressions".into(), json!(exprs));
        }
        Some(())
    })
}

/// `MetricIdentifier`: name 1, selector 2.
fn metric_identifier(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        put_str(out, fs, 1, "name");
        if let Some(s) = bytes_field(fs, 2) {
            out.insert("selector".into(), label_selector(s)?);
        }
        Some(())
    })
}

fn cross_version_ref(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        put_str(out, fs, 1, "kind");
        put_str(out, fs, 2, "name");
        put_str(out, fs, 3, "apiVersion");
        Some(())
    })
}

/// A sub-message of a metric source: field number, JSON key, decoder.
type SubField = (u64, &'static str, fn(&[u8]) -> Option<Value>);

fn metric(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        put_str(out, fs, 1, "type");
        let sources: [(u64, &str, &[SubField]); 5] = [
            (
                2,
                "object",
                &[
                    (1, "describedObject", cross_version_ref),
                    (2, "target", target),
                    (3, "metric", metric_identifier),
                ],
            ),
            (
                3,
                "pods",
                &[(1, "metric", metric_identifier), (2, "target", target)],
            ),
            (4, "resource", &[(2, "target", target)]),
            (
                5,
                "external",
                &[(1, "metric", metric_identifier), (2, "target", target)],
            ),
            (7, "containerResource", &[(2, "target", target)]),
        ];
        for (n, key, subs) in sources {
            let Some(src) = bytes_field(fs, n) else {
                continue;
            };
            let sf = fields(src)?;
            let mut m = Map::new();
            if matches!(key, "resource" | "containerResource") {
                put_str(&mut m, &sf, 1, "name");
            }
            if key == "containerResource" {
                put_str(&mut m, &sf, 3, "container");
            }
            for (sn, skey, decode) in subs {
                if let Some(sb) = bytes_field(&sf, *sn) {
                    m.insert((*skey).into(), decode(sb)?);
                }
            }
            out.insert(key.into(), Value::Object(m));
        }
        Some(())
    })
}

fn rules(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        put_str(out, fs, 1, "selectPolicy");
        let policies: Option<Vec<Value>> = repeated(fs, 2)
            .into_iter()
            .map(|p| {
                object(p, |pf, po| {
                    put_str(po, pf, 1, "type");
                    put_int(po, pf, 2, "value");
                    put_int(po, pf, 3, "periodSeconds");
                    Some(())
                })
            })
            .collect();
        if let Some(p) = policies.filter(|p| !p.is_empty()) {
            out.insert("policies".into(), json!(p));
        }
        put_int(out, fs, 3, "stabilizationWindowSeconds");
        put_quantity(out, fs, 4, "tolerance")?;
        Some(())
    })
}

fn spec(b: &[u8]) -> Option<Value> {
    object(b, |fs, out| {
        if let Some(r) = bytes_field(fs, 1) {
            out.insert("scaleTargetRef".into(), cross_version_ref(r)?);
        }
        put_int(out, fs, 2, "minReplicas");
        put_int(out, fs, 3, "maxReplicas");
        let metrics: Option<Vec<Value>> = repeated(fs, 4).into_iter().map(metric).collect();
        if let Some(m) = metrics.filter(|m| !m.is_empty()) {
            out.insert("metrics".into(), json!(m));
        }
        if let Some(bh) = bytes_field(fs, 5) {
            let bf = fields(bh)?;
            let mut m = Map::new();
            for (n, key) in [(1, "scaleUp"), (2, "scaleDown")] {
                if let Some(r) = bytes_field(&bf, n) {
                    m.insert(key.into(), rules(r)?);
                }
            }
            out.insert("behavior".into(), Value::Object(m));
        }
        Some(())
    })
}

pub(super) fn decode(raw: &[u8]) -> Option<Value> {
    let hpa = fields(raw)?;
    let metadata = object_meta(bytes_field(&hpa, 1).unwrap_or(&[]))?;
    let spec = spec(bytes_field(&hpa, 2).unwrap_or(&[]))?;
    Some(
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": metadata, "spec": spec}),
    )
}

#[cfg(test)]
mod tests {
    use super::super::wire::{bytes, envelope, int};
    use crate::resources::ids;
    use serde_json::json;

    #[test]
    fn decodes_what_kubectl_autoscale_sends() {
        let meta = [bytes(1, b"web"), bytes(3, b"default")].concat();
        let target_ref = [
            bytes(1, b"Deployment"),
            bytes(2, b"web"),
            bytes(3, b"apps/v1"),
        ]
        .concat();
        let target = [bytes(1, b"Utilization"), int(4, 50)].concat();
        let resource = [bytes(1, b"cpu"), bytes(2, &target)].concat();
        let metric = [bytes(1, b"Resource"), bytes(4, &resource)].concat();
        let policy = [bytes(1, b"Pods"), int(2, 2), int(3, 60)].concat();
        let down = [bytes(1, b"Min"), bytes(2, &policy), int(3, 120)].concat();
        let spec = [
            bytes(1, &target_ref),
            int(2, 2),
            int(3, 10),
            bytes(4, &metric),
            bytes(5, &bytes(2, &down)),
        ]
        .concat();
        let hpa = [bytes(1, &meta), bytes(2, &spec)].concat();
        let v = super::super::decode(ids::HPAS, &envelope(&hpa)).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                    "minReplicas": 2, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                    "behavior": {"scaleDown": {"selectPolicy": "Min", "stabilizationWindowSeconds": 120,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}}})
        );
        let quantity = bytes(1, b"500m");
        let avg = [bytes(1, b"AverageValue"), bytes(3, &quantity)].concat();
        let ident = bytes(1, b"rps");
        let pods = [bytes(1, &ident), bytes(2, &avg)].concat();
        let metric = [bytes(1, b"Pods"), bytes(3, &pods)].concat();
        let hpa = [
            bytes(1, &bytes(1, b"p")),
            bytes(2, &[int(3, 3), bytes(4, &metric)].concat()),
        ]
        .concat();
        let v = super::super::decode(ids::HPAS, &envelope(&hpa)).unwrap();
        assert_eq!(
            v["spec"]["metrics"][0],
            json!({"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "500m"}}})
        );
        assert!(
            super::super::decode(ids::PODS, &envelope(&hpa)).is_none(),
            "other kinds are not decoded"
        );
    }
}
