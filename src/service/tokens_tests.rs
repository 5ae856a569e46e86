use super::*;
use crate::testing::ManualClock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Answers by the token's text: `ok-*` accepted, `down-*` unavailable, anything else refused;
/// counts calls.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
}

#[async_trait]
impl TokenReviewer for &Counting {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let t = token.expose();
        if t.starts_with("ok-") {
            Ok(Reviewed {
                username: format!("system:serviceaccount:ci:{t}"),
                uid: format!("uid-{t}"),
                groups: vec![],
                audiences: audiences.to_vec(),
            })
        } else if t.starts_with("down-") {
            Err(TokenError::Unavailable("apiserver down".into()))
        } else {
            Err(TokenError::Refused("invalid bearer token".into()))
        }
    }
}

impl Counting {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at("2026-01-01T00:00:00Z".parse().unwrap()))
}

fn jitpe() -> Vec<String> {
    vec!["jitpe".into()]
}

/// Limits with a rate that never gets in the way, unless a test says otherwise.
fn generous() -> CacheLimits {
    CacheLimits {
        misses_per_second: 1_000_000,
        miss_burst: 1_000_000,
        ..CacheLimits::default()
    }
}

async fn ask<R: TokenReviewer>(
    c: &CachedTokenReviewer<R>,
    t: &str,
) -> Result<Reviewed, TokenError> {
    c.review(&Secret::new(t), &jitpe()).await
}

#[tokio::test]
async fn an_accepted_token_is_asked_once_per_positive_ttl() {
    let (fake, clock) = (Counting::default(), clock());
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), generous());
    let first = ask(&cache, "ok-a").await.unwrap();
    assert_eq!(ask(&cache, "ok-a").await.unwrap(), first);
    clock.advance(DEFAULT_POSITIVE_TTL - Duration::from_millis(1));
    assert_eq!(ask(&cache, "ok-a").await.unwrap(), first);
    assert_eq!(fake.calls(), 1, "served from the cache within the TTL");
    clock.advance(Duration::from_millis(1));
    assert_eq!(ask(&cache, "ok-a").await.unwrap(), first);
    assert_eq!(fake.calls(), 2, "asked again once the TTL is over");
}

#[tokio::test]
async fn each_audience_list_is_its_own_entry() {
    let (fake, clock) = (Counting::default(), clock());
    let cache = CachedTokenReviewer::new(&fake, clock, generous());
    let token = Secret::new("ok-a");
    cache.review(&token, &jitpe()).await.unwrap();
    let other = cache.review(&token, &["other".to_string()]).await.unwrap();
    assert_eq!(other.audiences, ["other"]);
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn a_refusal_is_remembered_briefly_and_a_failure_to_ask_not_at_all() {
    let (fake, clock) = (Counting::default(), clock());
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), generous());
    for _ in 0..3 {
        assert!(ask(&cache, "garbage").await.unwrap_err().is_refused());
    }
    assert_eq!(fake.calls(), 1);
    clock.advance(DEFAULT_NEGATIVE_TTL);
    assert!(ask(&cache, "garbage").await.unwrap_err().is_refused());
    assert_eq!(fake.calls(), 2, "asked again after the negative TTL");
    for _ in 0..3 {
        let err = ask(&cache, "down-a").await.unwrap_err();
        assert!(matches!(err, TokenError::Unavailable(_)), "{err:?}");
    }
    assert_eq!(fake.calls(), 5, "failures to ask are not remembered");
}

