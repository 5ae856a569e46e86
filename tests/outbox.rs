//! The durable outbox against a fake Slack Web API: Retry-After honoured, one message per second
//! per channel, delivery survives a restart, and chat trouble never delays an expiry.

mod common;
mod store_fixtures;

use common::fake_slack::{Failure, FakeSlack, dm_channel_of};
use common::outbox_rig::{TOKEN, rig, started, submit};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::{Event, State};
use jitpe::metrics::Metrics;
use jitpe::ports::{Chat, Store};
use jitpe::testing::ManualClock;
use jitpe::workers::outbox::{Outbox, OutboxSettings};
use jitpe::workers::{Worker, WorkerState};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_rate_limited_card_is_delivered_once_after_retry_after() {
    let (fake, _dir, r) = started().await;
    submit(&r).await;
    fake.fail_next_on("chat.postMessage", 1, Failure::RateLimited(7));
    let first = r.outbox.deliver().await.unwrap();
    assert_eq!((first.sent, first.postponed), (0, 1));
    r.clock.advance(Duration::from_secs(5));
    r.outbox.deliver().await.unwrap();
    assert_eq!(
        fake.calls_to("chat.postMessage").len(),
        1,
        "nothing is sent before Retry-After"
    );
    r.clock.advance(Duration::from_secs(3));
    let later = r.outbox.deliver().await.unwrap();
    assert_eq!(later.sent, 1);
    assert_eq!(
        fake.messages("CAPPROVERS").len(),
        1,
        "delivered exactly once"
    );
    assert!(r.store.outbox_all().unwrap().is_empty());
}

#[tokio::test]
async fn delivery_survives_a_restart_and_keeps_order_per_channel() {
    let fake = FakeSlack::start(TOKEN).await;
    let dir = tempfile::TempDir::new().unwrap();
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let id = {
        let r = rig(dir.path(), &fake, clock.clone());
        let id = submit(&r).await;
        r.svc
            .apply(
                id,
                Event::Approve {
                    by: Actor::new(Platform::Slack, "UAPP1"),
                },
            )
            .await
            .unwrap();
        fake.fail_next_on("chat.postMessage", 1, Failure::Status(500));
        r.outbox.deliver().await.unwrap();
        assert!(fake.messages("CAPPROVERS").is_empty());
        id
    };
    let r = rig(dir.path(), &fake, clock.clone());
    for _ in 0..6 {
        clock.advance(Duration::from_secs(3));
        r.outbox.deliver().await.unwrap();
    }
    let cards = fake.messages("CAPPROVERS");
    assert_eq!(cards.len(), 1, "one card, posted after the restart");
    assert!(
        cards[0].updates >= 1,
        "then updated in place, never posted twice"
    );
    assert!(
        cards[0].text.to_string().contains("ACTIVE"),
        "{:?}",
        cards[0].text
    );
    assert_eq!(
        fake.messages(&dm_channel_of("UREQ")).len(),
        1,
        "the approval DM"
    );
    assert_eq!(r.store.cards(id).unwrap().len(), 1);
    assert!(r.store.outbox_all().unwrap().is_empty());
}

#[tokio::test]
async fn one_message_per_second_per_channel() {
    let (fake, _dir, r) = started().await;
    submit(&r).await;
    submit(&r).await;
    let pass = r.outbox.deliver().await.unwrap();
    assert_eq!(pass.sent, 1, "the second card waits for its turn");
    r.clock.advance(Duration::from_millis(500));
    assert_eq!(r.outbox.deliver().await.unwrap().sent, 0);
    r.clock.advance(Duration::from_millis(500));
    assert_eq!(r.outbox.deliver().await.unwrap().sent, 1);
    assert_eq!(fake.messages("CAPPROVERS").len(), 2);
}

#[tokio::test]
async fn slack_being_down_never_delays_an_expiry() {
    let (fake, _dir, r) = started().await;
    let id = submit(&r).await;
    r.svc
        .apply(
            id,
            Event::Approve {
                by: Actor::new(Platform::Slack, "UAPP1"),
            },
        )
        .await
        .unwrap();
    fake.fail_next(1000, Failure::Status(503));
    r.outbox.deliver().await.unwrap();
    r.clock.advance(Duration::from_secs(900));
    r.svc.run_due().await.unwrap();
    assert_eq!(
        r.store.get(id).unwrap().unwrap().value.state,
        State::Expired
    );
    assert!(
        !r.store.outbox_all().unwrap().is_empty(),
        "messages wait for Slack to return"
    );
}

