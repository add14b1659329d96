//! The simulated clock: starts at the wall clock and runs at a configurable speed; tests can
//! jump it forward. Every controller, timestamp and traffic counter reads time from here.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug)]
struct ClockState {
    /// Real instant at which `base_sim` was the sim time.
    base_real: Instant,
    base_sim: Timestamp,
    speed: f64,
}

/// A cheap-to-clone handle on the simulation's time.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<ClockState>>,
    /// Woken when time jumps, so controllers react at once.
    on_jump: Arc<tokio::sync::Notify>,
}

impl SimClock {
    pub(crate) fn new(speed: f64) -> Self {
        SimClock {
            state: Arc::new(Mutex::new(ClockState {
                base_real: Instant::now(),
                base_sim: Timestamp::now(),
                speed: sanitize(speed),
            })),
            on_jump: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The current sim time.
    pub fn now(&self) -> Timestamp {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        sim_at(&s, Instant::now())
    }

    /// Jumps sim time forward at once.
    pub fn advance(&self, by: Duration) {
        {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = sim_at(&s, Instant::now());
            s.base_real = Instant::now();
            s.base_sim = now
                .checked_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
                .unwrap_or(now);
        }
        self.on_jump.notify_waiters();
    }

    /// Sets how many sim seconds pass per real second (0 freezes the clock).
    pub fn set_speed(&self, speed: f64) {
        {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = sim_at(&s, Instant::now());
            s.base_real = Instant::now();
            s.base_sim = now;
            s.speed = sanitize(speed);
        }
        self.on_jump.notify_waiters();
    }

    pub fn speed(&self) -> f64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .speed
    }

    pub(crate) fn jumped(&self) -> Arc<tokio::sync::Notify> {
        self.on_jump.clone()
    }
}

fn sanitize(speed: f64) -> f64 {
    if speed.is_finite() && speed >= 0.0 {
        speed
    } else {
        1.0
    }
}

fn sim_at(s: &ClockState, real: Instant) -> Timestamp {
    let elapsed = real.saturating_duration_since(s.base_real).as_secs_f64() * s.speed;
    let d = SignedDuration::try_from_secs_f64(elapsed).unwrap_or(SignedDuration::ZERO);
    s.base_sim.checked_add(d).unwrap_or(s.base_sim)
}

/// Seconds from `earlier` to `later` as f64 (negative when reversed).
pub(crate) fn secs_between(earlier: Timestamp, later: Timestamp) -> f64 {
    later.duration_since(earlier).as_secs_f64()
}

/// Formats like the apiserver's `metav1.Time`: RFC 3339, second precision, UTC.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 with nanoseconds, as kubelet log timestamps are written.
pub(crate) fn rfc3339_nano(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

/// Formats like `metav1.MicroTime` (Lease times, Event `eventTime`): RFC 3339 with exactly
/// six fractional digits, UTC.
pub(crate) fn rfc3339_micro(t: Timestamp) -> String {
    format!(
        "{}.{:06}Z",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond().max(0) / 1000
    )
}

pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

pub(crate) fn add_secs(t: Timestamp, secs: f64) -> Timestamp {
    let d = SignedDuration::try_from_secs_f64(secs).unwrap_or(SignedDuration::ZERO);
    t.checked_add(d).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_freeze() {
        let c = SimClock::new(0.0);
        let t0 = c.now();
        c.advance(Duration::from_secs(90));
        let t1 = c.now();
        assert!((secs_between(t0, t1) - 90.0).abs() < 0.001);
        assert_eq!(c.speed(), 0.0);
    }

    #[test]
    fn formats() {
        let t: Timestamp = "2024-05-01T10:20:30.123456789Z".parse().unwrap();
        assert_eq!(rfc3339(t), "2024-05-01T10:20:30Z");
        assert_eq!(rfc3339_nano(t), "2024-05-01T10:20:30.123456789Z");
        assert_eq!(rfc3339_micro(t), "2024-05-01T10:20:30.123456Z");
        let whole: Timestamp = "2024-05-01T10:20:30Z".parse().unwrap();
        assert_eq!(rfc3339_micro(whole), "2024-05-01T10:20:30.000000Z");
    }
}
