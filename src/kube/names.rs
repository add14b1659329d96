//! Kubernetes name rules, as the API server validates them.

/// Kubernetes object names: lowercase alphanumerics, '-' and '.', at most 253 characters,
/// starting and ending with an alphanumeric.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}
