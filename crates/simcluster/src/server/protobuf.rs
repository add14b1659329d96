//! Just enough of Kubernetes' protobuf encoding to read the SelfSubjectAccessReview that
//! `kubectl auth can-i` sends as `application/vnd.kubernetes.protobuf` (the answer goes back
//! as JSON, which kubectl also accepts). Other protobuf bodies get 415.

use serde_json::{Map, Value, json};

/// The envelope's magic prefix.
const MAGIC: &[u8] = b"k8s\x00";

enum Field<'a> {
    /// Varints are skipped: the fields read here are all strings.
    Varint,
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The top-level fields of one message; `None` on malformed input.
fn fields(b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(b, &mut i)?;
                out.push((num, Field::Varint));
            }
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).ok()?;
                let end = i.checked_add(len).filter(|e| *e <= b.len())?;
                out.push((num, Field::Bytes(&b[i..end])));
                i = end;
            }
            1 => i = i.checked_add(8).filter(|e| *e <= b.len())?,
            5 => i = i.checked_add(4).filter(|e| *e <= b.len())?,
            _ => return None,
        }
    }
    Some(out)
}

fn bytes_field<'a>(fs: &[(u64, Field<'a>)], n: u64) -> Option<&'a [u8]> {
    fs.iter().find_map(|(num, f)| match f {
        Field::Bytes(b) if *num == n => Some(*b),
        _ => None,
    })
}

fn string_field(fs: &[(u64, Field<'_>)], n: u64) -> Option<String> {
    bytes_field(fs, n).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Decodes a protobuf SelfSubjectAccessReview into its JSON form.
pub(crate) fn decode_ssar(body: &[u8]) -> Option<Value> {
    let unknown = fields(body.strip_prefix(MAGIC)?)?;
    let raw = bytes_field(&unknown, 2)?;
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
    use super::*;

    fn msg(fields: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, b) in fields {
            out.push(((n << 3) | 2) as u8);
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
        out
    }

    #[test]
    fn decodes_resource_attributes() {
        let ra = msg(&[
            (1, b"default"),
            (2, b"patch"),
            (3, b"apps"),
            (5, b"deployments"),
        ]);
        let spec = msg(&[(1, &ra)]);
        let review = msg(&[(1, b""), (2, &spec)]);
        let unknown = msg(&[(1, b""), (2, &review)]);
        let mut body = MAGIC.to_vec();
        body.extend(unknown);
        let v = decode_ssar(&body).unwrap();
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "patch", "group": "apps", "resource": "deployments"})
        );
        assert!(decode_ssar(b"k8s\x00\xff").is_none());
        assert!(decode_ssar(b"{}").is_none());
    }
}
