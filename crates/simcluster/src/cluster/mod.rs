//! The public handle: starting the simulator on its own thread and runtime (so a test may
//! block, e.g. on a `kubectl` child process, without stalling the server), and the Rust API
//! tests and the demo drive it with (loads and autoscaling in [`workload`]).

mod workload;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::behavior::PodBehavior;
use crate::clock::SimClock;
use crate::error::SimError;
use crate::faults::{Fault, FaultId};
use crate::ops::Propagation;
use crate::requests::RequestRecord;
use crate::resources::{self, ids};
use crate::state::{Shared, lock};
use crate::traffic::MetricsSnapshot;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Namespace for objects that name none, and the kubeconfig's namespace.
    pub default_namespace: String,
    /// Sim seconds per real second.
    pub speed: f64,
    /// Real interval between controller passes (writes also wake them).
    pub tick: Duration,
    /// Watch events kept for resuming; older resourceVersions get 410 Gone.
    pub watch_history: usize,
    /// Behaviour of images no script matches.
    pub default_behavior: PodBehavior,
    /// Seeds uids, pod name suffixes and fault sampling, for deterministic runs.
    pub seed: u64,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            default_namespace: "default".into(),
            speed: 1.0,
            tick: Duration::from_millis(25),
            watch_history: 10_000,
            default_behavior: PodBehavior::default(),
            seed: 42,
            port: 0,
        }
    }
}

/// A rule that makes SelfSubjectAccessReviews answer `allowed: false`; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessDenial {
    pub verb: Option<String>,
    pub group: Option<String>,
    pub resource: Option<String>,
    pub namespace: Option<String>,
}

/// The server thread; when the last handle goes without `shutdown`, the server stops.
struct ServerThread {
    shared: Arc<Shared>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.shared.stopping.send_replace(true);
    }
}

/// A running simulator; clones are cheap handles on the same one.
#[derive(Clone)]
pub struct SimCluster {
    shared: Arc<Shared>,
    thread: Arc<ServerThread>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("url", &self.url())
            .finish()
    }
}

fn seed_objects(shared: &Shared) {
    let mut names = vec!["default", "kube-system", "kube-public", "kube-node-lease"];
    let default_ns = shared.opts.default_namespace.clone();
    if !names.contains(&default_ns.as_str()) {
        names.push(&default_ns);
    }
    for ns in names {
        let _ = shared.create_obj(
            ids::NAMESPACES,
            None,
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        );
    }
    let _ = shared.create_obj(ids::NODES, None, json!({
        "metadata": {"name": crate::kubelet::NODE, "labels": {"kubernetes.io/hostname": crate::kubelet::NODE, "kubernetes.io/os": "linux"}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": crate::kubelet::HOST_IP}, {"type": "Hostname", "address": crate::kubelet::NODE}],
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250"},
            "nodeInfo": {"kubeletVersion": "v1.34.0", "osImage": "simcluster", "architecture": "amd64", "operatingSystem": "linux", "containerRuntimeVersion": "containerd://2.0.0"},
        },
    }));
}

