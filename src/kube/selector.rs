//! Label selectors as query strings, written the way `kubectl -l` writes them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// `matchLabels` and `matchExpressions` as a `labelSelector` query: `a=b,c in (d,e),!f`.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.clone().unwrap_or_default().join(",");
        parts.push(match expr.operator.as_str() {
            "In" => format!("{} in ({values})", expr.key),
            "NotIn" => format!("{} notin ({values})", expr.key),
            "Exists" => expr.key.clone(),
            _ => format!("!{}", expr.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings_read_like_kubectl() {
        let selector: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web", "tier": "api"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "eu"]},
                {"key": "old", "operator": "NotIn", "values": ["x"]},
                {"key": "track", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(
            selector_string(&selector),
            "app=web,tier=api,env in (prod,eu),old notin (x),track,!legacy"
        );
    }
}