#[tokio::test]
async fn audit_records_reach_the_audit_channel_and_the_chain_head_follows() {
    let (fake, _dir, r) = started().await;
    submit(&r).await;
    for _ in 0..3 {
        r.audit.post_audit().await.unwrap();
        r.clock.advance(Duration::from_secs(1));
    }
    let lines: Vec<String> = fake
        .messages("CAUDIT")
        .iter()
        .map(|m| m.text.to_string())
        .collect();
    assert!(lines[0].contains("requested request #1"), "{lines:?}");
    assert!(
        lines[0].contains("&lt;b&gt;"),
        "user text is escaped: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("audit chain head: record 1")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_outbox_idles_until_its_next_message_may_go_out() {
    let (fake, _dir, mut r) = started().await;
    submit(&r).await;
    submit(&r).await;
    let second = Duration::from_secs(1);
    let state = r.outbox.work().await.unwrap();
    assert_eq!(
        state,
        WorkerState::Idle { until: second },
        "the second card waits for the channel's spacing, and the worker with it"
    );
    r.clock.advance(second);
    assert!(matches!(
        r.outbox.work().await.unwrap(),
        WorkerState::Idle { .. }
    ));
    assert_eq!(fake.messages("CAPPROVERS").len(), 2);
}

#[tokio::test]
async fn a_rate_limited_outbox_sleeps_instead_of_spinning() {
    let (fake, _dir, mut r) = started().await;
    submit(&r).await;
    fake.fail_next_on("chat.postMessage", 1, Failure::RateLimited(7));
    let WorkerState::Idle { until } = r.outbox.work().await.unwrap() else {
        panic!("a message waiting on Retry-After is no reason to run again at once");
    };
    assert!(until > Duration::ZERO);
    assert_eq!(fake.calls_to("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn a_commit_that_queues_messages_wakes_the_outbox() {
    let (_fake, _dir, r) = started().await;
    let signal = r.svc.outbox_signal();
    submit(&r).await;
    // The permit is kept until someone waits, so a worker busy at the time still sees it.
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("the submit woke the outbox");
}

/// A backlog longer than one read of the outbox (512) on the approvers channel: the first pass
/// still reaches the direct message queued after it, because each channel keeps its own FIFO.
#[tokio::test]
async fn a_long_card_backlog_does_not_hold_back_a_direct_message_queued_after_it() {
    use jitpe::domain::request::Notice;
    use jitpe::ports::{OutboxItem, OutboxMessage};
    use jitpe::testing::{ChatCall, RecordingChat};
    let store: Arc<dyn Store> = Arc::new(jitpe::store::memory::MemStore::new());
    for id in 1..=600 {
        store_fixtures::create(&*store, id, 60);
    }
    let dm = OutboxItem {
        platform: Platform::Slack,
        message: OutboxMessage::Notify {
            request_id: RequestId(600),
            user: Actor::new(Platform::Slack, "UREQ"),
            // True of the pending request #600 (an approval notice would be stale and dropped).
            notice: Notice::CardUndelivered {
                error: "test".into(),
            },
        },
    };
    let req = store_fixtures::pending(601, 60);
    let draft = store_fixtures::draft("requested", 601);
    store
        .create(&req, draft, store_fixtures::ts(0), &[dm])
        .unwrap();
    let chat = Arc::new(RecordingChat::new(Platform::Slack));
    // Before the fixtures' rounds end (at 60 s), so their cards are current.
    let clock = Arc::new(ManualClock::at(store_fixtures::ts(0)));
    let settings = OutboxSettings {
        spacing: Duration::from_secs(1),
        give_up_after: Duration::from_secs(6 * 3600),
    };
    let policy = Arc::new(common::world::policy("rachel", &["shop"]));
    let outbox = Outbox::new(
        store.clone(),
        clock.clone(),
        vec![chat.clone() as Arc<dyn Chat>],
        policy,
        settings,
        Arc::new(Metrics::default()),
    );
    let first = outbox.deliver().await.unwrap();
    assert_eq!((first.sent, first.postponed), (2, 599));
    let calls = chat.calls();
    assert!(matches!(&calls[0], ChatCall::PostCard { view, .. } if view.id == RequestId(1)));
    assert!(matches!(&calls[1], ChatCall::Direct { user, .. } if user.id == "UREQ"));
    clock.advance(Duration::from_secs(1));
    let second = outbox.deliver().await.unwrap();
    assert_eq!(
        (second.sent, second.postponed),
        (1, 598),
        "one card per second"
    );
    assert_eq!(store.outbox_all().unwrap().len(), 598);
}
