//! Kubernetes label selectors (`matchLabels` and `matchExpressions`), to relate PDBs and Services
//! to a Deployment's pods without asking the API server once per object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects `labels`. An empty selector selects everything, as in the API;
/// an operator we do not know selects nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// A Service's plain map selector; an empty or absent one selects no pods (the API's rule for Services).
pub fn service_matches(
    selector: Option<&BTreeMap<String, String>>,
    labels: &BTreeMap<String, String>,
) -> bool {
    match selector {
        Some(selector) if !selector.is_empty() => {
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let pod = labels(&[("app", "web"), ("track", "stable")]);
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "track".into(),
                operator: "In".into(),
                values: Some(vec!["stable".into(), "canary".into()]),
            }]),
        };
        assert!(matches(&selector, &pod));
        assert!(!matches(
            &selector,
            &labels(&[("app", "web"), ("track", "x")])
        ));
        assert!(!matches(&selector, &labels(&[("app", "api")])));
        assert!(matches(&LabelSelector::default(), &pod));
        let not_exists = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "track".into(),
                operator: "DoesNotExist".into(),
                values: None,
            }]),
            ..LabelSelector::default()
        };
        assert!(!matches(&not_exists, &pod));
    }

    #[test]
    fn services_need_a_selector() {
        let pod = labels(&[("app", "web")]);
        assert!(service_matches(Some(&labels(&[("app", "web")])), &pod));
        assert!(!service_matches(Some(&BTreeMap::new()), &pod));
        assert!(!service_matches(None, &pod));
    }
}
