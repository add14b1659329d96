//! Step 3, the pod template: probes, resources, image pinning, the shutdown grace period, and the
//! circuit-breaker and degradation switches. (Replicas, PDB, strategy and health are in
//! [`super::availability`]; alerting in [`super::alerts`].)

use k8s_openapi::api::core::v1::{Container, Probe as K8sProbe};

use crate::report::{Finding, Status};

use super::{Subject, join};

pub fn check(s: &Subject) -> Vec<Finding> {
    vec![
        probe(
            s,
            "infra.readiness-probe",
            |c| c.readiness_probe.as_ref(),
            "readinessProbe",
        ),
        probe(
            s,
            "infra.liveness-probe",
            |c| c.liveness_probe.as_ref(),
            "livenessProbe",
        ),
        resources(s),
        image_pinned(s),
        termination_grace(s),
        switch(s, "infra.circuit-breaker", &s.names.circuit_breaker_env),
        switch(s, "infra.graceful-degradation", &s.names.fallback_env),
    ]
}

pub fn describe_probe(p: &K8sProbe) -> String {
    if let Some(http) = &p.http_get {
        let port = match &http.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
        };
        format!("GET {}:{port}", http.path.as_deref().unwrap_or("/"))
    } else if p.tcp_socket.is_some() {
        "tcpSocket".to_string()
    } else if p.grpc.is_some() {
        "grpc".to_string()
    } else if p.exec.is_some() {
        "exec".to_string()
    } else {
        "no handler".to_string()
    }
}

fn probe(
    s: &Subject,
    id: &str,
    get: impl Fn(&Container) -> Option<&K8sProbe>,
    field: &str,
) -> Finding {
    let mut parts = Vec::new();
    let mut missing = None;
    for (ci, c) in s.posthog_containers() {
        match get(c) {
            Some(p) => parts.push(format!("{}: {}", c.name, describe_probe(p))),
            None => {
                parts.push(format!("{}: none", c.name));
                missing.get_or_insert(ci);
            }
        }
    }
    match missing {
        None => s.finding(id, Status::Pass).measured(join(parts)),
        Some(ci) => s.locate(
            s.finding(id, Status::Fail)
                .measured(join(parts))
                .expected(format!("a {field} on every container that talks to PostHog"))
                .remediation(format!(
                    "add {field}: httpGet on the health path (e.g. /health) so Kubernetes stops routing to, or restarts, a broken pod"
                )),
            &format!("/spec/template/spec/containers/{ci}"),
        ),
    }
}

fn resources(s: &Subject) -> Finding {
    let id = "infra.resources";
    let mut parts = Vec::new();
    let mut missing = None;
    for (ci, c) in super::env::containers(&s.deploy.object).iter().enumerate() {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
        let get = |m: Option<
            &std::collections::BTreeMap<
                String,
                k8s_openapi::apimachinery::pkg::api::resource::Quantity,
            >,
        >,
                   k: &str| { m.and_then(|m| m.get(k)).map(|q| q.0.clone()) };
        let (rc, rm, lm) = (
            get(requests, "cpu"),
            get(requests, "memory"),
            get(limits, "memory"),
        );
        let mut lacks = Vec::new();
        if rc.is_none() {
            lacks.push("requests.cpu");
        }
        if rm.is_none() {
            lacks.push("requests.memory");
        }
        if lm.is_none() {
            lacks.push("limits.memory");
        }
        if lacks.is_empty() {
            let cpu_limit = get(limits, "cpu")
                .map(|l| format!(", limits cpu {l}"))
                .unwrap_or_default();
            parts.push(format!(
                "{}: requests cpu {} memory {}, limits memory {}{cpu_limit}",
                c.name,
                rc.unwrap_or_default(),
                rm.unwrap_or_default(),
                lm.unwrap_or_default()
            ));
        } else {
            parts.push(format!("{}: no {}", c.name, lacks.join(", ")));
            missing.get_or_insert(ci);
        }
    }
    match missing {
        None => s.finding(id, Status::Pass).measured(join(parts)),
        Some(ci) => s.locate(
            s.finding(id, Status::Fail)
                .measured(join(parts))
                .expected("requests.cpu, requests.memory and limits.memory on every container (a CPU limit is optional)")
                .remediation("set resources from observed usage (kubectl top pod) so the scheduler and the OOM killer behave predictably"),
            &format!("/spec/template/spec/containers/{ci}/resources"),
        ),
    }
}

/// How an image reference is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Digest,
    Tag,
    /// `:latest` or no tag at all (which means latest).
    Floating,
}

