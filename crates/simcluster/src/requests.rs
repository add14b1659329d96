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
