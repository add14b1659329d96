//! The Kubernetes side: connecting like kubectl does (kubeconfig, context, namespace, timeout)
//! and turning API errors into one line that names the object and what to do.

mod client;
mod contexts;
pub mod exec_plugin;
mod names;
pub mod retry;
mod selector;

pub use client::{Cluster, ConnectOptions, api_error, connect, is_not_found};
pub use contexts::context_names;
pub use names::is_dns1123_subdomain;
pub use selector::selector_string;
