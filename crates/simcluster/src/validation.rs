//! The apiserver validation clients trip over in practice: a workload's selector must be
//! present and match its template's labels, replica counts cannot be negative; Lease and
//! HPA specs are checked by their own modules.

use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::resources::{ResId, def, ids};
use crate::selector::LabelSelector;

pub(crate) fn validate(res: ResId, obj: &Value) -> Result<(), ApiError> {
    match res {
        ids::LEASES => return crate::lease::validate(obj),
        ids::HPAS => return crate::controllers::hpa::spec::validate(obj),
        ids::DEPLOYMENTS | ids::REPLICASETS => {}
        _ => return Ok(()),
    }
    let d = def(res);
    let name = meta::name(obj);
    if meta::i64_at(obj, &["spec", "replicas"]).is_some_and(|r| r < 0) {
        return Err(ApiError::invalid(
            d,
            name,
            "spec.replicas: Invalid value: must be greater than or equal to 0",
        ));
    }
    let Some(sel) = obj.pointer("/spec/selector") else {
        return Err(ApiError::invalid(d, name, "spec.selector: Required value"));
    };
    let selector = LabelSelector::from_object(sel)
        .map_err(|e| ApiError::invalid(d, name, format!("spec.selector: {e}")))?;
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if selector.0.is_empty() {
        return Err(ApiError::invalid(
            d,
            name,
            "spec.selector: Invalid value: empty selector is invalid for deployment",
        ));
    }
    if !selector.matches(&labels) {
        return Err(ApiError::invalid(
            d,
            name,
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
        ));
    }
    Ok(())
}

/// apps/v1 workload selectors are immutable.
pub(crate) fn validate_update(res: ResId, old: &Value, new: &Value) -> Result<(), ApiError> {
    if (res == ids::DEPLOYMENTS || res == ids::REPLICASETS)
        && old.pointer("/spec/selector") != new.pointer("/spec/selector")
    {
        let sel = new
            .pointer("/spec/selector")
            .map(Value::to_string)
            .unwrap_or_default();
        return Err(ApiError::invalid(
            def(res),
            meta::name(new),
            format!("spec.selector: Invalid value: {sel}: field is immutable"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_must_match_template() {
        let ok = json!({"metadata": {"name": "w"}, "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w", "x": "y"}}}}});
        assert!(validate(ids::DEPLOYMENTS, &ok).is_ok());
        let mut bad = ok.clone();
        bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        assert_eq!(validate(ids::DEPLOYMENTS, &bad).unwrap_err().code, 422);
        let mut neg = ok.clone();
        neg["spec"]["replicas"] = json!(-1);
        assert_eq!(
            validate(ids::DEPLOYMENTS, &neg).unwrap_err().reason,
            "Invalid"
        );
        assert!(validate(ids::DEPLOYMENTS, &json!({"spec": {}})).is_err());
        let mut moved = ok.clone();
        moved["spec"]["selector"] = json!({"matchLabels": {"x": "y"}});
        assert!(validate_update(ids::DEPLOYMENTS, &ok, &moved).is_err());
        assert!(validate_update(ids::DEPLOYMENTS, &ok, &ok).is_ok());
    }
}
