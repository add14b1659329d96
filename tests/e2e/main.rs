//! End-to-end tests: the real binary, the simulated cluster, the real kubectl, real Prometheus
//! and act. One test binary, so the suite links once.

mod cli;
mod evidence;
mod kubeconfig;
mod preflight;
mod standins;
mod support;
mod triage;
