//! The verbs on collections and objects: get, list (selectors, pagination, Tables), create,
//! update, patch, delete (with propagation) and deletecollection.

use std::sync::Arc;

use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::{Req, json_response};
use crate::error::ApiError;
use crate::meta;
use crate::ops::Propagation;
use crate::patch::PatchType;
use crate::resources::{ResId, def};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::store::UpdateMode;
use crate::table;

type Answer = Result<Response, ApiError>;

fn body_json(res: ResId, req: &Req) -> Result<Value, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if req
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        // kubectl's typed commands (`autoscale`, `auth can-i`, `create configmap`, …) send
        // protobuf; only the kinds the decoder knows are accepted.
        return super::protobuf::decode(res, &req.body).ok_or_else(|| {
            ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {:?}; simcluster reads protobuf only for SelfSubjectAccessReviews and HorizontalPodAutoscalers)",
                    req.content_type
                ),
            )
        });
    }
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    if req.content_type.contains("yaml") {
        return crate::yaml::parse_one(text).map_err(ApiError::bad_request);
    }
    serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding the request body: {e}")))
}

fn respond(shared: &Shared, res: ResId, code: u16, obj: &Value, req: &Req) -> Response {
    if table::wants_table(&req.accept) {
        let include = req.params.get("includeObject").unwrap_or("Metadata");
        let t = table::table(
            def(res),
            &[obj],
            json!({"resourceVersion": meta::resource_version(obj)}),
            include,
            shared.now(),
        );
        return json_response(code, &t);
    }
    json_response(code, obj)
}

pub(crate) fn get(shared: &Arc<Shared>, res: ResId, ns: &str, name: &str, req: &Req) -> Answer {
    let obj = shared.get_obj(res, ns, name)?;
    Ok(respond(shared, res, 200, &obj, req))
}

/// Selectors from the query string; a malformed one is a 400, as from the apiserver.
pub(crate) fn selectors(req: &Req) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(req.params.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(req.params.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((labels, fields))
}

fn continue_token(rv: u64, ns: &str, name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"rv": rv, "start": format!("{ns}/{name}")}).to_string())
}

fn parse_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

pub(crate) fn list(shared: &Arc<Shared>, res: ResId, ns: Option<&str>, req: &Req) -> Answer {
    let (labels, fields) = selectors(req)?;
    let (rv, all) = {
        let store = shared.store();
        let items = match (fields.exact_name(), ns) {
            // A single-object list (what `kubectl rollout status` asks for) needs no scan.
            (Some(name), Some(ns)) => store.get(res, ns, name).into_iter().collect(),
            (Some(name), None) if !def(res).namespaced => {
                store.get(res, "", name).into_iter().collect()
            }
            _ => store.list(res, ns),
        };
        (store.rv(), items)
    };
    // Items stay shared with the store; they are serialised, never deep-copied.
    let mut items: Vec<&Value> = all
        .iter()
        .map(|o| &**o)
        .filter(|o| labels.matches(meta::labels(o)) && fields.matches(o))
        .collect();
    if let Some(token) = req.params.get("continue").filter(|t| !t.is_empty()) {
        let (cns, cname) = parse_continue(token)?;
        items.retain(|o| (meta::namespace(o), meta::name(o)) > (cns.as_str(), cname.as_str()));
    }
    let mut list_meta = json!({"resourceVersion": rv.to_string()});
    if let Some(limit) = req.params.num("limit").filter(|l| *l > 0) {
        let limit = limit as usize;
        if items.len() > limit {
            let remaining = items.len() - limit;
            items.truncate(limit);
            if let Some(last) = items.last() {
                list_meta["continue"] =
                    json!(continue_token(rv, meta::namespace(last), meta::name(last)));
                list_meta["remainingItemCount"] = json!(remaining);
            }
        }
    }
    if table::wants_table(&req.accept) {
        let include = req.params.get("includeObject").unwrap_or("Metadata");
        return Ok(json_response(
            200,
            &table::table(def(res), &items, list_meta, include, shared.now()),
        ));
    }
    let d = def(res);
    let head = json!({"kind": format!("{}List", d.kind), "apiVersion": d.api_version(), "metadata": list_meta});
    let mut body = serde_json::to_vec(&head)
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    body.pop(); // the closing brace; items follow
    body.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, o)
            .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    }
    body.extend_from_slice(b"]}");
    Ok(super::bytes_response(200, body))
}

