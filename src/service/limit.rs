//! A cap on how many refusals are written to the audit log per minute.
//!
//! Every refused request is audited, but a flood must not be able to grow the log (and its
//! fsyncs) without bound: each kind of refusal on each route is audited at most
//! [`PER_KIND_PER_WINDOW`] times a minute, and all kinds together at most [`PER_WINDOW`] times,
//! so one flood cannot hide the others. Past the cap refusals are only counted, and the next
//! audited refusal of the same kind says how many were left out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Audited refusals allowed per window, all kinds together.
pub const PER_WINDOW: u32 = 60;
/// Audited refusals allowed per window for one route and kind.
pub const PER_KIND_PER_WINDOW: u32 = 10;
/// Window length in seconds.
pub const WINDOW_SECS: i64 = 60;

/// What refusals are grouped by: the route and a fixed word for the kind of refusal. Both are
/// jitpe's own constants, so a sender cannot make the map grow.
pub type RefusalKey = (&'static str, &'static str);

/// Counts refusals per one-minute window.
#[derive(Debug, Default)]
pub struct RefusalLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: Window,
    kinds: HashMap<RefusalKey, Window>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    audited: u32,
    left_out: u64,
}

impl Window {
    fn roll(&mut self, now: i64) {
        if now - self.start >= WINDOW_SECS {
            self.start = now;
            self.audited = 0;
        }
    }
}

impl RefusalLimiter {
    /// Whether a refusal of `key` at `now` (Unix seconds) is audited; if so, also how many of
    /// that key were left out of the audit log since the last audited one.
    pub fn admit(&self, key: RefusalKey, now: i64) -> Option<u64> {
        // Plain counters: a panic elsewhere while holding the lock leaves them usable.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.total.roll(now);
        let total_full = s.total.audited >= PER_WINDOW;
        let kind = s.kinds.entry(key).or_default();
        kind.roll(now);
        if total_full || kind.audited >= PER_KIND_PER_WINDOW {
            kind.left_out += 1;
            return None;
        }
        kind.audited += 1;
        let left_out = std::mem::take(&mut kind.left_out);
        s.total.audited += 1;
        Some(left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: RefusalKey = ("/r", "signature");

    #[test]
    fn refusals_past_the_cap_are_counted_and_reported_with_the_next_audited_one() {
        let l = RefusalLimiter::default();
        for _ in 0..PER_KIND_PER_WINDOW {
            assert_eq!(l.admit(KEY, 1000), Some(0));
        }
        assert_eq!(l.admit(KEY, 1001), None);
        assert_eq!(l.admit(KEY, 1002), None);
        assert_eq!(l.admit(KEY, 1000 + WINDOW_SECS), Some(2));
        assert_eq!(l.admit(KEY, 1000 + WINDOW_SECS), Some(0));
    }

    #[test]
    fn one_flooded_kind_leaves_room_for_the_others_within_the_total() {
        let l = RefusalLimiter::default();
        for _ in 0..100 {
            l.admit(KEY, 1000);
        }
        assert_eq!(l.admit(("/r", "content_type"), 1000), Some(0));
        let kinds = ["a", "b", "c", "d", "e", "f", "g"];
        let admitted: u32 = kinds
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, 10))
            .filter(|k| l.admit(("/r", k), 1000).is_some())
            .count() as u32;
        assert_eq!(
            admitted,
            PER_WINDOW - PER_KIND_PER_WINDOW - 1,
            "the total caps"
        );
    }
}
