//! YAML in and out, through serde-saphyr into `serde_json::Value`.

use serde_json::Value;

/// Parses a multi-document YAML stream, skipping empty documents.
pub(crate) fn parse_multi(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

pub(crate) fn parse_one(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{')
        && let Ok(v) = serde_json::from_str(text)
    {
        return Ok(v);
    }
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_doc() {
        let docs = parse_multi("a: 1\n---\n---\nb: [foo, bar]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["b"][1], "bar");
    }
}
