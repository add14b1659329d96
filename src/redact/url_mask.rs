//! URLs that are credentials themselves — a webhook's `?token=`, a Slack webhook's secret path,
//! `user:password@` — shown only as scheme, host and port with the rest masked.

use url::Url;

/// `https://hooks.slack.com/…`: scheme, host and port kept; userinfo dropped; a path, query or
/// fragment replaced by `…`. Text that is not a URL shows as `[REDACTED]`.
pub fn mask_url(text: &str) -> String {
    let Ok(url) = Url::parse(text.trim()) else {
        return super::REDACTED.to_string();
    };
    let Some(host) = url.host_str() else {
        return format!("{}:…", url.scheme());
    };
    let mut out = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let has_rest = (url.path() != "/" && !url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some();
    if has_rest {
        out.push_str("/…");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 item 3: preflight printed `*WEBHOOK*` URLs verbatim.
    #[test]
    fn webhook_urls_keep_scheme_and_host_only() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX",
                "https://hooks.slack.com/…",
            ),
            (
                "http://user:hunter2@hooks.internal:8080/in?token=abc",
                "http://hooks.internal:8080/…",
            ),
            ("https://example.com/", "https://example.com"),
            ("https://example.com?token=t", "https://example.com/…"),
            ("not a url token=abc", "[REDACTED]"),
        ] {
            assert_eq!(mask_url(url), shown, "{url}");
        }
    }
}
