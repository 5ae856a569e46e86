//! When a message whose delivery did not succeed is tried again, and when it is given up.
//!
//! A rate limit is a wait, not a failure: the platform said when to come back (`Retry-After`),
//! so it costs no attempt and no backoff. An outage (5xx, network trouble, no answer) backs off
//! exponentially, 5 s doubling to 5 min, each wait spread by up to ±20 % so that messages that
//! failed together do not all return together. A message is given up only when the platform
//! refuses it, once it has been failing for the configured `give_up_after`, or once it went out
//! [`MAX_UNANSWERED`] times without an answer: it has most likely arrived, and each further try
//! may only add a copy, so duplicates stay bounded.

use crate::domain::duration::format_duration;
use crate::ports::{ChatError, OutboxEntry};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The first wait after an outage.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// The longest wait after an outage.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Calls that went out without an answer after which a message is given up.
pub const MAX_UNANSWERED: u32 = 5;

/// The backoff after `attempts` failed attempts, before the spread: 1 → 5 s, 2 → 10 s, 3 → 20 s,
/// … at most 5 min.
pub fn retry_backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// `entry` rescheduled after `error` at `now`: a rate limit waits its `Retry-After` (spread a
/// little); any other error counts an attempt (and an unanswered one when the call may have been
/// carried out) and waits the backoff. Either starts the give-up clock if it is not running.
pub(super) fn postponed(entry: &OutboxEntry, error: &ChatError, now: Timestamp) -> OutboxEntry {
    let mut next = entry.clone();
    next.last_error = Some(error.to_string());
    next.failing_since.get_or_insert(now);
    let wait = match error {
        ChatError::RateLimited(d) => *d + spread(entry.key),
        _ => {
            next.attempts = next.attempts.saturating_add(1);
            if matches!(error, ChatError::NoAnswer(_)) {
                next.unanswered = next.unanswered.saturating_add(1);
            }
            jittered(retry_backoff(next.attempts), entry.key, next.attempts)
        }
    };
    let wait = SignedDuration::try_from(wait).unwrap_or(SignedDuration::from_secs(300));
    next.not_before = now.checked_add(wait).unwrap_or(now);
    next
}

/// Why `entry`, as rescheduled, is given up at `now`, if it is: it has been failing for
/// `give_up_after`, or went out [`MAX_UNANSWERED`] times without an answer.
pub(super) fn give_up_reason(
    entry: &OutboxEntry,
    now: Timestamp,
    give_up_after: Duration,
) -> Option<String> {
    let limit = SignedDuration::try_from(give_up_after).unwrap_or(SignedDuration::MAX);
    let failing = entry.failing_since.map(|since| now.duration_since(since));
    if failing.is_some_and(|f| f >= limit) {
        return Some(format!(
            "still failing after {}",
            format_duration(give_up_after)
        ));
    }
    (entry.unanswered >= MAX_UNANSWERED).then(|| {
        format!(
            "sent {} times without an answer: it has most likely arrived, and is not repeated",
            entry.unanswered
        )
    })
}

/// Up to 250 ms of spread so that many messages waiting on one `Retry-After` do not all return
/// at the same instant; derived from the key so it needs no random source.
fn spread(key: u64) -> Duration {
    Duration::from_millis(key.wrapping_mul(2_654_435_761) % 250)
}

/// `wait` scaled by 0.8 to 1.2, by a hash of the message and the attempt.
fn jittered(wait: Duration, key: u64, attempts: u32) -> Duration {
    let h = key
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u64::from(attempts).wrapping_mul(40_503));
    let per_mille = 800 + (h % 401) as u32;
    wait * per_mille / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Platform;
    use crate::domain::ids::RequestId;
    use crate::ports::{OutboxItem, OutboxMessage};

    fn entry(key: u64) -> OutboxEntry {
        let item = OutboxItem {
            platform: Platform::Slack,
            message: OutboxMessage::PostCard {
                request_id: RequestId(1),
            },
        };
        OutboxEntry::new(key, item, Timestamp::UNIX_EPOCH)
    }

    fn waited(e: &OutboxEntry, now: Timestamp) -> Duration {
        Duration::try_from(e.not_before.duration_since(now)).unwrap()
    }

    #[test]
    fn outages_back_off_from_5s_doubling_to_5min_with_a_spread() {
        let expected = [5, 10, 20, 40, 80, 160, 300, 300];
        for (n, secs) in expected.into_iter().enumerate() {
            assert_eq!(retry_backoff(n as u32 + 1), Duration::from_secs(secs));
        }
        let now = Timestamp::from_second(1_000).unwrap();
        let mut e = entry(7);
        for n in 1..=10 {
            e = postponed(&e, &ChatError::Unavailable("503".into()), now);
            let base = retry_backoff(n);
            let wait = waited(&e, now);
            assert!(
                wait >= base * 4 / 5 && wait <= base * 6 / 5,
                "{n}: {wait:?}"
            );
        }
        assert_eq!(e.attempts, 10);
        assert_eq!(e.failing_since, Some(now));
    }

    #[test]
    fn a_rate_limit_waits_retry_after_without_spending_an_attempt() {
        let now = Timestamp::from_second(1_000).unwrap();
        let mut e = entry(3);
        for _ in 0..100 {
            e = postponed(&e, &ChatError::RateLimited(Duration::from_secs(1)), now);
        }
        assert_eq!((e.attempts, e.unanswered), (0, 0));
        let wait = waited(&e, now);
        assert!(wait >= Duration::from_secs(1) && wait < Duration::from_millis(1250));
        assert_eq!(e.failing_since, Some(now), "the give-up clock runs");
    }

    #[test]
    fn a_message_is_given_up_after_give_up_after_or_five_lost_answers() {
        let start = Timestamp::from_second(1_000).unwrap();
        let lost = ChatError::NoAnswer("timed out".into());
        let e = postponed(&entry(1), &lost, start);
        assert_eq!((e.attempts, e.unanswered), (1, 1));
        let hour = Duration::from_secs(3600);
        let later = |s: i64| start.checked_add(SignedDuration::from_secs(s)).unwrap();
        assert_eq!(give_up_reason(&e, later(3599), hour), None);
        let why = give_up_reason(&e, later(3600), hour).unwrap();
        assert!(why.contains("still failing after 1h"), "{why}");
        assert_eq!(
            give_up_reason(&entry(1), later(9999), hour),
            None,
            "never failed"
        );
        let mut e = entry(1);
        for n in 1..=MAX_UNANSWERED {
            assert_eq!(give_up_reason(&e, start, hour), None, "{n}");
            e = postponed(&e, &lost, start);
        }
        let why = give_up_reason(&e, start, hour).unwrap();
        assert!(why.contains("5 times without an answer"), "{why}");
    }
}
