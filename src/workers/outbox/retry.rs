//! When a message whose delivery failed is tried again.

use crate::ports::{ChatError, OutboxEntry};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// Exponential backoff for outages: 2^attempts seconds, at most 5 minutes.
pub fn retry_backoff(attempts: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.min(9)).min(300))
}

/// The next attempt after `error`: the platform's `Retry-After` (spread a little) or the
/// backoff for the attempts so far.
pub(super) fn at(now: Timestamp, error: &ChatError, entry: &OutboxEntry) -> Timestamp {
    let wait = match error {
        ChatError::RateLimited(d) => *d + jitter(entry.key),
        _ => retry_backoff(entry.attempts),
    };
    let wait = SignedDuration::try_from(wait).unwrap_or(SignedDuration::from_secs(60));
    now.checked_add(wait).unwrap_or(now)
}

/// Up to 250 ms of spread so that many messages waiting on one `Retry-After` do not all return
/// at the same instant; derived from the key so it needs no random source.
fn jitter(key: u64) -> Duration {
    Duration::from_millis(key.wrapping_mul(2_654_435_761) % 250)
}
