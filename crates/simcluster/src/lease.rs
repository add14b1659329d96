//! `coordination.k8s.io/v1` Leases as the apiserver stores them: `acquireTime` and
//! `renewTime` are `MicroTime`s, re-encoded with six fractional digits in UTC whatever
//! precision or offset the client sent (what client-go's leader election reads back), and
//! the spec is validated like `ValidateLeaseSpec`.

use serde_json::{Value, json};

use crate::clock::{parse_time, rfc3339_micro};
use crate::error::ApiError;
use crate::meta;
use crate::resources::{def, ids};

const MICRO_TIMES: [&str; 2] = ["acquireTime", "renewTime"];

/// Rewrites parseable MicroTimes in their canonical form; unparseable ones are left for
/// [`validate`] to reject.
pub(crate) fn normalize(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for key in MICRO_TIMES {
        let parsed = spec.get(key).and_then(Value::as_str).and_then(parse_time);
        if let Some(t) = parsed {
            spec.insert(key.into(), json!(rfc3339_micro(t)));
        }
    }
}

pub(crate) fn validate(obj: &Value) -> Result<(), ApiError> {
    let name = meta::name(obj);
    for key in MICRO_TIMES {
        match obj.pointer(&format!("/spec/{key}")) {
            None => {}
            Some(Value::String(s)) if parse_time(s).is_some() => {}
            Some(other) => {
                // A typed decode fails before validation runs: the apiserver answers 400.
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), String::from);
                return Err(ApiError::bad_request(format!(
                    "Lease in version \"v1\" cannot be handled as a Lease: parsing time {shown:?} as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse {shown:?} as \"2006\""
                )));
            }
        }
    }
    let int = |key: &str| obj.pointer(&format!("/spec/{key}")).and_then(Value::as_i64);
    if let Some(d) = int("leaseDurationSeconds").filter(|d| *d <= 0) {
        return Err(ApiError::invalid(
            def(ids::LEASES),
            name,
            format!("spec.leaseDurationSeconds: Invalid value: {d}: must be greater than 0"),
        ));
    }
    if let Some(t) = int("leaseTransitions").filter(|t| *t < 0) {
        return Err(ApiError::invalid(
            def(ids::LEASES),
            name,
            format!(
                "spec.leaseTransitions: Invalid value: {t}: must be greater than or equal to 0"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_times_are_canonical() {
        let mut l = json!({"spec": {"holderIdentity": "a", "acquireTime": "2024-01-01T10:00:00Z",
            "renewTime": "2024-01-01T12:00:01.123456789+02:00"}});
        normalize(&mut l);
        assert_eq!(l["spec"]["acquireTime"], "2024-01-01T10:00:00.000000Z");
        assert_eq!(l["spec"]["renewTime"], "2024-01-01T10:00:01.123456Z");
        assert!(validate(&l).is_ok());
    }

    #[test]
    fn invalid_specs_are_refused() {
        let bad_time = json!({"metadata": {"name": "l"}, "spec": {"renewTime": "yesterday"}});
        assert_eq!(validate(&bad_time).map_err(|e| e.code), Err(400));
        let zero = json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}});
        let e = validate(&zero).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(
            e.message.contains("must be greater than 0"),
            "{}",
            e.message
        );
        let negative = json!({"metadata": {"name": "l"}, "spec": {"leaseTransitions": -1}});
        assert_eq!(validate(&negative).map_err(|e| e.code), Err(422));
    }
}
