//! The state every part of the simulator shares: store, clock, scripts, faults, request log,
//! offered loads, and what the kubelet, traffic simulation and HPA controller keep outside
//! the store.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use jiff::Timestamp;

use crate::behavior::Scripts;
use crate::clock::SimClock;
use crate::events::EventIndex;
use crate::faults::Faults;
use crate::kubelet::KubeletState;
use crate::requests::RequestRecord;
use crate::store::Store;
use crate::traffic::TrafficState;
use crate::{AccessDenial, SimOptions};

pub(crate) struct Shared {
    pub(crate) opts: SimOptions,
    pub(crate) store: Mutex<Store>,
    pub(crate) clock: SimClock,
    pub(crate) scripts: RwLock<Scripts>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) kubelet: Mutex<KubeletState>,
    pub(crate) traffic: Mutex<TrafficState>,
    pub(crate) events: Mutex<EventIndex>,
    pub(crate) denials: Mutex<Vec<AccessDenial>>,
    /// Request rates offered to pods (`SimCluster::set_load`).
    pub(crate) loads: Mutex<Vec<crate::usage::Load>>,
    pub(crate) hpa: Mutex<crate::controllers::hpa::HpaState>,
    /// Set once the listener is bound.
    pub(crate) port: std::sync::OnceLock<u16>,
    /// Flipped to true on shutdown; the server, watches and controllers stop on it.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
}

/// Locks a mutex, recovering from poisoning: a panicking request must not take the
/// simulator down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(opts: SimOptions) -> Self {
        let clock = SimClock::new(opts.speed);
        Shared {
            store: Mutex::new(Store::new(opts.watch_history, opts.seed)),
            scripts: RwLock::new(Scripts::new(opts.default_behavior.clone())),
            faults: Mutex::new(Faults::new(opts.seed)),
            requests: Mutex::new(Vec::new()),
            kubelet: Mutex::new(KubeletState::new(opts.seed)),
            traffic: Mutex::new(TrafficState::default()),
            events: Mutex::new(EventIndex::default()),
            denials: Mutex::new(Vec::new()),
            loads: Mutex::new(Vec::new()),
            hpa: Mutex::new(Default::default()),
            port: std::sync::OnceLock::new(),
            stopping: tokio::sync::watch::channel(false).0,
            clock,
            opts,
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn scripts(&self) -> std::sync::RwLockReadGuard<'_, Scripts> {
        self.scripts.read().unwrap_or_else(PoisonError::into_inner)
    }
}
