//! The request log: every request the API server answered, for tests to assert on.

use jiff::Timestamp;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub status: u16,
    pub is_watch: bool,
    /// Sim time the request arrived.
    pub at: Timestamp,
    /// The client's `User-Agent` header.
    pub user_agent: Option<String>,
    /// A write to a Deployment (or its `scale`) that changed its `spec.replicas`: from, to.
    pub replicas_changed: Option<(i64, i64)>,
}

/// One change of a Deployment's `spec.replicas`, by a client or by the HPA controller.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaWrite {
    pub at: Timestamp,
    /// `horizontal-pod-autoscaler`, or the client's `fieldManager`, else its `User-Agent`.
    pub writer: String,
    pub from: i64,
    pub to: i64,
}

impl RequestRecord {
    /// The decoded value of one query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        crate::server::query::parse(&self.query)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}
