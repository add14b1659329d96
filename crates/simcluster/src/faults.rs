//! Fault injection: latency, error answers (with Retry-After), lost answers (the write is
//! applied, the client gets an error), update conflicts and dropped watches, matched against
//! each request before it is served.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A fault the API server injects until cleared (or its `count` runs out).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Delays matching requests (real time).
    Latency {
        path_contains: Option<String>,
        delay: Duration,
    },
    /// Answers a `share` of matching requests with `status` (500, 503, 429, …).
    /// `methods` empty means any method; `count` limits how many are failed.
    Errors {
        path_contains: Option<String>,
        methods: Vec<String>,
        status: u16,
        share: f64,
        retry_after: Option<u32>,
        count: Option<u32>,
    },
    /// The write is applied (stored, its watch events sent) but the client is answered
    /// `status` (500 when `None`): an apiserver or proxy failing after the commit. `methods`
    /// empty means every write (POST, PUT, PATCH, DELETE); `count` limits how many answers
    /// are lost. Only successful writes count: a write that fails anyway keeps its answer.
    ErrorsAfterApply {
        path_contains: Option<String>,
        methods: Vec<String>,
        status: Option<u16>,
        count: Option<u32>,
    },
    /// The next `count` updates or patches of `kind_plural` (optionally one `name`) get 409.
    Conflicts {
        kind_plural: String,
        name: Option<String>,
        count: u32,
    },
    /// Watch streams end after `after` (real time).
    DropWatches { after: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FaultId(pub u64);

/// What the server must do to one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) delay: Duration,
    pub(crate) error: Option<(u16, Option<u32>)>,
    pub(crate) conflict: bool,
    pub(crate) drop_watch_after: Option<Duration>,
    /// A lost answer to apply once the write succeeded: the fault and the status to send.
    pub(crate) lost_answer: Option<(FaultId, u16)>,
}

pub(crate) struct Faults {
    next: u64,
    active: Vec<(FaultId, Fault)>,
    rng: StdRng,
}

