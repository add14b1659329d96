//! The simulated kubelet on node `sim-node-1`: binds and starts pods, and drives each one
//! through Pending → Running → Ready (or never ready, or CrashLoopBackOff with Kubernetes'
//! doubling back-off) as its image's script says, writing container statuses, conditions
//! and the kubelet's events.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::behavior::{PodBehavior, Readiness, pod_image};
use crate::clock::{add_secs, secs_between};
use crate::meta;
use crate::resources::ids;
use crate::state::{Shared, lock};
use crate::store::UpdateMode;

mod status;
pub(crate) use status::pod_status;

pub(crate) const NODE: &str = "sim-node-1";
pub(crate) const HOST_IP: &str = "10.0.0.1";
/// Sim seconds from scheduling to the container running.
const CREATE_DELAY: f64 = 0.5;
const UNHEALTHY_EVERY: f64 = 10.0;
/// Sim seconds a container takes to exit after SIGTERM (a well-behaved app).
const TERMINATION_SECS: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stage {
    Creating,
    Running,
    BackOff,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Terminated {
    pub(crate) exit_code: i32,
    pub(crate) reason: String,
    pub(crate) started: Timestamp,
    pub(crate) finished: Timestamp,
}

/// What the kubelet remembers about one pod.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodRuntime {
    /// The pod's resourceVersion when the kubelet last checked its status: an unchanged pod
    /// in an unchanged state needs no work, which keeps thousands of pods cheap.
    seen_rv: String,
    pub(crate) scheduled_at: Timestamp,
    pub(crate) ip: String,
    pub(crate) stage: Stage,
    pub(crate) restarts: u32,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) ready_at: Option<Timestamp>,
    pub(crate) ready_changed: Timestamp,
    pub(crate) last_term: Option<Terminated>,
    pub(crate) backoff_until: Option<Timestamp>,
    last_unhealthy: Option<Timestamp>,
    terminating_since: Option<Timestamp>,
    /// The `(secret, key, value)` its env read when it started.
    pub(crate) secret_values: Vec<(String, String, String)>,
}

#[derive(Debug, Default)]
pub(crate) struct KubeletState {
    pub(crate) pods: HashMap<String, PodRuntime>,
    next_ip: u32,
}

impl KubeletState {
    pub(crate) fn new(_seed: u64) -> Self {
        KubeletState {
            pods: HashMap::new(),
            next_ip: 10,
        }
    }
}

pub(crate) fn runtime(shared: &Shared, uid: &str) -> Option<PodRuntime> {
    lock(&shared.kubelet).pods.get(uid).cloned()
}

pub(crate) fn forget(shared: &Shared, uid: &str) {
    lock(&shared.kubelet).pods.remove(uid);
}

pub(crate) fn sync_all(shared: &Shared) {
    let pods = shared.store().list(ids::PODS, None);
    let scripts = shared.scripts().clone();
    for pod in pods {
        sync_pod(shared, &scripts, &pod);
    }
}

/// Crash-loop back-off: 10 s doubling per restart, capped at 5 minutes.
pub(crate) fn backoff_secs(restarts: u32) -> f64 {
    (10.0 * 2f64.powi(restarts.saturating_sub(1).min(10) as i32)).min(300.0)
}

fn sync_pod(shared: &Shared, scripts: &crate::behavior::Scripts, pod: &Value) {
    let uid = meta::uid(pod).to_string();
    let now = shared.now();
    let started_with = lock(&shared.kubelet)
        .pods
        .get(&uid)
        .map(|rt| rt.secret_values.clone());
    let started_with = started_with.unwrap_or_else(|| secret_values(shared, pod));
    let behavior = scripts
        .for_secret_values(&started_with)
        .unwrap_or_else(|| scripts.for_image(pod_image(pod)));
    let container = pod
        .pointer("/spec/containers/0/name")
        .and_then(Value::as_str)
        .unwrap_or("app")
        .to_string();
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        terminate(shared, pod, now, &container);
        return;
    }
    let existing = lock(&shared.kubelet).pods.get(&uid).cloned();
    let mut rt = match existing {
        Some(rt) => rt,
        None => {
            let rt = schedule(shared, pod, now);
            lock(&shared.kubelet).pods.insert(uid.clone(), rt.clone());
            rt
        }
    };
    let mut events: Vec<(&str, &str, String)> = Vec::new();
    let before = rt.clone();
    advance(&mut rt, behavior, now, &container, pod, &mut events);
    if events.is_empty() && rt == before && rt.seen_rv == meta::resource_version(pod) {
        return;
    }
    lock(&shared.kubelet).pods.insert(uid.clone(), rt.clone());
    let pod_now = shared
        .store()
        .get(ids::PODS, meta::namespace(pod), meta::name(pod));
    let Some(pod_now) = pod_now else { return };
    for (type_, reason, msg) in events {
        shared.record_event(&pod_now, type_, reason, &msg, "kubelet");
    }
    let status = pod_status(&pod_now, &rt);
    let mut seen = meta::resource_version(&pod_now).to_string();
    if pod_now.get("status") != Some(&status)
        && let Some(written) = shared.mutate(
            ids::PODS,
            meta::namespace(pod),
            meta::name(pod),
            UpdateMode::Status,
            |o| o["status"] = status,
        )
    {
        seen = meta::resource_version(&written).to_string();
    }
    if let Some(stored) = lock(&shared.kubelet).pods.get_mut(&uid) {
        stored.seen_rv = seen;
    }
}

