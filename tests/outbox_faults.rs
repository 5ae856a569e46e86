//! The outbox under chat faults, against the fake Slack with a manual clock: a 429 storm delays
//! a card but never loses it, a long outage gives it up (audited, the requester told), lost
//! answers back off and the live copy of a re-posted card says which it is, and messages that
//! waited out an outage or a restart never report a state that is over.

mod common;

use common::fake_slack::{Failure, FakeSlack, Message, dm_channel_of};
use common::outbox_rig::{Options, Rig, drain, rig, started, started_with, submit};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::{Event, State};
use jitpe::testing::ManualClock;
use std::sync::Arc;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

fn audit_actions(r: &Rig) -> Vec<String> {
    let records = r.store.audit_from(1, 10_000).unwrap();
    records.into_iter().map(|a| a.action).collect()
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.to_string()).collect()
}

fn dms(fake: &FakeSlack) -> Vec<String> {
    texts(&fake.messages(&dm_channel_of("UREQ")))
}

async fn approve(r: &Rig, id: RequestId) {
    let by = Actor::new(Platform::Slack, "UAPP1");
    r.svc.apply(id, Event::Approve { by }).await.unwrap();
}

#[tokio::test]
async fn a_429_storm_of_60_calls_delays_a_card_but_never_loses_it() {
    let (fake, _dir, r) = started().await;
    fake.fail_next_on("chat.postMessage", 60, Failure::RateLimited(1));
    submit(&r).await;
    let passes = drain(&r, 2 * SECOND, 200).await;
    assert!(passes < 200, "the card is still waiting after 200 passes");
    assert_eq!(fake.calls_to("chat.postMessage").len(), 61);
    assert_eq!(fake.messages("CAPPROVERS").len(), 1, "posted once, at last");
    let actions = audit_actions(&r);
    assert!(
        !actions.iter().any(|a| a == "chat_delivery_failed"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_outage_past_give_up_after_gives_the_card_up_audits_it_and_tells_the_requester() {
    let opts = Options {
        // Shorter than the pending round (1 h), after which the card waits for the timeout.
        give_up_after: 30 * MINUTE,
        ..Options::default()
    };
    let (fake, _dir, r) = started_with(opts).await;
    fake.fail_channel("CAPPROVERS", Some(Failure::Status(503)));
    submit(&r).await;
    drain(&r, MINUTE, 25).await;
    assert!(
        !audit_actions(&r).contains(&"chat_delivery_failed".to_string()),
        "not given up before 30 min of failures"
    );
    let calls = fake.calls_to("chat.postMessage").len();
    assert!(
        (7..=14).contains(&calls),
        "backed off: {calls} calls in 25 min"
    );
    drain(&r, MINUTE, 10).await;
    assert!(audit_actions(&r).contains(&"chat_delivery_failed".to_string()));
    assert!(fake.messages("CAPPROVERS").is_empty());
    let told = dms(&fake);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("could not be shown to the approvers") && told[0].contains("/jit cancel"),
        "{told:?}"
    );
    assert!(r.store.outbox_all().unwrap().is_empty());
    let metrics = r.svc.metrics().render();
    let given_up = r#"jitpe_chat_deliveries_total{platform="slack",outcome="given_up"} 1"#;
    assert!(metrics.lines().any(|l| l == given_up), "{metrics}");
    let no_retry = r#"jitpe_chat_deliveries_total{platform="slack",outcome="retry"} 0"#;
    assert!(
        !metrics.lines().any(|l| l == no_retry),
        "retried first: {metrics}"
    );
}

#[tokio::test]
async fn a_refused_card_is_given_up_at_once_and_the_requester_is_told() {
    let (fake, _dir, r) = started().await;
    fake.fail_channel("CAPPROVERS", Some(Failure::Error("not_in_channel".into())));
    submit(&r).await;
    drain(&r, SECOND, 5).await;
    assert_eq!(
        fake.calls_to("chat.postMessage").len(),
        2,
        "the card, then the DM"
    );
    let told = dms(&fake);
    assert!(told[0].contains("not_in_channel"), "{told:?}");
}

/// The answers to the first two posts are lost (the client gives up after 200 ms, the fake
/// answers after 1 s): the card is posted three times, 5 s and 10 s apart rather than 1 s, and
/// the third copy, the one jitpe knows, says which copy it is and gets every later update.
#[tokio::test]
async fn lost_answers_back_off_and_the_live_copy_of_the_card_says_which_it_is() {
    let opts = Options {
        client_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let (fake, _dir, r) = started_with(opts).await;
    fake.fail_next_on("chat.postMessage", 2, Failure::Lost(SECOND));
    let id = submit(&r).await;
    for _ in 0..4 {
        r.outbox.deliver().await.unwrap();
        r.clock.advance(SECOND);
    }
    assert_eq!(
        fake.calls_to("chat.postMessage").len(),
        1,
        "no retry within 4 s of a lost answer"
    );
    drain(&r, SECOND, 30).await;
    let copies = fake.messages("CAPPROVERS");
    assert_eq!(copies.len(), 3, "posted, lost, posted, lost, posted");
    let stored = r.store.cards(id).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].message_id, copies[2].ts,
        "jitpe knows the last copy"
    );
    let shows = |m: &Message, n: u32| {
        m.blocks
            .to_string()
            .contains(&format!("Copy {n} of this card"))
    };
    assert!(shows(&copies[1], 2) && shows(&copies[2], 3), "{copies:?}");
    approve(&r, id).await;
    drain(&r, SECOND, 10).await;
    let copies = fake.messages("CAPPROVERS");
    assert_eq!(copies.len(), 3, "updates never post again");
    assert_eq!((copies[0].updates, copies[1].updates), (0, 0));
    assert!(copies[2].updates >= 1);
    let live = copies[2].blocks.to_string();
    assert!(live.contains("ACTIVE") && shows(&copies[2], 3), "{live}");
}

/// Slack is down from before the "ends soon" warning until after the access expired: the
/// warning is dropped when it comes up for delivery, the expiry message is sent.
#[tokio::test]
async fn an_ends_soon_warning_delayed_past_the_expiry_is_dropped() {
    let (fake, _dir, r) = started().await;
    let id = submit(&r).await;
    approve(&r, id).await;
    drain(&r, SECOND, 10).await;
    fake.fail_channel(&dm_channel_of("UREQ"), Some(Failure::Status(503)));
    r.clock.advance(11 * MINUTE); // past the warning, 5 min before the end
    r.svc.run_due().await.unwrap();
    drain(&r, SECOND, 3).await;
    r.clock.advance(5 * MINUTE);
    r.svc.run_due().await.unwrap();
    assert_eq!(
        r.store.get(id).unwrap().unwrap().value.state,
        State::Expired
    );
    fake.fail_channel(&dm_channel_of("UREQ"), None);
    drain(&r, 10 * SECOND, 60).await;
    let told = dms(&fake);
    assert!(told.iter().any(|t| t.contains("has expired")), "{told:?}");
    assert!(!told.iter().any(|t| t.contains("ends soon")), "{told:?}");
    assert!(r.store.outbox_all().unwrap().is_empty());
}

/// Approved while Slack failed, then a crash, then a restart after the access expired: the
/// restarted outbox (which may run before the expiry worker) sends neither "approved: active
/// until …" nor an ACTIVE card; the card ends up EXPIRED and the requester is told it expired.
#[tokio::test]
async fn after_a_restart_past_the_expiry_no_active_card_or_approval_message_is_sent() {
    let fake = common::fake_slack::FakeSlack::start(common::outbox_rig::TOKEN).await;
    let dir = tempfile::TempDir::new().unwrap();
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    {
        let r = rig(dir.path(), &fake, clock.clone());
        let id = submit(&r).await;
        r.outbox.deliver().await.unwrap();
        fake.fail_next(2, Failure::Status(500));
        approve(&r, id).await;
        r.outbox.deliver().await.unwrap();
        assert!(dms(&fake).is_empty());
    } // kill -9: the store keeps the queued card update and approval message
    clock.advance(20 * MINUTE);
    let r = rig(dir.path(), &fake, clock.clone());
    drain(&r, SECOND, 5).await;
    let card = || fake.messages("CAPPROVERS")[0].blocks.to_string();
    assert!(!card().contains("ACTIVE"), "{}", card());
    assert!(dms(&fake).is_empty(), "{:?}", dms(&fake));
    r.svc.run_due().await.unwrap();
    drain(&r, SECOND, 10).await;
    assert!(card().contains("EXPIRED"), "{}", card());
    let told = dms(&fake);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("has expired"), "{told:?}");
}

/// Slack takes every post to the approvers channel but its answers never arrive: the card is
/// posted at most five times, then given up (audited) and the requester told.
#[tokio::test]
async fn answers_that_never_arrive_give_a_card_up_after_five_copies() {
    let opts = Options {
        client_timeout: Duration::from_millis(100),
        ..Options::default()
    };
    let (fake, _dir, r) = started_with(opts).await;
    fake.fail_channel(
        "CAPPROVERS",
        Some(Failure::Lost(Duration::from_millis(500))),
    );
    submit(&r).await;
    drain(&r, MINUTE, 30).await;
    assert_eq!(
        fake.messages("CAPPROVERS").len(),
        5,
        "duplicates are bounded"
    );
    assert!(audit_actions(&r).contains(&"chat_delivery_failed".to_string()));
    let told = dms(&fake);
    assert!(
        told.len() == 1 && told[0].contains("without an answer"),
        "{told:?}"
    );
}
