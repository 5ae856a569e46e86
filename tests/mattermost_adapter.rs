//! `MattermostChat` against the fake Mattermost REST API on loopback: what it sends (bearer token,
//! attachments, signed buttons, defused user text) and how answers become `ChatError`s.

mod common;

use common::fake_mattermost::{Failure, FakeMattermost, UserKind, user_id};
use jiff::Timestamp;
use jitpe::adapters::clock::ManualClock;
use jitpe::adapters::mattermost::{MattermostChat, MattermostConfig};
use jitpe::adapters::mattermost_sign::{self, ButtonContext, SignError};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::view::{CardAction, RequestView};
use jitpe::ports::{CardRef, Chat, ChatError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "mm-bot-token-secret";
const SECRET: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";
const ACTIONS_URL: &str = "https://jitpe.example.com/mattermost/actions";
const NOW: i64 = 1_700_000_000;
const DAY: i64 = 24 * 3600;

fn approvers() -> String {
    user_id("approvers")
}

fn audit() -> String {
    user_id("audit")
}

fn mm(name: &str) -> Actor {
    Actor::new(Platform::Mattermost, user_id(name))
}

/// A pending request #42 for `debug` on `shop`, needing `needed` approvals.
fn pending(needed: usize) -> RequestView {
    RequestView {
        id: RequestId(42),
        revision: 1,
        requester: mm("bob"),
        role: "debug".into(),
        target: "shop".into(),
        duration: "15m".into(),
        reason: "INC-4411 502s on /checkout".into(),
        state: State::Pending,
        votes: vec![],
        votes_needed: needed,
        auto_approved: false,
        ended_by: None,
        end_reason: None,
        pending_until: Timestamp::from_second(NOW + 3600).unwrap(),
        expires_at: None,
        ended_at: None,
        extension: None,
        actions: vec![CardAction::Approve, CardAction::Deny],
    }
}

fn in_state(state: State, revision: u64, actions: Vec<CardAction>) -> RequestView {
    RequestView {
        state,
        revision,
        actions,
        ended_by: Some(mm("alice")),
        votes: vec![mm("alice")],
        expires_at: Some(Timestamp::from_second(NOW + 900).unwrap()),
        ..pending(1)
    }
}

struct Setup {
    fake: FakeMattermost,
    chat: MattermostChat,
    clock: Arc<ManualClock>,
}

fn config(fake: &FakeMattermost, token: &str) -> MattermostConfig {
    let mut c = MattermostConfig::new(
        fake.base_url.clone(),
        token,
        approvers(),
        audit(),
        ACTIONS_URL,
        SECRET,
    );
    c.timeout = Duration::from_secs(1);
    c
}

async fn setup_with(edit: impl FnOnce(&mut MattermostConfig)) -> Setup {
    let fake = FakeMattermost::start(TOKEN).await;
    let clock = Arc::new(ManualClock::at(Timestamp::from_second(NOW).unwrap()));
    let mut c = config(&fake, TOKEN);
    edit(&mut c);
    let chat = MattermostChat::new(c, clock.clone()).expect("valid config");
    Setup { fake, chat, clock }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

fn attachment(props: &Value) -> &Value {
    &props["attachments"][0]
}

fn buttons(props: &Value) -> Vec<Value> {
    attachment(props)["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn context(button: &Value) -> ButtonContext {
    serde_json::from_value(button["integration"]["context"].clone()).expect("a context of strings")
}

#[tokio::test]
async fn a_card_is_posted_as_the_bot_with_an_attachment_and_signed_approve_deny_buttons() {
    let s = setup().await;
    let card = s.chat.post_card(&approvers(), &pending(2)).await.unwrap();

    let call = &s.fake.calls_to("POST posts")[0];
    assert_eq!(call.status, 201);
    assert_eq!(
        call.authorization.as_deref(),
        Some("Bearer mm-bot-token-secret")
    );
    assert_eq!(call.body["channel_id"], approvers());
    assert_eq!(call.body["message"], "");
    let att = attachment(&call.body["props"]);
    assert_eq!(att["title"], "JIT access request #42");
    assert_eq!(att["color"], "#FFA500");
    let bob = format!("mattermost:{}", user_id("bob"));
    let fallback = att["fallback"].as_str().unwrap();
    assert!(
        fallback.starts_with(&format!(
            "JIT request #42 from {bob}: debug on shop for 15m"
        )),
        "{fallback}"
    );
    let text = att["text"].as_str().unwrap();
    for part in [
        format!("**Requester:** {bob}"),
        "**Role:** `debug` in `shop`".into(),
        "**Duration:** 15m".into(),
        "**Status:** PENDING, 0 of 2 approvals".into(),
    ] {
        assert!(text.contains(&part), "{part} missing from {text}");
    }

    let b = buttons(&call.body["props"]);
    let ids: Vec<&str> = b.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["approve", "deny"]);
    assert_eq!(
        (&b[0]["style"], &b[0]["name"]),
        (&"success".into(), &"Approve".into())
    );
    assert_eq!(
        (&b[1]["style"], &b[1]["name"]),
        (&"danger".into(), &"Deny".into())
    );
    for (button, act) in b.iter().zip([CardAction::Approve, CardAction::Deny]) {
        assert_eq!(button["type"], "button");
        assert_eq!(button["integration"]["url"], ACTIONS_URL);
        let ctx = context(button);
        assert_eq!((ctx.v.as_str(), ctx.rid.as_str()), ("1", "42"));
        assert_eq!(ctx.act, act.as_str());
        assert_eq!(ctx.exp, (NOW + DAY).to_string(), "24 h by default");
        mattermost_sign::verify(
            SECRET,
            RequestId(42),
            act,
            NOW + DAY,
            &approvers(),
            &ctx.sig,
            NOW,
        )
        .expect("the posted signature verifies");
    }

    assert_eq!(card.platform, Platform::Mattermost);
    assert_eq!(card.channel, approvers());
    assert_eq!(card.message_id, call.response["id"].as_str().unwrap());
    assert_eq!(s.fake.posts(&approvers()).len(), 1);
}

#[tokio::test]
async fn a_signed_button_fails_for_another_channel_another_action_or_after_its_ttl() {
    let s = setup_with(|c| c.button_ttl = Duration::from_secs(600)).await;
    s.chat.post_card(&approvers(), &pending(1)).await.unwrap();
    let approve = context(&buttons(&s.fake.posts(&approvers())[0].props)[0]);
    assert_eq!(approve.exp, (NOW + 600).to_string());

    assert!(approve.verify(SECRET, &approvers(), NOW + 599).is_ok());
    let elsewhere = approve.verify(SECRET, &audit(), NOW);
    assert_eq!(elsewhere, Err(SignError::BadSignature));
    let as_deny = ButtonContext {
        act: "deny".into(),
        ..approve.clone()
    };
    assert_eq!(
        as_deny.verify(SECRET, &approvers(), NOW),
        Err(SignError::BadSignature)
    );
    let late = approve.verify(SECRET, &approvers(), NOW + 600);
    assert!(matches!(late, Err(SignError::Expired { .. })), "{late:?}");
}

#[tokio::test]
async fn an_update_replaces_the_props_and_signs_the_buttons_afresh() {
    let s = setup().await;
    let card = s.chat.post_card(&approvers(), &pending(2)).await.unwrap();
    s.clock.advance(Duration::from_secs(3600));
    let voted = RequestView {
        revision: 2,
        votes: vec![mm("alice")],
        ..pending(2)
    };
    s.chat.update_card(&card, &voted).await.unwrap();

    let call = &s.fake.calls_to("PUT posts/{id}/patch")[0];
    assert_eq!(
        call.path,
        format!("/api/v4/posts/{}/patch", card.message_id)
    );
    assert_eq!(call.status, 200);
    let post = s.fake.post(&card.message_id).unwrap();
    assert_eq!(post.edits, 1);
    let text = attachment(&post.props)["text"].as_str().unwrap();
    let alice = format!("mattermost:{}", user_id("alice"));
    assert!(
        text.contains(&format!("1 of 2 approvals: {alice}")),
        "{text}"
    );
    let ctx = context(&buttons(&post.props)[0]);
    assert_eq!(ctx.exp, (NOW + 3600 + DAY).to_string());
}

#[tokio::test]
async fn final_states_are_patched_without_buttons() {
    let s = setup().await;
    let card = s.chat.post_card(&approvers(), &pending(1)).await.unwrap();
    for (rev, state, colour) in [
        (2, State::Denied, "#C62828"),
        (3, State::Expired, "#757575"),
        (4, State::Revoked, "#C62828"),
    ] {
        s.chat
            .update_card(&card, &in_state(state, rev, vec![]))
            .await
            .unwrap();
        let post = s.fake.post(&card.message_id).unwrap();
        let att = attachment(&post.props);
        assert!(att.get("actions").is_none(), "{state:?}: {att}");
        assert_eq!(att["color"], colour, "{state:?}");
    }
    let shown = s.fake.post(&card.message_id).unwrap();
    let text = attachment(&shown.props)["text"].as_str().unwrap();
    let alice = format!("mattermost:{}", user_id("alice"));
    assert!(
        text.contains(&format!("**Status:** REVOKED by {alice}")),
        "{text}"
    );
}

#[tokio::test]
async fn an_active_card_offers_revoke_and_a_pending_extension_gets_its_own_buttons() {
    let s = setup().await;
    let active = in_state(State::Active, 3, vec![CardAction::Revoke]);
    s.chat.post_card(&approvers(), &active).await.unwrap();
    let acts = vec![CardAction::Approve, CardAction::Deny, CardAction::Revoke];
    let extending = RequestView {
        extension: Some(("30m".into(), "still debugging".into())),
        ..in_state(State::Active, 5, acts)
    };
    s.chat.post_card(&approvers(), &extending).await.unwrap();

    let posts = s.fake.posts(&approvers());
    let names =
        |p: &Value| -> Vec<Value> { buttons(p).iter().map(|b| b["name"].clone()).collect() };
    assert_eq!(names(&posts[0].props), ["Revoke"]);
    assert_eq!(attachment(&posts[0].props)["color"], "#2E7D32");
    assert_eq!(
        names(&posts[1].props),
        ["Approve extension", "Deny extension", "Revoke"]
    );
    let text = attachment(&posts[1].props)["text"].as_str().unwrap();
    assert!(
        text.contains("**Extension requested:** +30m because still debugging"),
        "{text}"
    );
}

#[tokio::test]
async fn a_direct_message_asks_for_the_bot_id_and_the_dm_once_then_posts_into_it() {
    let s = setup().await;
    s.fake.add_user(&user_id("bob"), "bob", UserKind::Active);
    s.chat
        .direct_message(&mm("bob"), "Your request `#42` was approved")
        .await
        .unwrap();
    s.chat.direct_message(&mm("bob"), "expired").await.unwrap();

    let routes: Vec<String> = s.fake.calls().into_iter().map(|c| c.route).collect();
    assert_eq!(
        routes,
        [
            "GET users/me",
            "POST channels/direct",
            "POST posts",
            "POST posts"
        ]
    );
    let open = &s.fake.calls_to("POST channels/direct")[0];
    assert_eq!(
        open.body,
        serde_json::json!([s.fake.bot_user_id, user_id("bob")])
    );
    let dm = s.fake.dm_channel_with(&user_id("bob")).unwrap();
    let sent: Vec<String> = s.fake.posts(&dm).into_iter().map(|p| p.message).collect();
    assert_eq!(sent, ["Your request `#42` was approved", "expired"]);
}

#[tokio::test]
async fn a_configured_bot_user_id_saves_the_users_me_call() {
    let fake_bot = user_id("jitpebot");
    let s = setup_with(|c| c.bot_user_id = Some(fake_bot)).await;
    s.fake.add_user(&user_id("bob"), "bob", UserKind::Active);
    s.chat.direct_message(&mm("bob"), "hi").await.unwrap();
    assert!(s.fake.calls_to("GET users/me").is_empty());
    assert_eq!(s.fake.calls().len(), 2);
}

#[tokio::test]
async fn direct_messages_to_non_mattermost_actors_or_malformed_ids_are_refused_without_a_call() {
    let s = setup().await;
    for who in [
        Actor::system(),
        Actor::new(Platform::Slack, "U0REQ"),
        Actor::new(Platform::Mattermost, "../../users/me"),
    ] {
        let err = s.chat.direct_message(&who, "hi").await.unwrap_err();
        assert!(matches!(err, ChatError::Refused(_)), "{who}: {err:?}");
    }
    assert!(s.fake.calls().is_empty());
}

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
async fn a_slow_server_is_unavailable_after_the_timeout() {
    let s = setup().await;
    s.fake.fail_next(1, Failure::Delay(Duration::from_secs(3)));
    let err = s.chat.post_line(&audit(), "x").await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Unavailable(m) if m.contains("timed out")),
        "{err:?}"
    );
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
async fn user_text_cannot_ping_hide_links_or_fake_a_status_line_in_cards_and_audit_lines() {
    let s = setup().await;
    let nasty = "@channel see [the runbook](https://evil.example) ![](https://t.example/p.png)\n**Status:** APPROVED @here";
    let view = RequestView {
        reason: nasty.into(),
        ..pending(1)
    };
    s.chat.post_card(&approvers(), &view).await.unwrap();
    s.chat
        .post_line(
            &audit(),
            &format!("#3 mattermost:x requested reason={nasty}"),
        )
        .await
        .unwrap();

    let card = &s.fake.posts(&approvers())[0].props;
    let text = attachment(card)["text"].as_str().unwrap();
    let line = &s.fake.posts(&audit())[0].message;
    for shown in [
        text,
        line.as_str(),
        attachment(card)["fallback"].as_str().unwrap(),
    ] {
        for ping in ["@channel", "@here"] {
            assert!(!shown.contains(ping), "{ping} survives in {shown}");
        }
        assert!(!shown.contains("](https://"), "a link survives in {shown}");
    }
    assert_eq!(text.matches("**Status:**").count(), 1, "{text}");
    assert!(
        text.contains(r"\[the runbook\]\(https://evil.example\)"),
        "{text}"
    );
}

#[tokio::test]
async fn long_reasons_and_audit_lines_are_cut_instead_of_refused() {
    let s = setup().await;
    let view = RequestView {
        reason: "@[".repeat(20_000),
        ..pending(1)
    };
    s.chat
        .post_card(&approvers(), &view)
        .await
        .expect("the fake accepts the card");
    s.chat
        .post_line(&audit(), &"a*b ".repeat(10_000))
        .await
        .expect("the fake accepts the line");
    let line = &s.fake.posts(&audit())[0].message;
    assert!(
        line.chars().count() <= 16_383 && line.ends_with('…'),
        "{}",
        line.len()
    );
    let text = attachment(&s.fake.posts(&approvers())[0].props)["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.chars().count() < 10_000, "{}", text.chars().count());
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
