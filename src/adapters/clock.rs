//! Clocks: the system clock, and a manual one for tests and benchmarks.

use crate::ports::Clock;
use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn at(t: Timestamp) -> Self {
        Self(Mutex::new(t))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: std::time::Duration) {
        let mut t = self.0.lock().expect("manual clock lock is never poisoned");
        let d = SignedDuration::try_from(d).expect("test durations fit a SignedDuration");
        *t = t.checked_add(d).expect("test clock stays in range");
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        *self.0.lock().expect("manual clock lock is never poisoned") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("manual clock lock is never poisoned")
    }
}
