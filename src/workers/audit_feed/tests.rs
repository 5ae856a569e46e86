//! The feed over a store in memory and a recording chat, on a manual clock.

use super::*;
use crate::domain::audit::AuditDraft;
use crate::domain::fixtures::t0;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::ports::ChatError;
use crate::store::memory::MemStore;
use crate::testing::{ChatCall, ManualClock, RecordingChat};

struct Rig {
    store: Arc<dyn crate::ports::Store>,
    clock: Arc<ManualClock>,
    chat: Arc<RecordingChat>,
    feed: AuditFeed,
}

fn rig() -> Rig {
    let store: Arc<dyn crate::ports::Store> = Arc::new(MemStore::new());
    let clock = Arc::new(ManualClock::at(t0()));
    let chat = Arc::new(RecordingChat::new(Platform::Slack));
    let settings = AuditFeedSettings {
        spacing: Duration::from_secs(1),
        chain_head_interval: Duration::from_secs(24 * 3600),
    };
    let chats: Vec<Arc<dyn Chat>> = vec![chat.clone()];
    let feed = AuditFeed::new(store.clone(), clock.clone(), chats, settings);
    Rig {
        store,
        clock,
        chat,
        feed,
    }
}

impl Rig {
    fn forged(&self, n: usize) {
        for _ in 0..n {
            let d = AuditDraft::new(Actor::system(), "auth_failed", None)
                .with("route", "/slack/commands")
                .with("kind", "signature");
            self.store.append_audit(d, self.clock.now()).unwrap();
        }
    }

    fn real(&self, id: u64) {
        let d = AuditDraft::new(Actor::system(), "expired", Some(RequestId(id)));
        self.store.append_audit(d, self.clock.now()).unwrap();
    }

    /// One pass a second later than the last.
    async fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
        self.feed.post_audit().await.unwrap();
    }

    fn lines(&self) -> Vec<String> {
        self.chat
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                ChatCall::Line { text, .. } if !text.starts_with("audit chain head") => Some(text),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn a_flood_of_auth_failures_neither_delays_real_lines_nor_posts_more_than_a_line_a_minute() {
    let r = rig();
    // A minute's worth of forged requests, then a real event.
    r.forged(60);
    r.real(1);
    r.tick().await;
    assert_eq!(
        r.lines(),
        ["#61 system:jitpe expired request #1"],
        "real first"
    );
    r.tick().await;
    let summary = "60 refused unauthenticated request(s) since the last summary: \
                   60 × /slack/commands signature (records #1 to #60)";
    assert_eq!(r.lines()[1], summary);
    // The flood goes on; real events still go out at once, the failures wait for the minute.
    for second in 0..59 {
        r.forged(1);
        if second == 30 {
            r.real(2);
        }
        r.tick().await;
    }
    let lines = r.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[2].ends_with("expired request #2"), "{}", lines[2]);
    r.tick().await;
    let lines = r.lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[3].starts_with("59 refused unauthenticated"),
        "{}",
        lines[3]
    );
    assert!(
        !lines.iter().any(|l| l.contains("auth_failed")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_restart_neither_loses_nor_repeats_a_summary() {
    let r = rig();
    r.forged(3);
    r.tick().await;
    assert_eq!(r.lines().len(), 1);
    r.forged(2);
    r.tick().await;
    let settings = AuditFeedSettings {
        spacing: Duration::from_secs(1),
        chain_head_interval: Duration::from_secs(24 * 3600),
    };
    let chats: Vec<Arc<dyn Chat>> = vec![r.chat.clone()];
    let restarted = AuditFeed::new(r.store.clone(), r.clock.clone(), chats, settings);
    r.clock.advance(Duration::from_secs(1));
    restarted.post_audit().await.unwrap();
    restarted.post_audit().await.unwrap();
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].starts_with("2 refused unauthenticated"),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn a_failing_channel_is_retried_with_backoff_and_a_rate_limit_waits_its_retry_after() {
    let r = rig();
    r.real(1);
    r.chat
        .fail(Some(ChatError::Unavailable("answer lost".into())));
    for _ in 0..60 {
        r.tick().await;
    }
    // Backoff 5, 10, 20 s: tries at 1, 6, 16 and 36 s, not 60 times a second apart.
    assert_eq!(r.chat.attempts(), 4);
    r.chat
        .fail(Some(ChatError::RateLimited(Duration::from_secs(30))));
    let before = r.chat.attempts();
    for _ in 0..100 {
        r.tick().await;
    }
    // The try at 76 s (40 s after 36) is rate limited, then one each 30 s: 106, 136.
    assert_eq!(r.chat.attempts() - before, 3);
    r.chat.fail(None);
    for _ in 0..31 {
        r.tick().await;
    }
    assert_eq!(r.lines().len(), 1, "{:?}", r.lines());
}
