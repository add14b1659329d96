//! The `scale` subresource (an autoscaling/v1 Scale view of `spec.replicas`) and pod `log`.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Req, json_response, stream_body};
use crate::clock::parse_time;
use crate::error::ApiError;
use crate::logs::{self, LogQuery};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::{ResId, def, ids};
use crate::selector::LabelSelector;
use crate::state::Shared;
use crate::store::UpdateMode;

fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_object(s).ok())
        .map(|s| s.to_query())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta::name(obj),
            "namespace": meta::namespace(obj),
            "uid": meta::uid(obj),
            "resourceVersion": meta::resource_version(obj),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"replicas": meta::i64_at(obj, &["spec", "replicas"]).unwrap_or(1)},
        "status": {"replicas": meta::i64_at(obj, &["status", "replicas"]).unwrap_or(0), "selector": selector},
    })
}

pub(crate) fn scale(
    shared: &Arc<Shared>,
    res: ResId,
    ns: &str,
    name: &str,
    req: &Req,
) -> Result<Response, ApiError> {
    let current = shared.get_obj(res, ns, name)?;
    let method = req.method.as_str();
    let wanted = match method {
        "GET" => return Ok(json_response(200, &scale_of(&current))),
        "PUT" => serde_json::from_slice::<Value>(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?,
        "PATCH" => {
            let pt = PatchType::from_content_type(&req.content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&req.content_type))?;
            let doc = patch::parse_body(pt, &req.body)?;
            patch::apply(pt, &scale_of(&current), &doc)?
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                def(res),
                name,
                "spec.replicas: Invalid value: must be greater than or equal to 0",
            )
        })?;
    let mut obj = current;
    obj["spec"]["replicas"] = json!(replicas);
    // A resourceVersion in the Scale is a precondition on the scaled object.
    match wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv) if !rv.is_empty() => obj["metadata"]["resourceVersion"] = json!(rv),
        _ => {}
    }
    let updated = shared.update_obj(
        res,
        Some(ns).filter(|n| !n.is_empty()),
        name,
        obj,
        UpdateMode::Main,
    )?;
    Ok(json_response(200, &scale_of(&updated)))
}

pub(crate) fn log(
    shared: &Arc<Shared>,
    ns: &str,
    name: &str,
    req: &Req,
) -> Result<Response, ApiError> {
    let pod = shared.get_obj(ids::PODS, ns, name)?;
    let p = &req.params;
    let since_time = match p.get("sinceTime") {
        Some(s) => Some(
            parse_time(s)
                .ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime {s:?}")))?,
        ),
        None => None,
    };
    let q = LogQuery {
        container: p
            .get("container")
            .filter(|c| !c.is_empty())
            .map(String::from),
        previous: p.flag("previous"),
        since_seconds: p.num("sinceSeconds").map(|s| s as f64),
        since_time,
        tail_lines: p.num("tailLines").filter(|t| *t >= 0).map(|t| t as u64),
        timestamps: p.flag("timestamps"),
        limit_bytes: p.num("limitBytes").filter(|b| *b > 0).map(|b| b as u64),
    };
    let plan = logs::plan(shared, &pod, &q)?;
    let mut r = (StatusCode::OK, stream_body(plan)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}
