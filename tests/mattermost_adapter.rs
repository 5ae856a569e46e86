//! `MattermostChat` against the fake Mattermost REST API on loopback: the cards it posts and
//! patches (attachments, signed buttons), its DMs, and user text that must not ping or hide links.
//! Error mapping and `get_user` are in `mattermost_adapter_errors.rs`.

mod common;

use common::fake_mattermost::fixtures::*;
use common::fake_mattermost::{UserKind, user_id};
use jitpe::chat::mattermost::sign::{self, ButtonContext, SignError};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::text::Text;
use jitpe::domain::view::{CardAction, RequestView};
use jitpe::ports::{Chat, ChatError};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn a_card_is_posted_as_the_bot_with_an_attachment_showing_the_request() {
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
    assert_eq!(card.platform, Platform::Mattermost);
    assert_eq!(card.channel, approvers());
    assert_eq!(card.message_id, call.response["id"].as_str().unwrap());
    assert_eq!(s.fake.posts(&approvers()).len(), 1);
}

#[tokio::test]
async fn a_cards_approve_and_deny_buttons_carry_string_contexts_signed_for_its_channel() {
    let s = setup().await;
    s.chat.post_card(&approvers(), &pending(2)).await.unwrap();

    let b = buttons(&s.fake.posts(&approvers())[0].props);
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
        sign::verify(
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
        .direct_message(&mm("bob"), &Text::ours("Your request `#42` was approved"))
        .await
        .unwrap();
    s.chat
        .direct_message(&mm("bob"), &Text::ours("expired"))
        .await
        .unwrap();

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
    s.chat
        .direct_message(&mm("bob"), &Text::ours("hi"))
        .await
        .unwrap();
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
        let err = s
            .chat
            .direct_message(&who, &Text::ours("hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::Refused(_)), "{who}: {err:?}");
    }
    assert!(s.fake.calls().is_empty());
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
        let unescaped = shown.replace(r"\]", "");
        assert!(!unescaped.contains("]("), "a link survives in {shown}");
    }
    assert_eq!(text.matches("**Status:**").count(), 1, "{text}");
    assert!(
        text.contains(r"\[the runbook\](https://evil.example)"),
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
