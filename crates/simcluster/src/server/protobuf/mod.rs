//! Just enough of Kubernetes' protobuf encoding to read the bodies kubectl sends as
//! `application/vnd.kubernetes.protobuf`: the SelfSubjectAccessReview of `kubectl auth
//! can-i` and the autoscaling/v2 HorizontalPodAutoscaler of `kubectl autoscale`. Answers go
//! back as JSON, which kubectl also accepts; other protobuf bodies get 415.

mod hpa;
mod ssar;

use serde_json::{Map, Value, json};

use crate::resources::{ResId, ids};

/// The envelope's magic prefix.
const MAGIC: &[u8] = b"k8s\x00";

pub(super) enum Field<'a> {
    Varint(u64),
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

/// The top-level fields of one message, in order; `None` on malformed input.
pub(super) fn fields(b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(b, &mut i)?))),
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

pub(super) fn bytes_field<'a>(fs: &[(u64, Field<'a>)], n: u64) -> Option<&'a [u8]> {
    fs.iter().find_map(|(num, f)| match f {
        Field::Bytes(b) if *num == n => Some(*b),
        _ => None,
    })
}

/// Every occurrence of a repeated message or string field.
pub(super) fn repeated<'a>(fs: &[(u64, Field<'a>)], n: u64) -> Vec<&'a [u8]> {
    fs.iter()
        .filter_map(|(num, f)| match f {
            Field::Bytes(b) if *num == n => Some(*b),
            _ => None,
        })
        .collect()
}

pub(super) fn string_field(fs: &[(u64, Field<'_>)], n: u64) -> Option<String> {
    bytes_field(fs, n).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// An int32 field (negative values are sign-extended to ten bytes on the wire).
pub(super) fn int_field(fs: &[(u64, Field<'_>)], n: u64) -> Option<i64> {
    fs.iter().find_map(|(num, f)| match f {
        Field::Varint(v) if *num == n => Some(i64::from(*v as i64 as i32)),
        _ => None,
    })
}

/// A `map<string, string>`: repeated entries with key 1 and value 2.
fn string_map(fs: &[(u64, Field<'_>)], n: u64) -> Option<Value> {
    let mut m = Map::new();
    for entry in repeated(fs, n) {
        let e = fields(entry)?;
        m.insert(
            string_field(&e, 1).unwrap_or_default(),
            json!(string_field(&e, 2).unwrap_or_default()),
        );
    }
    Some(Value::Object(m))
}

/// The ObjectMeta fields a client sets on create or update.
pub(super) fn object_meta(b: &[u8]) -> Option<Value> {
    let f = fields(b)?;
    let mut m = Map::new();
    for (n, key) in [
        (1, "name"),
        (2, "generateName"),
        (3, "namespace"),
        (6, "resourceVersion"),
    ] {
        if let Some(v) = string_field(&f, n).filter(|v| !v.is_empty()) {
            m.insert(key.into(), json!(v));
        }
    }
    for (n, key) in [(11, "labels"), (12, "annotations")] {
        if let Some(v) = string_map(&f, n).filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        {
            m.insert(key.into(), v);
        }
    }
    Some(Value::Object(m))
}

/// Decodes a protobuf body for `res` into its JSON form; `None` when it is malformed or of a
/// kind this decoder does not know.
pub(crate) fn decode(res: ResId, body: &[u8]) -> Option<Value> {
    let unknown = fields(body.strip_prefix(MAGIC)?)?;
    let raw = bytes_field(&unknown, 2)?;
    match res {
        ids::SSAR => ssar::decode(raw),
        ids::HPAS => hpa::decode(raw),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod wire {
    //! Encoding helpers for the tests: length-delimited fields and varints.

    pub(crate) fn bytes(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = varint((n << 3) | 2);
        out.extend(varint(b.len() as u64));
        out.extend_from_slice(b);
        out
    }

    pub(crate) fn int(n: u64, v: u64) -> Vec<u8> {
        let mut out = varint(n << 3);
        out.extend(varint(v));
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    pub(crate) fn envelope(raw: &[u8]) -> Vec<u8> {
        let mut body = super::MAGIC.to_vec();
        body.extend(bytes(1, b""));
        body.extend(bytes(2, raw));
        body
    }
}
