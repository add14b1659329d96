//! Errors: `SimError` for the Rust API, and `ApiError`, which the HTTP layer renders as a
//! Kubernetes `Status` object with the reason and code kubectl prints.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// What can go wrong when driving the simulator from Rust.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("failed to bind the API server: {0}")]
    Bind(#[source] std::io::Error),
    #[error("failed to parse YAML: {0}")]
    Yaml(String),
    #[error("unknown resource {api_version}/{kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("invalid label selector: {0}")]
    Selector(String),
    #[error("{reason} ({code}): {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
}

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> Self {
        SimError::Api {
            code: e.code,
            reason: e.reason.to_string(),
            message: e.message,
        }
    }
}

/// An error the API server answers with; rendered as a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, res: &ResourceDef, name: &str) -> Self {
        let mut d = json!({ "name": name, "kind": res.plural });
        if !res.group.is_empty() {
            d["group"] = json!(res.group);
        }
        self.details = Some(d);
        self
    }

    pub(crate) fn not_found(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", res.qualified(), name),
        )
        .with_details(res, name)
    }

    pub(crate) fn already_exists(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", res.qualified(), name),
        )
        .with_details(res, name)
    }

    pub(crate) fn conflict(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                res.qualified(),
                name
            ),
        )
        .with_details(res, name)
    }

    /// `errors.NewInvalid`: `why` is `field: Invalid value: …`; the details carry the kind
    /// and one cause per field, which is what kubectl prints (`The Lease "x" is invalid:
    /// spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0`).
    pub(crate) fn invalid(res: &ResourceDef, name: &str, why: impl std::fmt::Display) -> Self {
        let why = why.to_string();
        let qualified = if res.group.is_empty() {
            res.kind.to_string()
        } else {
            format!("{}.{}", res.kind, res.group)
        };
        let (field, detail) = why.split_once(": ").unwrap_or(("", why.as_str()));
        let reason = if detail.starts_with("Required value") {
            "FieldValueRequired"
        } else if detail.starts_with("Unsupported value") {
            "FieldValueNotSupported"
        } else {
            "FieldValueInvalid"
        };
        let mut details = json!({"name": name, "kind": res.kind,
            "causes": [{"reason": reason, "message": detail, "field": field}]});
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {why}"),
        );
        e.details = Some(details);
        e
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub(crate) fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub(crate) fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    pub(crate) fn injected(code: u16, retry_after: Option<u32>) -> Self {
        let (reason, message) = match code {
            429 => (
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted",
            ),
            _ => (
                "InternalError",
                "an error on the server (\"injected fault\") has prevented the request from succeeding",
            ),
        };
        let mut e = Self::new(code, reason, message);
        e.retry_after = retry_after;
        if let Some(secs) = retry_after {
            e.details = Some(json!({ "retryAfterSeconds": secs }));
        }
        e
    }

    /// The `Status` object kubectl and kube-rs decode.
    pub(crate) fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}
