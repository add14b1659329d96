//! simcluster: a simulated Kubernetes API server that the real `kubectl` and kube-rs accept
//! as a cluster. It serves discovery, the verbs (with watch, the four patch types and
//! server-side Tables) for the resources in [`resources`], and runs Deployment, ReplicaSet,
//! kubelet, endpoints, HorizontalPodAutoscaler and garbage-collection controllers on a
//! controllable clock, with scripted pod behaviour and resource usage, offered load,
//! synthetic traffic metrics, logs and fault injection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), simcluster::SimError> {
//! let sim = simcluster::SimCluster::start(Default::default()).await?;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/sim.kubeconfig")).ok();
//! sim.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n")?;
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod behavior;
mod clock;
mod cluster;
mod controllers;
mod defaults;
mod discovery;
mod endpoints;
mod error;
mod events;
mod faults;
mod kubelet;
mod lease;
mod logs;
mod meta;
mod ops;
mod patch;
mod quantity;
mod requests;
mod resources;
mod selector;
mod server;
mod state;
mod store;
mod table;
mod traffic;
mod usage;
mod validation;
mod yaml;

pub use behavior::{HealthScript, LogScript, MetricScript, PodBehavior, Readiness, Traffic, Usage};
pub use clock::SimClock;
pub use cluster::{AccessDenial, SimCluster, SimOptions};
pub use controllers::hpa::HpaScaling;
pub use error::SimError;
pub use faults::{Fault, FaultId};
pub use requests::{ReplicaWrite, RequestRecord};
pub use traffic::{MetricsSnapshot, PodMetrics};
pub use usage::PodUsage;