#[tokio::test]
async fn a_zero_negative_ttl_remembers_no_refusal() {
    let (fake, clock) = (Counting::default(), clock());
    let limits = CacheLimits {
        negative_ttl: Duration::ZERO,
        ..generous()
    };
    let cache = CachedTokenReviewer::new(&fake, clock, limits);
    ask(&cache, "garbage").await.unwrap_err();
    ask(&cache, "garbage").await.unwrap_err();
    assert_eq!(fake.calls(), 2);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn the_oldest_entry_is_evicted_beyond_capacity() {
    let (fake, clock) = (Counting::default(), clock());
    let limits = CacheLimits {
        capacity: 3,
        ..generous()
    };
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), limits);
    for t in ["ok-1", "ok-2", "ok-3", "ok-4"] {
        ask(&cache, t).await.unwrap();
        clock.advance(Duration::from_millis(10));
    }
    assert_eq!(cache.len(), 3);
    for t in ["ok-2", "ok-3", "ok-4"] {
        ask(&cache, t).await.unwrap();
    }
    assert_eq!(fake.calls(), 4, "the three newest are still cached");
    ask(&cache, "ok-1").await.unwrap();
    assert_eq!(fake.calls(), 5, "the oldest was evicted");
    assert_eq!(cache.len(), 3);
}

#[tokio::test]
async fn expired_entries_are_dropped_as_new_ones_arrive() {
    let (fake, clock) = (Counting::default(), clock());
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), generous());
    for n in 0..100 {
        ask(&cache, &format!("ok-{n}")).await.unwrap();
    }
    clock.advance(DEFAULT_POSITIVE_TTL);
    ask(&cache, "ok-new").await.unwrap();
    assert_eq!(cache.len(), 1, "only the live entry is kept");
}

#[tokio::test]
async fn a_repeatedly_renewed_token_keeps_the_order_queue_bounded() {
    let (fake, clock) = (Counting::default(), clock());
    let limits = CacheLimits {
        capacity: 2,
        positive_ttl: Duration::from_secs(100),
        negative_ttl: Duration::from_secs(1),
        ..generous()
    };
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), limits);
    // A long-lived entry at the front, then one refused token renewed over and over behind it.
    ask(&cache, "ok-front").await.unwrap();
    for _ in 0..50 {
        ask(&cache, "garbage").await.unwrap_err();
        clock.advance(Duration::from_secs(1));
    }
    assert!(
        cache.lock().order.len() <= 4,
        "{}",
        cache.lock().order.len()
    );
    ask(&cache, "ok-front").await.unwrap();
    assert_eq!(fake.calls(), 51, "the front entry survived the compaction");
}

#[tokio::test]
async fn misses_beyond_the_rate_are_throttled_without_asking_but_hits_are_served() {
    let (fake, clock) = (Counting::default(), clock());
    let limits = CacheLimits {
        misses_per_second: 2,
        miss_burst: 3,
        ..CacheLimits::default()
    };
    let cache = CachedTokenReviewer::new(&fake, clock.clone(), limits);
    ask(&cache, "ok-cached").await.unwrap();
    ask(&cache, "junk-1").await.unwrap_err();
    ask(&cache, "junk-2").await.unwrap_err();
    assert_eq!(ask(&cache, "junk-3").await, Err(TokenError::Throttled));
    assert_eq!(ask(&cache, "ok-new").await, Err(TokenError::Throttled));
    assert_eq!(fake.calls(), 3, "throttled tokens were not sent");
    assert!(ask(&cache, "ok-cached").await.is_ok(), "hits cost nothing");
    clock.advance(Duration::from_millis(500));
    assert!(ask(&cache, "ok-new").await.is_ok(), "one more after 1/rate");
    assert_eq!(ask(&cache, "ok-other").await, Err(TokenError::Throttled));
    clock.advance(Duration::from_secs(60));
    for n in 0..3 {
        assert!(ask(&cache, &format!("ok-burst-{n}")).await.is_ok());
    }
    assert_eq!(
        ask(&cache, "ok-over").await,
        Err(TokenError::Throttled),
        "burst caps refill"
    );
}

#[test]
fn the_key_is_a_hash_that_separates_token_from_audiences() {
    let token = Secret::new("abc");
    let k = key(&token, &jitpe());
    assert_ne!(k, key(&Secret::new("abcjitpe"), &[]));
    assert_ne!(k, key(&token, &["jitp".into(), "e".into()]));
    assert_eq!(k, key(&Secret::new("abc"), &jitpe()));
}