/// A pod being deleted: its container is stopped (Killing) and the pod goes once it exited,
/// after [`TERMINATION_SECS`] or its grace period, whichever is shorter.
fn terminate(shared: &Shared, pod: &Value, now: Timestamp, container: &str) {
    let uid = meta::uid(pod);
    let (since, first, started) = {
        let mut k = lock(&shared.kubelet);
        match k.pods.get_mut(uid) {
            Some(rt) => {
                let first = rt.terminating_since.is_none();
                let since = *rt.terminating_since.get_or_insert(now);
                (since, first, rt.stage != Stage::Creating)
            }
            None => (now, false, false),
        }
    };
    if first && started {
        shared.record_event(
            pod,
            "Normal",
            "Killing",
            &format!("Stopping container {container}"),
            "kubelet",
        );
    }
    let grace = meta::i64_at(pod, &["metadata", "deletionGracePeriodSeconds"]).unwrap_or(30) as f64;
    let exited = !started || secs_between(since, now) >= grace.min(TERMINATION_SECS);
    if exited
        && let Ok(gone) = shared
            .store()
            .delete(ids::PODS, meta::namespace(pod), meta::name(pod))
    {
        crate::controllers::forget_deleted(shared, ids::PODS, &gone);
    }
}

fn schedule(shared: &Shared, pod: &Value, now: Timestamp) -> PodRuntime {
    let ip = {
        let mut k = lock(&shared.kubelet);
        k.next_ip += 1;
        format!("10.244.{}.{}", k.next_ip / 250, k.next_ip % 250 + 1)
    };
    let (ns, name) = (
        meta::namespace(pod).to_string(),
        meta::name(pod).to_string(),
    );
    if pod.pointer("/spec/nodeName").is_none() {
        shared.mutate(ids::PODS, &ns, &name, UpdateMode::Main, |o| {
            o["spec"]["nodeName"] = json!(NODE)
        });
    }
    shared.record_event(
        pod,
        "Normal",
        "Scheduled",
        &format!("Successfully assigned {ns}/{name} to {NODE}"),
        "default-scheduler",
    );
    PodRuntime {
        seen_rv: String::new(),
        scheduled_at: now,
        ip,
        stage: Stage::Creating,
        restarts: 0,
        started_at: None,
        ready_at: None,
        ready_changed: now,
        last_term: None,
        backoff_until: None,
        last_unhealthy: None,
        terminating_since: None,
        secret_values: secret_values(shared, pod),
    }
}

/// What the pod's `secretKeyRef`s hold now (for a pod starting now).
fn secret_values(shared: &Shared, pod: &Value) -> Vec<(String, String, String)> {
    use base64::Engine as _;
    let ns = meta::namespace(pod);
    crate::behavior::secret_refs(pod)
        .into_iter()
        .filter_map(|(secret, key)| {
            let obj = shared.store().get(ids::SECRETS, ns, &secret)?;
            let value = match obj.pointer(&format!("/data/{key}")).and_then(Value::as_str) {
                Some(b64) => {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?)
                        .ok()?
                }
                None => obj
                    .pointer(&format!("/stringData/{key}"))
                    .and_then(Value::as_str)?
                    .to_string(),
            };
            Some((secret, key, value))
        })
        .collect()
}

fn start_events(
    events: &mut Vec<(&'static str, &'static str, String)>,
    image: &str,
    container: &str,
) {
    events.push((
        "Normal",
        "Pulled",
        format!("Container image \"{image}\" already present on machine"),
    ));
    events.push((
        "Normal",
        "Created",
        format!("Created container: {container}"),
    ));
    events.push((
        "Normal",
        "Started",
        format!("Started container {container}"),
    ));
}

