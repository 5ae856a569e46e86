//! A cache and a limiter in front of a [`TokenReviewer`], so that a CI job calling the API
//! several times a second costs one TokenReview, and a flood of tokens cannot turn into a flood
//! of TokenReviews.
//!
//! - Accepted tokens are remembered for [`DEFAULT_POSITIVE_TTL`] (10 s): a token whose
//!   ServiceAccount is deleted, or that expires, can still be accepted for up to that long.
//! - Refused tokens are remembered for [`DEFAULT_NEGATIVE_TTL`] (5 s), so one bad token retried
//!   in a loop is judged once per 5 s. Failures to ask are never remembered.
//! - Tokens not in the cache are sent to the apiserver at most [`DEFAULT_MISSES_PER_SECOND`]
//!   per second on average, in bursts of up to [`DEFAULT_MISS_BURST`]; beyond that the answer
//!   is [`TokenError::Throttled`] without asking. Distinct garbage tokens defeat any cache, so
//!   this bound, not the cache, is what protects the apiserver; cached tokens are still served.
//! - The cache is keyed by the SHA-256 of the token and the audiences, never the token itself,
//!   and holds at most [`DEFAULT_CAPACITY`] entries, the oldest evicted first. (With the default
//!   rate, fewer than 300 entries can be live at once; the bound is for other settings.)
//!
//! Time comes from the [`Clock`] port, so tests advance it.

use crate::config::Secret;
use crate::ports::{Clock, Reviewed, TokenError, TokenReviewer};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long an accepted token is accepted without asking again.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(10);
/// How long a refused token is refused without asking again.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The most tokens remembered at once.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// The average rate of TokenReviews for tokens not in the cache.
pub const DEFAULT_MISSES_PER_SECOND: u32 = 20;
/// How many TokenReviews may go out at once before the rate applies.
pub const DEFAULT_MISS_BURST: u32 = 50;

/// The cache's settings; `Default` gives the documented constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// See [`DEFAULT_POSITIVE_TTL`].
    pub positive_ttl: Duration,
    /// See [`DEFAULT_NEGATIVE_TTL`]; zero remembers no refusal.
    pub negative_ttl: Duration,
    /// See [`DEFAULT_CAPACITY`].
    pub capacity: usize,
    /// See [`DEFAULT_MISSES_PER_SECOND`].
    pub misses_per_second: u32,
    /// See [`DEFAULT_MISS_BURST`].
    pub miss_burst: u32,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            capacity: DEFAULT_CAPACITY,
            misses_per_second: DEFAULT_MISSES_PER_SECOND,
            miss_burst: DEFAULT_MISS_BURST,
        }
    }
}

/// SHA-256 of a token and the audiences it was reviewed for.
type Key = [u8; 32];

struct Entry {
    answer: Result<Reviewed, TokenError>,
    expires: Timestamp,
    /// Which insertion this is, to tell its place in `order` from an older one of the same key.
    seq: u64,
}

struct State {
    entries: HashMap<Key, Entry>,
    /// Keys in insertion order (with their `seq`), oldest first, for eviction.
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
    /// The token bucket of misses: how many may go out now, and when it was last refilled.
    allowance: f64,
    refilled: Timestamp,
}

/// A [`TokenReviewer`] that remembers answers of `inner` and limits how often it is asked.
pub struct CachedTokenReviewer<R> {
    inner: R,
    clock: Arc<dyn Clock>,
    limits: CacheLimits,
    state: Mutex<State>,
}

impl<R: TokenReviewer> CachedTokenReviewer<R> {
    /// Caches `inner`'s answers with `limits`, reading the time from `clock`.
    pub fn new(inner: R, clock: Arc<dyn Clock>, limits: CacheLimits) -> Self {
        let now = clock.now();
        Self {
            inner,
            clock,
            limits,
            state: Mutex::new(State {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
                allowance: f64::from(limits.miss_burst),
                refilled: now,
            }),
        }
    }

    /// How many answers are remembered (live or not yet evicted), for tests and metrics.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered answer for `key`, or leave to ask (counted against the rate).
    fn lookup(&self, key: &Key) -> Option<Result<Reviewed, TokenError>> {
        let now = self.clock.now();
        let mut state = self.lock();
        if let Some(entry) = state.entries.get(key) {
            if entry.expires > now {
                return Some(entry.answer.clone());
            }
            state.entries.remove(key);
        }
        let elapsed = now.duration_since(state.refilled).as_secs_f64().max(0.0);
        let rate = f64::from(self.limits.misses_per_second);
        state.allowance = (state.allowance + elapsed * rate).min(f64::from(self.limits.miss_burst));
        state.refilled = now;
        if state.allowance < 1.0 {
            return Some(Err(TokenError::Throttled));
        }
        state.allowance -= 1.0;
        None
    }

    /// Remembers `answer` if it is a judgement on the token.
    fn remember(&self, key: Key, answer: &Result<Reviewed, TokenError>) {
        let ttl = match answer {
            Ok(_) => self.limits.positive_ttl,
            Err(TokenError::Refused(_)) => self.limits.negative_ttl,
            Err(TokenError::Unavailable(_) | TokenError::Throttled) => return,
        };
        if ttl.is_zero() || self.limits.capacity == 0 {
            return;
        }
        let now = self.clock.now();
        let Some(expires) = SignedDuration::try_from(ttl)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
        else {
            return;
        };
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        let answer = answer.clone();
        state.entries.insert(
            key,
            Entry {
                answer,
                expires,
                seq,
            },
        );
        state.order.push_back((key, seq));
        state.evict(now, self.limits.capacity);
    }
}

impl State {
    /// Drops expired and superseded entries from the front, then the oldest beyond `capacity`.
    fn evict(&mut self, now: Timestamp, capacity: usize) {
        while let Some(&(key, seq)) = self.order.front() {
            let current = self.entries.get(&key).filter(|e| e.seq == seq);
            match current {
                None => {}
                Some(e) if e.expires <= now || self.entries.len() > capacity => {
                    self.entries.remove(&key);
                }
                Some(_) => break,
            }
            self.order.pop_front();
        }
        // Superseded places behind a live front entry: rebuild once they outnumber the live.
        if self.order.len() > 2 * capacity.max(self.entries.len()) {
            let mut live: Vec<(Key, u64)> = self.entries.iter().map(|(k, e)| (*k, e.seq)).collect();
            live.sort_by_key(|&(_, seq)| seq);
            self.order = live.into();
        }
    }
}

/// The cache key: the token and each audience, length-prefixed so no two inputs share one.
fn key(token: &Secret, audiences: &[String]) -> Key {
    let mut hash = Sha256::new();
    for part in std::iter::once(token.expose()).chain(audiences.iter().map(String::as_str)) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

#[async_trait]
impl<R: TokenReviewer> TokenReviewer for CachedTokenReviewer<R> {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        let key = key(token, audiences);
        if let Some(answer) = self.lookup(&key) {
            return answer;
        }
        let answer = self.inner.review(token, audiences).await;
        self.remember(key, &answer);
        answer
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