fn dry_run(req: &Req) -> bool {
    req.params.get("dryRun").is_some_and(|v| v == "All")
}

pub(crate) fn create(shared: &Arc<Shared>, res: ResId, ns: Option<&str>, req: &Req) -> Answer {
    let obj = body_json(res, req)?;
    let created = if dry_run(req) {
        shared.create_obj_dry(res, ns, obj)?
    } else {
        shared.create_obj(res, ns, obj)?
    };
    Ok(respond(shared, res, 201, &created, req))
}

pub(crate) fn update(
    shared: &Arc<Shared>,
    res: ResId,
    ns: Option<&str>,
    name: &str,
    req: &Req,
    mode: UpdateMode,
) -> Answer {
    let obj = body_json(res, req)?;
    let updated = shared.update_obj_with(res, ns, name, obj, mode, dry_run(req))?;
    Ok(respond(shared, res, 200, &updated, req))
}

pub(crate) fn patch(
    shared: &Arc<Shared>,
    res: ResId,
    ns: &str,
    name: &str,
    req: &Req,
    mode: UpdateMode,
) -> Answer {
    let pt = PatchType::from_content_type(&req.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&req.content_type))?;
    if pt == PatchType::Apply && req.params.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let existed = shared.store().get(res, ns, name).is_some();
    let write = crate::ops::Write {
        mode,
        dry_run: dry_run(req),
    };
    let out = shared.patch_obj(res, ns, name, pt, &req.body, write)?;
    let code = if existed { 200 } else { 201 };
    Ok(respond(shared, res, code, &out, req))
}

fn propagation(req: &Req) -> Result<Propagation, ApiError> {
    if let Some(p) = req.params.get("propagationPolicy") {
        return Propagation::parse(p);
    }
    if !req.body.is_empty()
        && let Ok(opts) = serde_json::from_slice::<Value>(&req.body)
    {
        if let Some(p) = opts.get("propagationPolicy").and_then(Value::as_str) {
            return Propagation::parse(p);
        }
        if opts.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            return Ok(Propagation::Orphan);
        }
    }
    Ok(Propagation::Background)
}

fn success_status(res: ResId, obj: &Value) -> Value {
    let d = def(res);
    let mut details = json!({"name": meta::name(obj), "kind": d.plural, "uid": meta::uid(obj)});
    if !d.group.is_empty() {
        details["group"] = json!(d.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub(crate) fn delete(shared: &Arc<Shared>, res: ResId, ns: &str, name: &str, req: &Req) -> Answer {
    let prop = propagation(req)?;
    if dry_run(req) {
        let obj = shared.get_obj(res, ns, name)?;
        return Ok(json_response(200, &success_status(res, &obj)));
    }
    let obj = shared.delete_obj_with(res, ns, name, prop, grace_period(req))?;
    // A gracefully deleted pod still exists: the apiserver answers with the object.
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(json_response(200, &obj));
    }
    Ok(json_response(200, &success_status(res, &obj)))
}

/// `gracePeriodSeconds` from the query or the DeleteOptions body (0 means now).
fn grace_period(req: &Req) -> Option<i64> {
    if let Some(g) = req.params.num("gracePeriodSeconds") {
        return Some(g);
    }
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|o| o.get("gracePeriodSeconds").and_then(Value::as_i64))
}

pub(crate) fn delete_collection(
    shared: &Arc<Shared>,
    res: ResId,
    ns: Option<&str>,
    req: &Req,
) -> Answer {
    let (labels, fields) = selectors(req)?;
    let prop = propagation(req)?;
    let doomed: Vec<Value> = shared
        .store()
        .list(res, ns)
        .iter()
        .filter(|o| labels.matches(meta::labels(o)) && fields.matches(o))
        .map(|o| (**o).clone())
        .collect();
    let mut items = Vec::new();
    for o in doomed {
        if let Ok(d) = shared.delete_obj(res, meta::namespace(&o), meta::name(&o), prop) {
            items.push(d);
        }
    }
    let d = def(res);
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", d.kind), "apiVersion": d.api_version(), "metadata": {"resourceVersion": shared.store().rv().to_string()}, "items": items}),
    ))
}
