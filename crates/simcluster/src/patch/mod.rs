//! The four patch types the apiserver accepts, chosen by Content-Type: JSON patch (RFC 6902),
//! JSON merge patch (RFC 7386), strategic merge patch, and server-side apply (approximated as
//! a strategic merge of the applied configuration).

pub(crate) mod strategic;

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Parses a patch body: JSON for most types, YAML (a superset) for apply.
pub(crate) fn parse_body(pt: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the patch body is not UTF-8"))?;
    if pt == PatchType::Apply {
        return crate::yaml::parse_one(text).map_err(ApiError::bad_request);
    }
    serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies `patch` (already parsed) to `original` and returns the patched object.
pub(crate) fn apply(pt: PatchType, original: &Value, patch: &Value) -> Result<Value, ApiError> {
    match pt {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            let mut doc = original.clone();
            json_patch::patch(&mut doc, &ops.0).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            let mut doc = original.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic::merge(original, patch).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn json_and_merge_patches() {
        let o = json!({"spec": {"replicas": 1, "paused": true}});
        let j = apply(
            PatchType::Json,
            &o,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap();
        assert_eq!(j["spec"]["replicas"], 3);
        let m = apply(PatchType::Merge, &o, &json!({"spec": {"paused": null}})).unwrap();
        assert_eq!(m, json!({"spec": {"replicas": 1}}));
        let bad = apply(
            PatchType::Json,
            &o,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 9}]),
        );
        assert_eq!(bad.unwrap_err().code, 422);
    }
}