/// Moves the pod's state machine up to `now`, possibly through several transitions when the
/// clock jumped.
pub(crate) fn advance(
    rt: &mut PodRuntime,
    b: &PodBehavior,
    now: Timestamp,
    container: &str,
    pod: &Value,
    events: &mut Vec<(&'static str, &'static str, String)>,
) {
    let image = pod_image(pod).to_string();
    let pod_ref = format!(
        "{}_{}({})",
        meta::name(pod),
        meta::namespace(pod),
        meta::uid(pod)
    );
    for _ in 0..1000 {
        match rt.stage {
            Stage::Creating => {
                let start = add_secs(rt.scheduled_at, CREATE_DELAY);
                if now < start {
                    break;
                }
                rt.stage = Stage::Running;
                rt.started_at = Some(start);
                start_events(events, &image, container);
            }
            Stage::Running => {
                let Some(started) = rt.started_at else { break };
                let ready_at = add_secs(started, b.ready_after.as_secs_f64());
                let crash_at = match &b.readiness {
                    Readiness::CrashLoop { after, .. } => {
                        Some(add_secs(started, after.as_secs_f64()))
                    }
                    _ => None,
                };
                let can_be_ready = !matches!(b.readiness, Readiness::NeverReady)
                    && crash_at.is_none_or(|c| ready_at < c);
                if can_be_ready && rt.ready_at.is_none() && now >= ready_at {
                    rt.ready_at = Some(ready_at);
                    rt.ready_changed = ready_at;
                }
                if !can_be_ready && rt.ready_at.is_some() {
                    rt.ready_at = None;
                    rt.ready_changed = now;
                }
                if matches!(b.readiness, Readiness::NeverReady) && now >= ready_at {
                    let due = rt
                        .last_unhealthy
                        .is_none_or(|t| secs_between(t, now) >= UNHEALTHY_EVERY);
                    if due {
                        rt.last_unhealthy = Some(now);
                        events.push((
                            "Warning",
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                        ));
                    }
                }
                let (
                    Some(crash),
                    Readiness::CrashLoop {
                        exit_code, reason, ..
                    },
                ) = (crash_at, &b.readiness)
                else {
                    break;
                };
                if now < crash {
                    break;
                }
                rt.last_term = Some(Terminated {
                    exit_code: *exit_code,
                    reason: reason.clone(),
                    started,
                    finished: crash,
                });
                rt.restarts += 1;
                if rt.ready_at.take().is_some() {
                    rt.ready_changed = crash;
                }
                rt.stage = Stage::BackOff;
                rt.backoff_until = Some(add_secs(crash, backoff_secs(rt.restarts)));
                events.push((
                    "Warning",
                    "BackOff",
                    format!("Back-off restarting failed container {container} in pod {pod_ref}"),
                ));
            }
            Stage::BackOff => {
                let Some(until) = rt.backoff_until else { break };
                if now < until {
                    break;
                }
                rt.stage = Stage::Running;
                rt.started_at = Some(until);
                rt.backoff_until = None;
                start_events(events, &image, container);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rt(at: Timestamp) -> PodRuntime {
        PodRuntime {
            seen_rv: String::new(),
            scheduled_at: at,
            ip: "10.244.0.2".into(),
            stage: Stage::Creating,
            restarts: 0,
            started_at: None,
            ready_at: None,
            ready_changed: at,
            last_term: None,
            backoff_until: None,
            last_unhealthy: None,
            terminating_since: None,
            secret_values: Vec::new(),
        }
    }

    #[test]
    fn ready_after_delay() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let b = PodBehavior {
            ready_after: Duration::from_secs(2),
            ..Default::default()
        };
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": {"containers": [{"name": "web", "image": "x"}]}});
        let mut r = rt(t0);
        let mut ev = Vec::new();
        advance(&mut r, &b, add_secs(t0, 1.0), "web", &pod, &mut ev);
        assert_eq!(r.stage, Stage::Running);
        assert!(r.ready_at.is_none());
        advance(&mut r, &b, add_secs(t0, 3.0), "web", &pod, &mut ev);
        assert!(r.ready_at.is_some());
        let s = pod_status(&pod, &r);
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn crash_loop_backs_off_and_counts_restarts() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let b = PodBehavior {
            readiness: Readiness::CrashLoop {
                after: Duration::from_secs(5),
                exit_code: 137,
                reason: "OOMKilled".into(),
            },
            ..Default::default()
        };
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": {"containers": [{"name": "web", "image": "x"}]}});
        let mut r = rt(t0);
        let mut ev = Vec::new();
        // start 0.5, crash 5.5 (+10 back-off) -> 15.5 start, 20.5 crash (+20) -> 40.5 start, 45.5 crash.
        advance(&mut r, &b, add_secs(t0, 50.0), "web", &pod, &mut ev);
        assert_eq!(r.restarts, 3);
        assert_eq!(r.stage, Stage::BackOff);
        let s = pod_status(&pod, &r);
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        assert_eq!(
            s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            137
        );
        assert_eq!(
            s["containerStatuses"][0]["lastState"]["terminated"]["reason"],
            "OOMKilled"
        );
        assert_eq!(backoff_secs(1), 10.0);
        assert_eq!(backoff_secs(9), 300.0);
    }
}
