//! The system clock. Tests and benchmarks use `testing::ManualClock`.

use crate::ports::Clock;
use jiff::Timestamp;

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