/// The request facts faults match on.
pub(crate) struct RequestFacts<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) plural: Option<&'a str>,
    pub(crate) name: Option<&'a str>,
    pub(crate) is_write: bool,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Faults {
            next: 1,
            active: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
        }
    }

    pub(crate) fn add(&mut self, f: Fault) -> FaultId {
        let id = FaultId(self.next);
        self.next += 1;
        self.active.push((id, f));
        id
    }

    pub(crate) fn remove(&mut self, id: FaultId) {
        self.active.retain(|(i, _)| *i != id);
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }

    /// Spends one lost answer of fault `id` on a write that succeeded; false when the fault
    /// was cleared or ran out meanwhile (the client then gets the real answer).
    pub(crate) fn spend_lost_answer(&mut self, id: FaultId) -> bool {
        match self.active.iter_mut().find(|(i, _)| *i == id) {
            Some((_, Fault::ErrorsAfterApply { count, .. })) => match count {
                Some(0) => false,
                Some(c) => {
                    *c -= 1;
                    true
                }
                None => true,
            },
            _ => false,
        }
    }

    /// The shortest active DropWatches delay, for watches already running.
    pub(crate) fn drop_watches_after(&self) -> Option<std::time::Duration> {
        self.active
            .iter()
            .filter_map(|(_, f)| match f {
                Fault::DropWatches { after } => Some(*after),
                _ => None,
            })
            .min()
    }

    /// Decides the faults for one request, consuming counted ones.
    pub(crate) fn judge(&mut self, r: &RequestFacts<'_>) -> Verdict {
        let mut v = Verdict::default();
        let matches_path = |p: &Option<String>| p.as_deref().is_none_or(|p| r.path.contains(p));
        for (id, f) in self.active.iter_mut() {
            match f {
                Fault::Latency {
                    path_contains,
                    delay,
                } if matches_path(path_contains) => v.delay += *delay,
                Fault::Errors {
                    path_contains,
                    methods,
                    status,
                    share,
                    retry_after,
                    count,
                } => {
                    let method_ok = methods.is_empty()
                        || methods.iter().any(|m| m.eq_ignore_ascii_case(r.method));
                    if v.error.is_some()
                        || !matches_path(path_contains)
                        || !method_ok
                        || *count == Some(0)
                    {
                        continue;
                    }
                    if self.rng.random::<f64>() < *share {
                        v.error = Some((*status, *retry_after));
                        if let Some(c) = count {
                            *c -= 1;
                        }
                    }
                }
                Fault::Conflicts {
                    kind_plural,
                    name,
                    count,
                } => {
                    let hit = r.is_write
                        && *count > 0
                        && !v.conflict
                        && r.plural == Some(kind_plural.as_str())
                        && name.as_deref().is_none_or(|n| r.name == Some(n));
                    if hit {
                        *count -= 1;
                        v.conflict = true;
                    }
                }
                Fault::ErrorsAfterApply {
                    path_contains,
                    methods,
                    status,
                    count,
                } => {
                    let write = matches!(r.method, "POST" | "PUT" | "PATCH" | "DELETE");
                    let method_ok = if methods.is_empty() {
                        write
                    } else {
                        methods.iter().any(|m| m.eq_ignore_ascii_case(r.method))
                    };
                    if v.lost_answer.is_none()
                        && method_ok
                        && matches_path(path_contains)
                        && *count != Some(0)
                    {
                        v.lost_answer = Some((*id, status.unwrap_or(500)));
                    }
                }
                Fault::DropWatches { after } => {
                    v.drop_watch_after = Some(v.drop_watch_after.map_or(*after, |d| d.min(*after)));
                }
                Fault::Latency { .. } => {}
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_errors_run_out() {
        let mut f = Faults::new(1);
        f.add(Fault::Errors {
            path_contains: Some("/pods".into()),
            methods: vec!["GET".into()],
            status: 503,
            share: 1.0,
            retry_after: Some(2),
            count: Some(2),
        });
        let facts = RequestFacts {
            method: "GET",
            path: "/api/v1/pods",
            plural: Some("pods"),
            name: None,
            is_write: false,
        };
        assert_eq!(f.judge(&facts).error, Some((503, Some(2))));
        assert_eq!(f.judge(&facts).error, Some((503, Some(2))));
        assert_eq!(f.judge(&facts).error, None);
        let post = RequestFacts {
            method: "POST",
            ..facts
        };
        assert_eq!(f.judge(&post).error, None);
    }

    #[test]
    fn lost_answers_match_writes_and_are_spent_on_success() {
        let mut f = Faults::new(1);
        let id = f.add(Fault::ErrorsAfterApply {
            path_contains: Some("/leases".into()),
            methods: vec![],
            status: None,
            count: Some(1),
        });
        let facts = |method| RequestFacts {
            method,
            path: "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            plural: Some("leases"),
            name: None,
            is_write: method != "GET",
        };
        assert_eq!(
            f.judge(&facts("GET")).lost_answer,
            None,
            "reads are never lost"
        );
        assert_eq!(f.judge(&facts("POST")).lost_answer, Some((id, 500)));
        // Judging again does not spend it: only a successful write does.
        assert_eq!(f.judge(&facts("PATCH")).lost_answer, Some((id, 500)));
        assert!(f.spend_lost_answer(id));
        assert!(!f.spend_lost_answer(id));
        assert_eq!(f.judge(&facts("POST")).lost_answer, None, "count ran out");
    }

    #[test]
    fn conflicts_only_on_writes_of_the_kind() {
        let mut f = Faults::new(1);
        let id = f.add(Fault::Conflicts {
            kind_plural: "deployments".into(),
            name: Some("web".into()),
            count: 1,
        });
        let read = RequestFacts {
            method: "GET",
            path: "/x",
            plural: Some("deployments"),
            name: Some("web"),
            is_write: false,
        };
        assert!(!f.judge(&read).conflict);
        let write = RequestFacts {
            is_write: true,
            method: "PUT",
            ..read
        };
        assert!(f.judge(&write).conflict);
        assert!(!f.judge(&write).conflict);
        f.remove(id);
    }
}
