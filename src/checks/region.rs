//! Which PostHog a Deployment talks to, decided from its environment and the config: pure, and
//! shared by the endpoint checks and the remote calls (keys are validated against that region).

use crate::posthog::Region;

use super::Subject;

/// Which PostHog the Deployment talks to, and how we know.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionChoice {
    pub region: Region,
    pub from: String,
}

/// The region the Deployment sends to: its host variable, else `posthog.host` (self-hosted) or
/// `posthog.region` in the config, else US Cloud, the SDKs' default. (`--posthog-host` changes
/// where keys are validated, not which region's incidents matter.)
pub fn region_for(s: &Subject) -> RegionChoice {
    let name = &s.names.host_env;
    if let Some(value) = s.env.get(name).and_then(|v| v.value.known())
        && let Some(region) = Region::from_host(value.expose())
    {
        return RegionChoice {
            region,
            from: name.clone(),
        };
    }
    if let Some(region) = s.posthog.host.as_deref().and_then(Region::from_host) {
        return RegionChoice {
            region,
            from: "posthog.host in the config".to_string(),
        };
    }
    if let Some(region) = s.posthog.region {
        return RegionChoice {
            region: Region::from_name(region),
            from: "posthog.region in the config".to_string(),
        };
    }
    RegionChoice {
        region: Region::Us,
        from: "the SDK default (US Cloud)".to_string(),
    }
}
