//! The stand-in's GraphQL endpoint (`POST /graphql`, `/api/graphql` on GHES): `viewer { login }`
//! answers for every kind of token (the documented way to learn an App installation token's own
//! login), and `minimizeComment(input: {subjectId, classifier})` hides a comment. Errors come back
//! as GitHub sends them: HTTP 200 with an `errors` list.

use serde_json::{Value, json};

use super::{Caller, Seen, State, json as respond};
use axum::response::Response;

/// What a GraphQL request does, for [`super::GithubStandIn::writes`].
pub enum Operation {
    Query,
    Mutation(String),
}

/// `None` when the request is not a GraphQL call.
pub fn operation(seen: &Seen) -> Option<Operation> {
    let path = seen.path.strip_prefix("/api/v3").unwrap_or(&seen.path);
    if seen.method != "POST" || (path != "/graphql" && path != "/api/graphql") {
        return None;
    }
    let query = request(seen).0;
    let trimmed = query.trim_start();
    if !trimmed.starts_with("mutation") {
        return Some(Operation::Query);
    }
    let name = ["minimizeComment", "unminimizeComment"]
        .into_iter()
        .find(|n| query.contains(n))
        .unwrap_or("unknown");
    Some(Operation::Mutation(name.to_string()))
}

fn request(seen: &Seen) -> (String, Value) {
    let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
    (
        body["query"].as_str().unwrap_or_default().to_string(),
        body["variables"].clone(),
    )
}

fn errors(kind: &str, message: &str) -> Response {
    respond(
        200,
        json!({"data": null, "errors": [{"type": kind, "message": message}]}).to_string(),
    )
}

pub fn answer(state: &mut State, seen: &Seen, caller: &Caller) -> Response {
    let (query, variables) = request(seen);
    if query.trim().is_empty() {
        return respond(
            400,
            r#"{"message":"Problems parsing JSON","documentation_url":"https://docs.github.com/graphql"}"#
                .to_string(),
        );
    }
    if query.contains("minimizeComment") {
        return minimize(state, &query, &variables, caller);
    }
    if query.contains("viewer") {
        return respond(
            200,
            json!({"data": {"viewer": {"login": caller.login()}}}).to_string(),
        );
    }
    errors(
        "INVALID",
        "the stand-in answers viewer and minimizeComment only",
    )
}

/// A variable or an inline argument: `$subjectId` / `subjectId: "…"`.
fn argument(query: &str, variables: &Value, names: &[&str]) -> Option<String> {
    for name in names {
        if let Some(value) = variables[name].as_str() {
            return Some(value.to_string());
        }
        let pattern = format!(r#"{name}:\s*"?([A-Za-z0-9_=-]+)"?"#);
        if let Some(found) = regex::Regex::new(&pattern)
            .ok()
            .and_then(|re| re.captures(query))
            .filter(|c| !c[1].starts_with('$'))
        {
            return Some(found[1].to_string());
        }
    }
    None
}

fn minimize(state: &mut State, query: &str, variables: &Value, caller: &Caller) -> Response {
    let (Some(subject), Some(classifier)) = (
        argument(query, variables, &["subjectId", "id"]),
        argument(query, variables, &["classifier"]),
    ) else {
        return errors(
            "INVALID",
            "minimizeComment needs input.subjectId and input.classifier",
        );
    };
    const CLASSIFIERS: [&str; 6] = [
        "SPAM",
        "ABUSE",
        "OFF_TOPIC",
        "OUTDATED",
        "DUPLICATE",
        "RESOLVED",
    ];
    if !CLASSIFIERS.contains(&classifier.as_str()) {
        return errors(
            "INVALID",
            &format!("Argument 'classifier' has an invalid value ({classifier})."),
        );
    }
    if caller.read_only() {
        return errors("FORBIDDEN", "Resource not accessible by integration");
    }
    let Some(comment) = state
        .comments
        .iter_mut()
        .find(|c| format!("IC_standin{}", c.id) == subject)
    else {
        return errors(
            "NOT_FOUND",
            &format!("Could not resolve to a node with the global id of '{subject}'"),
        );
    };
    if comment.author != caller.login() {
        return errors(
            "FORBIDDEN",
            &format!(
                "{} does not have the correct permissions to execute `MinimizeComment`",
                caller.login()
            ),
        );
    }
    comment.minimized = Some(classifier.clone());
    respond(
        200,
        json!({"data": {"minimizeComment": {"minimizedComment": {
            "isMinimized": true, "minimizedReason": classifier.to_ascii_lowercase()
        }}}})
        .to_string(),
    )
}
