//! The fake Slack Web API itself refuses what the real one refuses, so adapter and flow tests
//! that pass against it mean something.

mod common;

use common::fake_slack::FakeSlack;
use jiff::Timestamp;
use jitpe::chat::slack::blocks::card_blocks;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::view::{CardAction, RequestView};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-test-token";

/// A pending card for request #42.
fn pending() -> RequestView {
    RequestView {
        id: RequestId(42),
        revision: 1,
        requester: Actor::new(Platform::Slack, "U0REQ"),
        role: "debug".into(),
        target: "shop".into(),
        duration: "15m".into(),
        reason: "INC-4411".into(),
        state: State::Pending,
        votes: vec![],
        votes_needed: 1,
        auto_approved: false,
        ended_by: None,
        end_reason: None,
        revoked_by_rule: None,
        usage: None,
        pending_until: Timestamp::from_second(1_700_003_600).unwrap(),
        expires_at: None,
        ended_at: None,
        extension: None,
        actions: vec![CardAction::Approve, CardAction::Deny],
        tier: None,
        labels: Vec::new(),
        copy: None,
    }
}

/// Posts raw JSON to the fake, as a client other than `SlackChat` might.
async fn raw(fake: &FakeSlack, method: &str, ct: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{}/{method}", fake.base_url))
        .header("content-type", ct)
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_fake_refuses_what_real_slack_refuses() {
    let fake = FakeSlack::start(TOKEN).await;
    let ct = "application/json; charset=utf-8";
    let blocks = card_blocks(&pending());
    let cases = [
        (
            "chat.postMessage",
            None,
            json!({"channel": "C1", "text": "x"}),
            "not_authed",
        ),
        (
            "chat.postMessage",
            Some("xoxb-no"),
            json!({"channel": "C1", "text": "x"}),
            "invalid_auth",
        ),
        (
            "chat.postMessage",
            Some(TOKEN),
            json!({"channel": "C1"}),
            "no_text",
        ),
        (
            "chat.update",
            Some(TOKEN),
            json!({"channel": "C1", "ts": 1700000000.0001, "text": "x", "blocks": blocks}),
            "invalid_arguments",
        ),
        (
            "chat.update",
            Some(TOKEN),
            json!({"channel": "C1", "ts": "1.2", "text": "x"}),
            "invalid_arguments",
        ),
        (
            "conversations.open",
            Some(TOKEN),
            json!({}),
            "users_list_not_supplied",
        ),
    ];
    for (method, token, body, code) in cases {
        let answer = raw(&fake, method, ct, token, body).await;
        assert_eq!(answer["error"], code, "{method}: {answer}");
    }
}

#[tokio::test]
async fn the_fake_checks_block_kit_limits_and_warns_about_a_missing_charset() {
    let fake = FakeSlack::start(TOKEN).await;
    let mut blocks = card_blocks(&pending());
    blocks[1]["elements"][0]["text"]["text"] = "A".repeat(76).into();
    let body = json!({"channel": "C1", "text": "x", "blocks": blocks});
    let answer = raw(
        &fake,
        "chat.postMessage",
        "application/json; charset=utf-8",
        Some(TOKEN),
        body,
    )
    .await;
    assert_eq!(answer["error"], "invalid_blocks", "{answer}");

    let body = json!({"channel": "C1", "text": "x"});
    let answer = raw(
        &fake,
        "chat.postMessage",
        "application/json",
        Some(TOKEN),
        body,
    )
    .await;
    assert_eq!(
        (&answer["ok"], &answer["warning"]),
        (&true.into(), &"missing_charset".into())
    );
}