pub fn pin_of(image: &str) -> Pin {
    if image.contains("@sha256:") {
        return Pin::Digest;
    }
    // The tag is after the last ':' that comes after the last '/' (a registry port is not a tag).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest" | "")) | None => Pin::Floating,
        Some(_) => Pin::Tag,
    }
}

fn image_pinned(s: &Subject) -> Finding {
    let id = "infra.image-pinned";
    let mut worst = (Pin::Digest, 0usize);
    let mut parts = Vec::new();
    for (ci, c) in super::env::containers(&s.deploy.object).iter().enumerate() {
        let image = c.image.clone().unwrap_or_default();
        let pin = pin_of(&image);
        let label = match pin {
            Pin::Digest => "digest",
            Pin::Tag => "tag, no digest",
            Pin::Floating => "floating: latest",
        };
        parts.push(format!("{}: {image} ({label})", c.name));
        let rank = |p: Pin| match p {
            Pin::Digest => 0,
            Pin::Tag => 1,
            Pin::Floating => 2,
        };
        if rank(pin) > rank(worst.0) {
            worst = (pin, ci);
        }
    }
    let pointer = format!("/spec/template/spec/containers/{}/image", worst.1);
    match worst.0 {
        Pin::Digest => s.finding(id, Status::Pass).measured(join(parts)),
        Pin::Tag => s.locate(
            s.finding(id, Status::Warn)
                .measured(join(parts))
                .expected("image@sha256:… (a tag can be moved to other content)")
                .remediation("pin by digest: crane digest IMAGE:TAG, then use IMAGE@sha256:…"),
            &pointer,
        ),
        Pin::Floating => s.locate(
            s.finding(id, Status::Fail)
                .measured(join(parts))
                .expected("an immutable tag or a digest, never :latest")
                .remediation(
                    "use a versioned tag or a digest so rollouts and rollbacks are reproducible",
                ),
            &pointer,
        ),
    }
}

fn termination_grace(s: &Subject) -> Finding {
    let id = "infra.termination-grace";
    let flush = s.thresholds.sdk_shutdown_seconds;
    let set = s
        .pod_spec()
        .and_then(|p| p.termination_grace_period_seconds);
    let grace = set.unwrap_or(30);
    let shown = match set {
        Some(g) => format!("terminationGracePeriodSeconds {g}s"),
        None => "terminationGracePeriodSeconds 30s (Kubernetes default)".to_string(),
    };
    let finding = if grace > flush {
        s.finding(id, Status::Pass)
            .measured(format!("{shown} > SDK flush {flush}s"))
    } else {
        s.finding(id, Status::Fail)
            .measured(format!("{shown} ≤ SDK flush {flush}s"))
            .expected(format!("more than {flush}s (thresholds.sdkShutdownSeconds), so buffered events are flushed before SIGKILL"))
            .remediation(format!(
                "set terminationGracePeriodSeconds to at least {} and call the SDK's shutdown()/close() on SIGTERM",
                flush + 15
            ))
    };
    s.locate(finding, "/spec/template/spec/terminationGracePeriodSeconds")
}

/// A runbook switch (env var) that shows the pattern exists, else a person must attest.
fn switch(s: &Subject, id: &str, name: &str) -> Finding {
    match s.env.get(name) {
        Some(var) => {
            let value = var
                .value
                .known()
                .map(|v| format!("= {}", v.expose().trim()))
                .unwrap_or_else(|| format!("from {}", var.source.describe()));
            s.locate(
                s.finding(id, Status::Pass)
                    .measured(format!("switch {name} {value} in container {}", var.container)),
                &var.pointer,
            )
        }
        None => s
            .finding(id, Status::Manual)
            .measured(format!("no {name} switch in the Deployment"))
            .remediation(format!(
                "add the {name} switch the runbook flips (kubectl set env … {name}=true), or attest under attestations.{id}"
            )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pins() {
        assert_eq!(pin_of("nginx"), Pin::Floating);
        assert_eq!(pin_of("nginx:latest"), Pin::Floating);
        assert_eq!(pin_of("registry:5000/team/app"), Pin::Floating);
        assert_eq!(pin_of("registry:5000/team/app:1.4.2"), Pin::Tag);
        assert_eq!(pin_of("ghcr.io/acme/app@sha256:abc"), Pin::Digest);
        assert_eq!(pin_of("ghcr.io/acme/app:1.0@sha256:abc"), Pin::Digest);
    }
}
