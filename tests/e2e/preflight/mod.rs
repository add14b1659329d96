//! `preflight`: the PostHog client against the stand-in, offline manifests, the credential scan,
//! live checks against the simulated cluster, and failing remotes.

mod client;
