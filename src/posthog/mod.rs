//! PostHog: key shapes and masking, live key validation, the status page, the health endpoint.
//!
//! Parsing is pure ([`keys`], [`status`], [`health`]); [`client`] does the HTTP with timeouts and
//! one bounded retry. The triage and evidence commands reuse all of it.

pub mod client;
pub mod health;
pub mod keys;
mod remote_error;
pub mod status;

pub use crate::config::posthog::{PostHogConfig, RegionName};
use url::Url;

pub use client::{PersonalKeyCheck, PersonalKeyInfo, PostHogClient, ProjectKeyCheck, RemoteError};
pub use health::{HealthReport, HealthShape, parse_health};
pub use keys::{KeyKind, KeyMatch, classify, find_keys, mask, redact};
pub use status::{StatusIncident, StatusSnapshot, StatusSource};

/// PostHog's incident.io status summary (what PostHog's own app polls).
pub const STATUS_URL: &str = "https://www.posthogstatus.com/api/v1/summary";
/// The older Atlassian Statuspage summary, used only when the first one fails.
pub const STATUS_FALLBACK_URL: &str = "https://status.posthog.com/api/v2/summary.json";

/// Where a PostHog project lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Region {
    Us,
    Eu,
    /// Self-hosted (or a reverse proxy): one base URL for ingestion and the app API.
    SelfHosted(Url),
}

/// Hosts PostHog Cloud documents (the `i.` hosts ingest, the others serve the app API).
const US_HOSTS: [&str; 4] = [
    "us.i.posthog.com",
    "us.posthog.com",
    "app.posthog.com",
    "us-assets.i.posthog.com",
];
const EU_HOSTS: [&str; 3] = [
    "eu.i.posthog.com",
    "eu.posthog.com",
    "eu-assets.i.posthog.com",
];

impl Region {
    pub fn from_name(name: RegionName) -> Region {
        match name {
            RegionName::Us => Region::Us,
            RegionName::Eu => Region::Eu,
        }
    }

    /// Reads a region from a host as written in `POSTHOG_HOST` (with or without scheme).
    /// A host PostHog Cloud does not use is self-hosted; `None` when it is not a URL at all.
    pub fn from_host(host: &str) -> Option<Region> {
        let url = parse_host_url(host)?;
        let name = url.host_str()?.to_ascii_lowercase();
        if US_HOSTS.contains(&name.as_str()) {
            Some(Region::Us)
        } else if EU_HOSTS.contains(&name.as_str()) {
            Some(Region::Eu)
        } else {
            Some(Region::SelfHosted(url))
        }
    }

    pub fn is_cloud_host(host: &str) -> bool {
        matches!(Region::from_host(host), Some(Region::Us | Region::Eu))
    }

    pub fn name(&self) -> String {
        match self {
            Region::Us => "us".to_string(),
            Region::Eu => "eu".to_string(),
            Region::SelfHosted(url) => {
                format!("self-hosted {}", url.as_str().trim_end_matches('/'))
            }
        }
    }

    /// Ingestion and `/flags`.
    pub fn ingest_url(&self) -> Url {
        match self {
            Region::Us => cloud_url("https://us.i.posthog.com/"),
            Region::Eu => cloud_url("https://eu.i.posthog.com/"),
            Region::SelfHosted(url) => url.clone(),
        }
    }

    /// The private API (`/api/...`).
    pub fn app_url(&self) -> Url {
        match self {
            Region::Us => cloud_url("https://us.posthog.com/"),
            Region::Eu => cloud_url("https://eu.posthog.com/"),
            Region::SelfHosted(url) => url.clone(),
        }
    }
}

fn cloud_url(text: &str) -> Url {
    // Constant, valid URLs.
    Url::parse(text).unwrap_or_else(|e| unreachable!("{text}: {e}"))
}

/// `us.i.posthog.com`, `https://us.i.posthog.com` and `https://us.i.posthog.com/` all mean the same host.
pub fn parse_host_url(host: &str) -> Option<Url> {
    let host = host.trim();
    if host.is_empty() {
        return None;
    }
    let with_scheme = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    let url = Url::parse(&with_scheme).ok()?;
    url.host_str()?;
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_documented_hosts() {
        assert_eq!(
            Region::from_host("https://us.i.posthog.com"),
            Some(Region::Us)
        );
        assert_eq!(Region::from_host("eu.i.posthog.com"), Some(Region::Eu));
        assert_eq!(
            Region::from_host("https://EU.posthog.com/"),
            Some(Region::Eu)
        );
        assert_eq!(
            Region::from_host("https://app.posthog.com"),
            Some(Region::Us)
        );
        assert_eq!(Region::from_host(""), None);
        match Region::from_host("https://posthog.internal.example:8000") {
            Some(Region::SelfHosted(url)) => assert_eq!(url.port(), Some(8000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_per_region() {
        assert_eq!(
            Region::Us.ingest_url().as_str(),
            "https://us.i.posthog.com/"
        );
        assert_eq!(Region::Eu.app_url().as_str(), "https://eu.posthog.com/");
        let own = Region::from_host("http://127.0.0.1:9000").unwrap();
        assert_eq!(own.ingest_url(), own.app_url());
        assert!(Region::is_cloud_host("us.posthog.com"));
        assert!(!Region::is_cloud_host("http://127.0.0.1:9000"));
    }
}
