//! How `MattermostChat` turns the fake Mattermost's answers into `ChatError`s (429, 5xx, 4xx,
//! timeouts, unreachable servers), and `get_user` for re-checking who clicked.

mod common;

use common::fake_mattermost::fixtures::*;
use common::fake_mattermost::{Failure, FakeMattermost, UserKind, user_id};
use jiff::Timestamp;
use jitpe::chat::mattermost::client::MattermostChat;
use jitpe::domain::identity::Platform;
use jitpe::ports::{CardRef, Chat, ChatError};
use jitpe::testing::ManualClock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn http_429_is_rate_limited_for_the_x_ratelimit_reset_seconds() {
    let s = setup().await;
    s.fake.fail_next(1, Failure::RateLimited(7));
    let err = s.chat.post_line(&audit(), "x").await.unwrap_err();
    assert!(
        matches!(err, ChatError::RateLimited(d) if d == Duration::from_secs(7)),
        "{err:?}"
    );
    s.chat
        .post_line(&audit(), "x")
        .await
        .expect("the next call goes through");
}

#[tokio::test]
async fn http_429_without_a_usable_reset_waits_one_second_and_never_more_than_a_minute() {
    let s = setup().await;
    let cases = [
        (None, 1),
        (Some("soon"), 1),
        (Some("0"), 1),
        (Some("1700000000"), 60),
    ];
    for (header, secs) in cases {
        s.fake
            .fail_next(1, Failure::RateLimitedRaw(header.map(str::to_string)));
        let err = s.chat.post_line(&audit(), "x").await.unwrap_err();
        assert!(
            matches!(err, ChatError::RateLimited(d) if d == Duration::from_secs(secs)),
            "{header:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn server_errors_and_unreachable_servers_are_unavailable() {
    let s = setup().await;
    for status in [500, 502, 503] {
        s.fake.fail_next(1, Failure::Status(status));
        let err = s
            .chat
            .post_card(&approvers(), &pending(1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ChatError::Unavailable(m) if m.contains(&status.to_string())),
            "{err:?}"
        );
    }
    // A port nobody listens on: bind one, note it, and close it again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut c = config(&s.fake, TOKEN);
    c.base_url = format!("http://{addr}");
    let clock = Arc::new(ManualClock::at(Timestamp::from_second(NOW).unwrap()));
    let down = MattermostChat::new(c, clock).unwrap();
    let err = down.post_line(&audit(), "x").await.unwrap_err();
    assert!(matches!(err, ChatError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_channel_the_bot_may_not_post_in_is_refused_with_mattermosts_error_id() {
    let s = setup().await;
    s.fake.forbid_channel(&approvers());
    let err = s
        .chat
        .post_card(&approvers(), &pending(1))
        .await
        .unwrap_err();
    let ChatError::Refused(why) = err else {
        panic!("{err:?}")
    };
    assert!(
        why.contains("HTTP 403 api.context.permissions.app_error"),
        "{why}"
    );
    assert!(why.starts_with("POST posts"), "{why}");
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_the_error_never_shows_a_token() {
    let fake = FakeMattermost::start("the-right-token").await;
    let clock = Arc::new(ManualClock::at(Timestamp::from_second(NOW).unwrap()));
    let chat = MattermostChat::new(config(&fake, TOKEN), clock).unwrap();
    let err = chat.post_line(&audit(), "x").await.unwrap_err();
    let ChatError::Refused(why) = &err else {
        panic!("{err:?}")
    };
    assert!(
        why.contains("HTTP 401 api.context.session_expired.app_error"),
        "{why}"
    );
    for shown in [why.clone(), format!("{err:?}"), format!("{chat:?}")] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains("the-right-token"),
            "{shown}"
        );
    }
    assert!(!format!("{chat:?}").contains("jitpe-test-secret"));
}

#[tokio::test]
async fn a_slow_server_has_not_answered_after_the_timeout() {
    let s = setup().await;
    s.fake.fail_next(1, Failure::Delay(Duration::from_secs(3)));
    let err = s.chat.post_line(&audit(), "x").await.unwrap_err();
    // The post may have been made: retried with backoff, and counted as possibly delivered.
    assert!(
        matches!(&err, ChatError::NoAnswer(m) if m.contains("timed out")),
        "{err:?}"
    );
}

/// An answer lost after the post was made (a proxy dropping it, a timeout) is `NoAnswer`, so the
/// outbox counts the card as possibly posted; a server that cannot be reached is `Unavailable`.
#[tokio::test]
async fn a_lost_answer_is_no_answer_and_an_unreachable_server_is_unavailable() {
    let s = setup().await;
    s.fake.fail_next(1, Failure::Lost(Duration::from_secs(3)));
    let err = s
        .chat
        .post_card(&approvers(), &pending(1))
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::NoAnswer(_)), "{err:?}");
    assert_eq!(s.fake.posts(&approvers()).len(), 1, "the post was made");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = setup_with(|c| c.base_url = url).await;
    let err = down.chat.post_line(&audit(), "x").await.unwrap_err();
    assert!(matches!(&err, ChatError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn updating_a_vanished_post_or_another_platforms_card_is_refused() {
    let s = setup().await;
    let gone = CardRef {
        platform: Platform::Mattermost,
        channel: approvers(),
        message_id: user_id("gone"),
    };
    let err = s.chat.update_card(&gone, &pending(1)).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(m) if m.contains("HTTP 404 app.post.get.app_error")),
        "{err:?}"
    );
    assert_eq!(s.fake.calls_to("PUT posts/{id}/patch")[0].status, 404);
    let slack = CardRef {
        platform: Platform::Slack,
        channel: "C1".into(),
        message_id: "1.2".into(),
    };
    let err = s.chat.update_card(&slack, &pending(1)).await.unwrap_err();
    assert!(matches!(err, ChatError::Refused(_)), "{err:?}");
    assert_eq!(s.fake.calls().len(), 1, "no call for a Slack card");
}

#[tokio::test]
async fn get_user_reports_active_deactivated_and_bot_accounts() {
    let s = setup().await;
    s.fake
        .add_user(&user_id("alice"), "alice", UserKind::Active);
    s.fake
        .add_user(&user_id("carol"), "carol", UserKind::Deleted);
    s.fake.add_user(&user_id("robot"), "robot", UserKind::Bot);

    let alice = s.chat.get_user(&user_id("alice")).await.unwrap();
    assert_eq!(
        (alice.id.as_str(), alice.username.as_str()),
        (user_id("alice").as_str(), "alice")
    );
    assert!(alice.is_active_person());
    let carol = s.chat.get_user(&user_id("carol")).await.unwrap();
    assert!(carol.delete_at > 0 && !carol.is_active_person());
    let robot = s.chat.get_user(&user_id("robot")).await.unwrap();
    assert!(robot.is_bot && !robot.is_active_person());
    assert_eq!(s.fake.calls_to("GET users/{id}").len(), 3);

    let err = s.chat.get_user(&user_id("nobody")).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(m) if m.contains("HTTP 404")),
        "{err:?}"
    );
    let err = s.chat.get_user("me").await.unwrap_err();
    assert!(matches!(err, ChatError::Refused(_)), "{err:?}");
    assert_eq!(s.fake.calls().len(), 4, "no call for a malformed id");
}

#[tokio::test]
async fn the_fake_refuses_button_ids_and_contexts_the_real_server_would_break_on() {
    use common::fake_mattermost::check_props;
    let with = |action: Value| serde_json::json!({"attachments": [{"actions": [action]}]});
    let ok =
        serde_json::json!({"id": "approve", "integration": {"url": "u", "context": {"rid": "1"}}});
    assert_eq!(check_props(&with(ok)), Ok(()));
    let underscore = serde_json::json!({"id": "jit_approve", "integration": {"url": "u"}});
    assert!(check_props(&with(underscore)).is_err());
    let number =
        serde_json::json!({"id": "approve", "integration": {"url": "u", "context": {"rid": 1}}});
    assert!(check_props(&with(number)).is_err());
}
