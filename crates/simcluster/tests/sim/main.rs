//! Integration tests for the simulated cluster: the real kubectl and kube-rs drive it over
//! HTTP, and the Rust API checks the resulting objects. One binary, to link once.

mod api;
mod common;
mod faults;
mod hpa;
mod kube_api;
mod kubectl;
mod kubectl_rollout;
mod leases;
mod logs;
mod traffic;
