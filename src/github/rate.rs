//! What GitHub's answers say about waiting and paging, as pure functions: how long a 403/429
//! asks to wait (`retry-after`, `x-ratelimit-reset`, or GitHub's "wait a minute" for unnamed
//! secondary limits), and the `rel="next"` page of a `Link` header.

use std::time::Duration;

/// GitHub's advice when a rate limit names no time: wait at least a minute.
const UNNAMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The headers and message that decide what a 403/429 means.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    pub retry_after: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<i64>,
}

/// How long a 403/429 asks us to wait, or `None` when it is not a rate limit (a permission error).
/// `exact` says GitHub named the time; a guessed wait may be shortened to fit the budget, an exact
/// one may not (retrying early only earns another refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWait {
    pub wait: Duration,
    pub exact: bool,
}

pub fn rate_limit_wait(
    status: u16,
    headers: &RateHeaders,
    message: &str,
    now_epoch: i64,
) -> Option<RateWait> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = headers.retry_after {
        return Some(RateWait {
            wait: Duration::from_secs(secs),
            exact: true,
        });
    }
    if let (Some(0), Some(reset)) = (headers.remaining, headers.reset) {
        // One extra second: the window resets at the start of that second, our clock may lag.
        let secs = (reset - now_epoch).max(0) as u64 + 1;
        return Some(RateWait {
            wait: Duration::from_secs(secs),
            exact: true,
        });
    }
    let says_rate_limit = message.to_ascii_lowercase().contains("rate limit");
    if status == 429 || says_rate_limit {
        return Some(RateWait {
            wait: UNNAMED_RATE_LIMIT_WAIT,
            exact: false,
        });
    }
    None
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// octocrab sends its token only to relative paths (or api.github.com), so a `next` link from a
/// GitHub Enterprise or test server is followed by its path and query.
pub fn relative(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(
        retry_after: Option<u64>,
        remaining: Option<u64>,
        reset: Option<i64>,
    ) -> RateHeaders {
        RateHeaders {
            retry_after,
            remaining,
            reset,
        }
    }

    #[test]
    fn retry_after_is_exact() {
        let wait = rate_limit_wait(429, &headers(Some(7), None, None), "", 0).unwrap();
        assert_eq!(
            wait,
            RateWait {
                wait: Duration::from_secs(7),
                exact: true
            }
        );
        let wait = rate_limit_wait(403, &headers(Some(2), None, None), "secondary", 0).unwrap();
        assert_eq!(wait.wait, Duration::from_secs(2));
    }

    #[test]
    fn exhausted_primary_limit_waits_until_reset() {
        let wait = rate_limit_wait(
            403,
            &headers(None, Some(0), Some(1_000)),
            "API rate limit exceeded",
            990,
        );
        assert_eq!(
            wait,
            Some(RateWait {
                wait: Duration::from_secs(11),
                exact: true
            })
        );
        let past = rate_limit_wait(403, &headers(None, Some(0), Some(900)), "", 990).unwrap();
        assert_eq!(past.wait, Duration::from_secs(1));
    }

    #[test]
    fn unnamed_limits_wait_a_minute_and_permission_errors_are_not_limits() {
        let wait = rate_limit_wait(429, &headers(None, None, None), "", 0).unwrap();
        assert_eq!(
            wait,
            RateWait {
                wait: Duration::from_secs(60),
                exact: false
            }
        );
        let secondary = rate_limit_wait(
            403,
            &headers(None, Some(10), None),
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            0,
        );
        assert!(secondary.is_some());
        assert_eq!(
            rate_limit_wait(
                403,
                &headers(None, None, None),
                "Resource not accessible by integration",
                0
            ),
            None
        );
        assert_eq!(
            rate_limit_wait(502, &headers(Some(1), None, None), "", 0),
            None
        );
    }

    #[test]
    fn link_header_next() {
        let link = r#"<https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=5>; rel="last""#;
        let next = next_link(link).unwrap();
        assert!(next.ends_with("page=2"), "{next}");
        assert_eq!(
            relative(&next),
            "/repositories/1/issues/2/comments?per_page=100&page=2"
        );
        let last_page = r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=1>; rel="first""#;
        assert_eq!(next_link(last_page), None);
    }
}
