//! How long an audit channel is left alone after a failed post: its `Retry-After` for a rate
//! limit, else the outbox's backoff (5 s doubling to 5 min) by failures in a row. Without it the
//! feed retried every poll (1 s), so lost answers posted one line many times, 1 s apart.

use crate::domain::identity::Platform;
use crate::ports::ChatError;
use crate::workers::outbox::retry_backoff;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;

/// Failures in a row per channel, and until when it is left alone.
#[derive(Debug, Default)]
pub(super) struct Holds(HashMap<Platform, (u32, Timestamp)>);

impl Holds {
    /// Whether `platform`'s channel may be posted to at `now`.
    pub fn open(&self, platform: Platform, now: Timestamp) -> bool {
        self.0.get(&platform).is_none_or(|(_, until)| *until <= now)
    }

    /// Records a failed post at `now`.
    pub fn failed(&mut self, platform: Platform, now: Timestamp, error: &ChatError) {
        let failures = self.0.get(&platform).map_or(0, |(n, _)| *n) + 1;
        let wait = match error {
            ChatError::RateLimited(d) => *d,
            _ => retry_backoff(failures),
        };
        let wait = SignedDuration::try_from(wait).unwrap_or(SignedDuration::from_secs(300));
        self.0
            .insert(platform, (failures, now.checked_add(wait).unwrap_or(now)));
    }

    /// Records a post that went through: the channel is open again.
    pub fn succeeded(&mut self, platform: Platform) {
        self.0.remove(&platform);
    }
}
