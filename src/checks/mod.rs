//! The preflight checklist: pure checks over facts gathered from the cluster or from manifest files.

use serde::Deserialize;

/// The `preflight:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PreflightConfig {}
