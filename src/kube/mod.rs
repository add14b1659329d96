//! The Kubernetes side: connecting like kubectl does (kubeconfig, context, namespace, timeout)
//! and turning API errors into one line that names the object and what to do.

pub mod apps;
pub mod body_cap;
mod client;
mod contexts;
mod credential;
pub mod events;
pub mod exec_plugin;
mod http_trace;
mod missing;
mod names;
pub mod retry;
mod selector;

pub use apps::{Apps, FIELD_MANAGER};
pub use client::{Cluster, ConnectOptions, api_error, connect, is_not_found};
pub use contexts::context_names;
pub use credential::resolve_credential;
pub use events::EventRecorder;
pub use missing::{deployment_not_found, explain_not_found};
pub use names::is_dns1123_subdomain;
pub use selector::selector_string;
