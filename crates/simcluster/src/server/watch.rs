//! Watch streams: newline-delimited JSON events over a chunked response, resumable from a
//! resourceVersion within the retained history (410 Expired beyond it), with bookmarks,
//! `timeoutSeconds`, selector-aware ADDED/DELETED transitions and server-side Tables.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::handlers::selectors;
use super::{Req, error_response};
use crate::error::ApiError;
use crate::meta;
use crate::resources::{ResId, def};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::store::EventType;
use crate::table;

const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// The apiserver's default when no `timeoutSeconds` is given (its min-request-timeout).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct WatchState {
    shared: Arc<Shared>,
    res: ResId,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    /// Objects the client currently believes match, so selector changes become ADDED/DELETED.
    known: HashSet<(String, String)>,
    last_rv: u64,
    pending: VecDeque<Bytes>,
    rx: tokio::sync::watch::Receiver<u64>,
    stop: tokio::sync::watch::Receiver<bool>,
    deadline: Instant,
    started: Instant,
    bookmarks: bool,
    next_bookmark: Instant,
    table: Option<String>,
    done: bool,
}

impl WatchState {
    fn matches(&self, o: &Value) -> bool {
        self.labels.matches(meta::labels(o)) && self.fields.matches(o)
    }

    fn in_scope(&self, o: &Value) -> bool {
        self.ns.as_deref().is_none_or(|ns| ns == meta::namespace(o))
    }

    fn line(&self, type_: &str, obj: &Value) -> Bytes {
        let object = match &self.table {
            Some(include) => table::table(
                def(self.res),
                &[obj],
                json!({"resourceVersion": meta::resource_version(obj)}),
                include,
                self.shared.now(),
            ),
            None => obj.clone(),
        };
        let mut s = json!({"type": type_, "object": object}).to_string();
        s.push('\n');
        Bytes::from(s)
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let d = def(self.res);
        let mut m = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let mut s = json!({"type": "BOOKMARK", "object": {"kind": d.kind, "apiVersion": d.api_version(), "metadata": m}}).to_string();
        s.push('\n');
        Bytes::from(s)
    }

    fn error(&mut self, e: &ApiError) {
        let mut s = json!({"type": "ERROR", "object": e.to_status()}).to_string();
        s.push('\n');
        self.pending.push_back(Bytes::from(s));
        self.done = true;
    }

    /// Queues the events after `last_rv`. A client resuming from a resourceVersion outside
    /// the history gets a 410 ERROR event; a running watch that fell behind it is closed
    /// instead, as the apiserver closes slow watchers (the client's re-watch then gets 410).
    fn poll(&mut self, resuming: bool) {
        let events = self.shared.store().events_since(self.last_rv);
        let events = match events {
            Ok(ev) => ev,
            Err(e) if resuming => return self.error(&e),
            Err(_) => {
                self.done = true;
                return;
            }
        };
        for ev in events {
            self.last_rv = ev.rv;
            if ev.res != self.res || !self.in_scope(&ev.obj) {
                continue;
            }
            let key = (
                meta::namespace(&ev.obj).to_string(),
                meta::name(&ev.obj).to_string(),
            );
            let now_matches = ev.kind != EventType::Deleted && self.matches(&ev.obj);
            let was_known = self.known.contains(&key);
            let type_ = match (ev.kind, was_known, now_matches) {
                (EventType::Deleted, true, _) => Some("DELETED"),
                (EventType::Deleted, false, _) => None,
                (_, false, true) => Some("ADDED"),
                (_, true, true) => Some(ev.kind.as_str()),
                (_, true, false) => Some("DELETED"),
                (_, false, false) => None,
            };
            if now_matches {
                self.known.insert(key);
            } else {
                self.known.remove(&key);
            }
            if let Some(t) = type_ {
                let line = self.line(t, &ev.obj);
                self.pending.push_back(line);
            }
        }
    }
}