impl SimCluster {
    /// Binds 127.0.0.1 and starts the API server and controllers.
    pub async fn start(opts: SimOptions) -> Result<SimCluster, SimError> {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", opts.port)).map_err(SimError::Bind)?;
        listener.set_nonblocking(true).map_err(SimError::Bind)?;
        let port = listener.local_addr().map_err(SimError::Bind)?.port();
        let shared = Arc::new(Shared::new(opts));
        let _ = shared.port.set(port);
        seed_objects(&shared);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), std::io::Error>>();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("simcluster".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("simcluster-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let controllers =
                        tokio::spawn(crate::controllers::run(s.clone(), s.stopping.subscribe()));
                    let _ = ready_tx.send(Ok(()));
                    crate::server::serve(s, listener).await;
                    let _ = controllers.await;
                });
            })
            .map_err(SimError::Bind)?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SimError::Bind(e)),
            Err(_) => {
                return Err(SimError::Bind(std::io::Error::other(
                    "the simulator thread died while starting",
                )));
            }
        }
        let thread = Arc::new(ServerThread {
            shared: shared.clone(),
            handle: Mutex::new(Some(thread)),
        });
        Ok(SimCluster { shared, thread })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        self.shared.port.get().copied().unwrap_or(0)
    }

    /// A kubeconfig whose cluster, context and user are named `simcluster`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: simcluster\n  cluster:\n    server: {url}\ncontexts:\n- name: simcluster\n  context:\n    cluster: simcluster\n    user: simcluster\n    namespace: {ns}\ncurrent-context: simcluster\nusers:\n- name: simcluster\n  user:\n    token: simcluster\npreferences: {{}}\n",
            url = self.url(),
            ns = self.shared.opts.default_namespace
        )
    }

    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// Creates or replaces every object of a multi-document YAML stream (a `List` counts as
    /// its items), as the API would; the controllers then act on them.
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<Value>, SimError> {
        let docs = crate::yaml::parse_multi(yaml).map_err(SimError::Yaml)?;
        let mut objs = Vec::new();
        for d in docs {
            match d.get("kind").and_then(Value::as_str) {
                Some(k) if k.ends_with("List") && d.get("items").is_some() => {
                    objs.extend(
                        d.get("items")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
                _ => objs.push(d),
            }
        }
        objs.into_iter()
            .map(|o| {
                let res = res_of(&o)?;
                Ok(self.shared.put_obj(res, o)?)
            })
            .collect()
    }

    pub fn create(&self, obj: Value) -> Result<Value, SimError> {
        let res = res_of(&obj)?;
        Ok(self.shared.create_obj(res, None, obj)?)
    }

    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = resources::by_kind(api_version, kind)?;
        let ns = self.ns_for(res, namespace);
        self.shared.get_obj(res, &ns, name).ok()
    }

    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(res) = resources::by_kind(api_version, kind) else {
            return Vec::new();
        };
        let ns = resources::def(res)
            .namespaced
            .then_some(namespace)
            .flatten();
        self.shared
            .store()
            .list(res, ns)
            .iter()
            .map(|o| (**o).clone())
            .collect()
    }

    /// Deletes with background propagation, like `kubectl delete`.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), SimError> {
        let res = resources::by_kind(api_version, kind).ok_or_else(|| SimError::UnknownKind {
            api_version: api_version.into(),
            kind: kind.into(),
        })?;
        let ns = self.ns_for(res, namespace);
        self.shared
            .delete_obj(res, &ns, name, Propagation::Background)?;
        Ok(())
    }

    fn ns_for(&self, res: usize, namespace: Option<&str>) -> String {
        if resources::def(res).namespaced {
            namespace
                .unwrap_or(&self.shared.opts.default_namespace)
                .to_string()
        } else {
            String::new()
        }
    }

    /// Scripts pods of an exact image, or of every image starting with a prefix ending in
    /// `*`. Live pods follow the new script from their next tick.
    pub fn script_image(&self, image: &str, behavior: PodBehavior) {
        self.shared
            .scripts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .set(image, behavior);
    }

    /// Scripts pods that start while Secret `secret`'s `key` holds `value` (read by their first
    /// container's env through `secretKeyRef`), whatever their image: the kubelet resolves the
    /// env when it starts the pod, as a real one does, so pods keep the behaviour of the value
    /// they started with. (A PostHog key that is revoked: pods with it never become ready.)
    pub fn script_secret_value(&self, secret: &str, key: &str, value: &str, behavior: PodBehavior) {
        self.shared
            .scripts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .set_secret_value(secret, key, value, behavior);
    }

    pub fn clock(&self) -> SimClock {
        self.shared.clock.clone()
    }

    pub fn inject(&self, fault: Fault) -> FaultId {
        lock(&self.shared.faults).add(fault)
    }

    pub fn clear_fault(&self, id: FaultId) {
        lock(&self.shared.faults).remove(id);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Makes matching SelfSubjectAccessReviews answer `allowed: false`.
    pub fn deny_access(&self, rule: AccessDenial) {
        lock(&self.shared.denials).push(rule);
    }

    pub fn clear_access_denials(&self) {
        lock(&self.shared.denials).clear();
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Every pod's traffic counters, brought up to the current sim time.
    pub fn pod_metrics(&self) -> MetricsSnapshot {
        crate::traffic::snapshot(&self.shared)
    }

    /// Polls `f` until it holds or `timeout` (real time) passes.
    pub async fn wait_until<F: Fn(&SimCluster) -> bool>(&self, timeout: Duration, f: F) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if f(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (ending open watches) and the controllers.
    pub async fn shutdown(self) {
        self.shared.stopping.send_replace(true);
        let handle = lock(&self.thread.handle).take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

fn res_of(obj: &Value) -> Result<usize, SimError> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    resources::by_kind(api_version, kind).ok_or_else(|| SimError::UnknownKind {
        api_version: api_version.into(),
        kind: kind.into(),
    })
}
