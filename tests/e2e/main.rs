//! End-to-end tests: the real binary, the simulated cluster, the real kubectl, real Prometheus
//! and act. One test binary, so the suite links once.

mod action;
mod bad_input;
mod canary;
mod canary_guard;
mod canary_hpa;
mod canary_hpa_live;
mod canary_safety;
mod cli;
mod completion;
mod demo;
mod evidence;
mod github;
mod hostile;
mod incident_history;
mod kubeconfig;
mod leaks;
mod missing;
mod notify;
mod preflight;
mod prom;
mod rollback;
mod rotate;
mod standins;
mod support;
mod terminal;
mod triage;