pub(crate) fn serve(
    shared: Arc<Shared>,
    res: ResId,
    ns: Option<String>,
    req: &Req,
    drop_after: Option<Duration>,
) -> Response {
    let (labels, fields) = match selectors(req) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let rv_param = req.params.get("resourceVersion").unwrap_or("");
    let from_rv = match rv_param {
        "" | "0" => None,
        s => match s.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "invalid resource version: {s:?}"
                )));
            }
        },
    };
    let send_initial = req.params.get("sendInitialEvents").map(|v| v == "true");
    let mut timeout = req
        .params
        .num("timeoutSeconds")
        .filter(|t| *t > 0)
        // Capped so a huge value cannot overflow the deadline arithmetic.
        .map_or(DEFAULT_TIMEOUT, |t| {
            Duration::from_secs((t as u64).min(86_400))
        });
    if let Some(d) = drop_after {
        timeout = timeout.min(d);
    }
    let table = table::wants_table(&req.accept).then(|| {
        req.params
            .get("includeObject")
            .unwrap_or("Metadata")
            .to_string()
    });
    let mut st = {
        let store = shared.store();
        let mut rx = store.subscribe();
        rx.borrow_and_update();
        let now = Instant::now();
        let mut st = WatchState {
            shared: shared.clone(),
            res,
            ns,
            labels,
            fields,
            known: HashSet::new(),
            last_rv: from_rv.unwrap_or(store.rv()),
            pending: VecDeque::new(),
            rx,
            stop: shared.stopping.subscribe(),
            deadline: now + timeout,
            started: now,
            bookmarks: req.params.flag("allowWatchBookmarks") && table.is_none(),
            next_bookmark: now + BOOKMARK_EVERY,
            table,
            done: false,
        };
        let initial = send_initial.unwrap_or(from_rv.is_none());
        let current: Vec<Value> = store
            .list(res, st.ns.as_deref())
            .iter()
            .filter(|o| st.matches(o))
            .map(|o| (**o).clone())
            .collect();
        for o in &current {
            st.known
                .insert((meta::namespace(o).to_string(), meta::name(o).to_string()));
        }
        if initial {
            st.last_rv = store.rv();
            for o in &current {
                let line = st.line("ADDED", o);
                st.pending.push_back(line);
            }
            if send_initial == Some(true) && st.bookmarks {
                let b = st.bookmark(true);
                st.pending.push_back(b);
            }
        }
        st
    };
    // Resuming from a resourceVersion: replay (or 410) at once.
    if from_rv.is_some() && send_initial != Some(true) {
        st.poll(true);
    }
    let stream = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(b) = st.pending.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), st));
            }
            if st.done {
                return None;
            }
            // A DropWatches fault injected after the watch began also ends it; re-check at
            // least once a second.
            let drop_after = crate::state::lock(&st.shared.faults).drop_watches_after();
            if let Some(d) = drop_after {
                st.deadline = st.deadline.min(st.started + d);
            }
            let mut wake = st.deadline.min(Instant::now() + Duration::from_secs(1));
            if st.bookmarks {
                wake = wake.min(st.next_bookmark);
            }
            enum Wake {
                Changed(bool),
                Timer,
                Stop,
            }
            let wake = tokio::select! {
                changed = st.rx.changed() => Wake::Changed(changed.is_ok()),
                _ = tokio::time::sleep_until(wake) => Wake::Timer,
                _ = st.stop.wait_for(|s| *s) => Wake::Stop,
            };
            match wake {
                Wake::Changed(true) => st.poll(false),
                Wake::Changed(false) | Wake::Stop => st.done = true,
                Wake::Timer if Instant::now() >= st.deadline => st.done = true,
                Wake::Timer if Instant::now() < st.next_bookmark || !st.bookmarks => {}
                Wake::Timer => {
                    let b = st.bookmark(false);
                    st.pending.push_back(b);
                    st.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                }
            }
        }
    });
    let mut r = (StatusCode::OK, Body::from_stream(stream)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
