//! The time source. Commands and features take a `&dyn Clock` so tests pin the time and
//! countdowns, timestamps and tables are deterministic.

/// The time source; tests pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> jiff::Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}
