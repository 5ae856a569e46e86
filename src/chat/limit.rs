//! A cap on how many authentication failures are written to the audit log per minute.
//!
//! Every refused request is audited, but unauthenticated traffic must not be able to grow the
//! log (and its fsyncs) without bound: past the cap, failures are only counted, and the next
//! audited failure says how many were left out.

use std::sync::Mutex;

/// Audited failures allowed per window.
pub const AUDITS_PER_WINDOW: u32 = 60;
/// Window length in seconds.
pub const WINDOW_SECS: i64 = 60;

/// Counts auth failures per one-minute window.
#[derive(Debug, Default)]
pub struct AuthAuditLimiter {
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    start: i64,
    audited: u32,
    suppressed: u64,
}

impl AuthAuditLimiter {
    /// Whether a failure at `now` (Unix seconds) is audited; if so, also how many failures
    /// were left out of the audit log since the last audited one.
    pub fn admit(&self, now: i64) -> Option<u64> {
        let mut w = self.state.lock().expect("limiter lock is never poisoned");
        if now - w.start >= WINDOW_SECS {
            w.start = now;
            w.audited = 0;
        }
        if w.audited >= AUDITS_PER_WINDOW {
            w.suppressed += 1;
            return None;
        }
        w.audited += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_cap_are_counted_and_reported_with_the_next_audited_one() {
        let l = AuthAuditLimiter::default();
        for _ in 0..AUDITS_PER_WINDOW {
            assert_eq!(l.admit(1000), Some(0));
        }
        assert_eq!(l.admit(1001), None);
        assert_eq!(l.admit(1002), None);
        assert_eq!(l.admit(1000 + WINDOW_SECS), Some(2));
        assert_eq!(l.admit(1000 + WINDOW_SECS), Some(0));
    }
}
