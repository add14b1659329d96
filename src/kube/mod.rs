//! The Kubernetes side: connecting like kubectl does (kubeconfig, context, namespace, timeout)
//! and turning API errors into one line that names the object and what to do.

mod client;
mod selector;

pub use client::{Cluster, api_error, connect, is_not_found};
pub use selector::selector_string;
