//! PostHog: key shapes and masking, live key validation, the status page, the health endpoint.

use serde::Deserialize;

/// The `posthog:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PostHogConfig {}
