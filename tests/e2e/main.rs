//! End-to-end tests: the real binary, the simulated cluster, the real kubectl, real Prometheus
//! and act. One test binary, so the suite links once.

mod canary;
mod cli;
mod kubeconfig;
mod prom;
mod support;
