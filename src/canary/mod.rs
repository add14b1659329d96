//! Canary rollouts: plan (replica counts per step), analysis (verdicts), driver (the loop), state (annotation).

use serde::Deserialize;

/// The `canary:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryConfig {}
