//! End-to-end tests: the real binary, the simulated cluster, the real kubectl, real Prometheus
//! and act. One test binary, so the suite links once.

mod action;
mod canary;
mod cli;
mod completion;
mod demo;
mod evidence;
mod github;
mod kubeconfig;
mod notify;
mod preflight;
mod prom;
mod rollback;
mod rotate;
mod standins;
mod support;
mod triage;
