//! `SlackChat` against the fake Slack Web API on loopback: what it sends (token, charset,
//! Block Kit) and how Slack's answers become `ChatError`s.

mod common;

use common::fake_slack::{Failure, FakeSlack, dm_channel_of};
use jiff::Timestamp;
use jitpe::chat::slack::blocks::{MAX_SECTION_TEXT, card_blocks};
use jitpe::chat::slack::client::{SlackChat, SlackConfig};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::text::Text;
use jitpe::domain::view::{CardAction, RequestView};
use jitpe::ports::{CardRef, Chat, ChatError};
use serde_json::Value;
use std::time::Duration;

const TOKEN: &str = "xoxb-test-token";

fn slack(id: &str) -> Actor {
    Actor::new(Platform::Slack, id)
}

/// A pending request #42 for `debug` on `shop`, needing `needed` approvals.
fn pending(needed: usize) -> RequestView {
    RequestView {
        id: RequestId(42),
        revision: 1,
        requester: slack("U0REQ"),
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

fn in_state(state: State, revision: u64, actions: Vec<CardAction>) -> RequestView {
    RequestView {
        state,
        revision,
        actions,
        ended_by: Some(slack("U0APP")),
        votes: vec![slack("U0APP")],
        expires_at: Some(Timestamp::from_second(1_700_004_500).unwrap()),
        ..pending(1)
    }
}

async fn setup() -> (FakeSlack, SlackChat) {
    let fake = FakeSlack::start(TOKEN).await;
    let mut config = SlackConfig::new(TOKEN, "C0APPROVERS", "C0AUDIT");
    config.api_base_url = fake.base_url.clone();
    config.timeout = Duration::from_secs(2);
    (fake, SlackChat::new(config).expect("valid config"))
}

fn buttons(blocks: &Value) -> Vec<Value> {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .collect()
}

fn section_text(blocks: &Value) -> String {
    blocks[0]["text"]["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_card_is_posted_with_token_charset_fallback_text_and_approve_deny_buttons() {
    let (fake, chat) = setup().await;
    let card = chat.post_card("C0APPROVERS", &pending(2)).await.unwrap();

    let call = &fake.calls_to("chat.postMessage")[0];
    assert_eq!(
        call.authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert!(
        call.response.get("warning").is_none(),
        "{:?}",
        call.response
    );
    assert_eq!(call.body["channel"], "C0APPROVERS");
    let text = call.body["text"].as_str().unwrap();
    assert!(
        text.starts_with("JIT request #42 from <@U0REQ>: debug on shop for 15m"),
        "{text}"
    );
    let blocks = &call.body["blocks"];
    assert_eq!(blocks[0]["block_id"], "jit_summary_42_v1");
    assert_eq!(blocks[1]["block_id"], "jit_review_42_v1");
    let summary = section_text(blocks);
    for part in [
        "#42",
        "<@U0REQ>",
        "`debug` in `shop`",
        "15m",
        "INC-4411 502s on /checkout",
    ] {
        assert!(summary.contains(part), "{part} missing from {summary}");
    }
    let status = blocks[0]["fields"][0]["text"].as_str().unwrap();
    assert!(status.contains("PENDING, 0 of 2 approvals"), "{status}");

    let b = buttons(blocks);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (&b[0]["action_id"], &b[0]["style"]),
        (&"jit_approve".into(), &"primary".into())
    );
    assert_eq!(
        (&b[1]["action_id"], &b[1]["style"]),
        (&"jit_deny".into(), &"danger".into())
    );
    assert!(
        b[1]["confirm"]["title"]["text"].is_string(),
        "deny asks to confirm"
    );
    assert!(b.iter().all(|x| x["value"] == "42"));

    assert_eq!(card.platform, Platform::Slack);
    assert_eq!(card.channel, "C0APPROVERS");
    assert_eq!(card.message_id, call.response["ts"].as_str().unwrap());
}

#[tokio::test]
async fn an_update_replaces_text_and_blocks_with_new_block_ids_and_a_string_ts() {
    let (fake, chat) = setup().await;
    let card = chat.post_card("C0APPROVERS", &pending(2)).await.unwrap();
    let voted = RequestView {
        revision: 2,
        votes: vec![slack("U0APP")],
        ..pending(2)
    };
    chat.update_card(&card, &voted).await.unwrap();

    let call = &fake.calls_to("chat.update")[0];
    assert_eq!(call.body["channel"], "C0APPROVERS");
    assert_eq!(call.body["ts"], Value::String(card.message_id.clone()));
    assert!(call.body["text"].is_string());
    assert_eq!(call.body["blocks"][0]["block_id"], "jit_summary_42_v2");
    let status = call.body["blocks"][0]["fields"][0]["text"]
        .as_str()
        .unwrap();
    assert!(status.contains("1 of 2 approvals: <@U0APP>"), "{status}");
    let now = fake.message("C0APPROVERS", &card.message_id).unwrap();
    assert_eq!(now.updates, 1);
}

#[tokio::test]
async fn final_states_are_shown_without_buttons() {
    let (fake, chat) = setup().await;
    let card = chat.post_card("C0APPROVERS", &pending(1)).await.unwrap();
    for (rev, state) in [(2, State::Denied), (3, State::Expired), (4, State::Revoked)] {
        chat.update_card(&card, &in_state(state, rev, vec![]))
            .await
            .unwrap();
        let last = fake.calls_to("chat.update").pop().unwrap();
        let blocks = &last.body["blocks"];
        assert_eq!(blocks.as_array().unwrap().len(), 1, "{state:?}: {blocks}");
        assert!(buttons(blocks).is_empty());
    }
    let shown = fake.message("C0APPROVERS", &card.message_id).unwrap();
    assert!(shown.text.as_str().unwrap().contains("REVOKED by <@U0APP>"));
}

#[tokio::test]
async fn an_active_card_offers_revoke_behind_a_confirmation() {
    let view = in_state(State::Active, 3, vec![CardAction::Revoke]);
    let b = buttons(&card_blocks(&view));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["action_id"], "jit_revoke");
    assert_eq!(b[0]["style"], "danger");
    assert_eq!(b[0]["confirm"]["confirm"]["text"], "Revoke");
    assert_eq!(card_blocks(&view)[1]["block_id"], "jit_review_42_v3");
}

#[tokio::test]
async fn a_direct_message_opens_the_dm_once_then_posts_into_it() {
    let (fake, chat) = setup().await;
    chat.direct_message(
        &slack("U0REQ"),
        &Text::ours("approved, ")
            .person(&slack("U0APP"))
            .and(" said"),
    )
    .await
    .unwrap();
    chat.direct_message(&slack("U0REQ"), &Text::ours("expired"))
        .await
        .unwrap();

    let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["conversations.open", "chat.postMessage", "chat.postMessage"]
    );
    assert_eq!(
        fake.calls_to("conversations.open")[0].body["users"],
        "U0REQ"
    );
    let dms = fake.messages(&dm_channel_of("U0REQ"));
    assert_eq!(dms.len(), 2);
    assert_eq!(dms[0].text, "approved, <@U0APP> said");
}

#[tokio::test]
async fn a_direct_message_to_someone_outside_slack_is_refused_without_a_call() {
    let (fake, chat) = setup().await;
    let err = chat
        .direct_message(&Actor::system(), &Text::ours("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Refused(_)), "{err:?}");
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn http_429_is_rate_limited_for_the_retry_after_seconds() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::RateLimited(7));
    let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
    assert!(
        matches!(err, ChatError::RateLimited(d) if d == Duration::from_secs(7)),
        "{err:?}"
    );
    chat.post_line("C0AUDIT", "x")
        .await
        .expect("the next call goes through");
}

#[tokio::test]
async fn http_429_without_a_usable_retry_after_waits_one_second() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::RateLimitedRaw(None));
    fake.fail_next(
        1,
        Failure::RateLimitedRaw(Some("Wed, 21 Oct 2015 07:28:00 GMT".into())),
    );
    for _ in 0..2 {
        let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
        assert!(
            matches!(err, ChatError::RateLimited(d) if d == Duration::from_secs(1)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn server_errors_and_transient_codes_are_unavailable() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::Status(500));
    fake.fail_next(1, Failure::Status(503));
    fake.fail_next(1, Failure::Error("internal_error".into()));
    for _ in 0..3 {
        let err = chat
            .post_card("C0APPROVERS", &pending(1))
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::Unavailable(_)), "{err:?}");
    }
}

#[tokio::test]
async fn ok_false_errors_are_refused_except_ratelimited() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::Error("channel_not_found".into()));
    let err = chat.post_card("C0GONE", &pending(1)).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(s) if s.ends_with("channel_not_found")),
        "{err:?}"
    );
    fake.fail_next(1, Failure::Error("ratelimited".into()));
    let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
    assert!(
        matches!(err, ChatError::RateLimited(d) if d == Duration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_as_invalid_auth() {
    let fake = FakeSlack::start("xoxb-other").await;
    let mut config = SlackConfig::new(TOKEN, "C0APPROVERS", "C0AUDIT");
    config.api_base_url = fake.base_url.clone();
    let chat = SlackChat::new(config).unwrap();
    let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(s) if s.ends_with("invalid_auth")),
        "{err:?}"
    );
}

/// A post whose answer is lost was made: `NoAnswer`, so the outbox numbers the next copy; a
/// refused connection did nothing: `Unavailable`.
#[tokio::test]
async fn a_lost_answer_is_no_answer_and_a_refused_connection_is_unavailable() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::Lost(Duration::from_secs(4)));
    let err = chat
        .post_card("C0APPROVERS", &pending(1))
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::NoAnswer(_)), "{err:?}");
    assert_eq!(fake.messages("C0APPROVERS").len(), 1, "the card was posted");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = SlackConfig::new(TOKEN, "C0APPROVERS", "C0AUDIT");
    config.api_base_url = format!("http://{}/api", closed.local_addr().unwrap());
    drop(closed);
    let down = SlackChat::new(config).unwrap();
    let err = down.post_line("C0AUDIT", "x").await.unwrap_err();
    assert!(matches!(&err, ChatError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_slow_slack_has_not_answered_after_the_timeout() {
    let (fake, chat) = setup().await;
    fake.fail_next(1, Failure::Delay(Duration::from_secs(5)));
    let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
    // The message may have been posted: retried with backoff, and counted as possibly posted.
    assert!(
        matches!(&err, ChatError::NoAnswer(s) if s.contains("timed out")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_update_of_a_vanished_message_is_refused() {
    let (_fake, chat) = setup().await;
    let card = CardRef {
        platform: Platform::Slack,
        channel: "C0APPROVERS".into(),
        message_id: "1600000000.000001".into(),
    };
    let err = chat.update_card(&card, &pending(1)).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(s) if s.ends_with("message_not_found")),
        "{err:?}"
    );
}

#[tokio::test]
async fn user_text_cannot_broadcast_or_hide_links_in_cards_and_audit_lines() {
    let (fake, chat) = setup().await;
    let nasty = "<!channel> see <https://evil.example|the runbook> & more";
    let view = RequestView {
        reason: nasty.into(),
        ..pending(1)
    };
    chat.post_card("C0APPROVERS", &view).await.unwrap();
    chat.post_line(
        "C0AUDIT",
        &format!("#3 slack:U0REQ requested reason={nasty}"),
    )
    .await
    .unwrap();

    let escaped = "&lt;!channel&gt; see &lt;https://evil.example|the runbook&gt; &amp; more";
    let calls = fake.calls_to("chat.postMessage");
    assert!(section_text(&calls[0].body["blocks"]).ends_with(escaped));
    assert!(calls[1].body["text"].as_str().unwrap().ends_with(escaped));
    assert_eq!(calls[1].body["channel"], "C0AUDIT");
}

#[tokio::test]
async fn very_long_reasons_are_cut_below_the_section_limit() {
    let (fake, chat) = setup().await;
    let view = RequestView {
        reason: "ü&".repeat(4000),
        ..pending(1)
    };
    chat.post_card("C0APPROVERS", &view)
        .await
        .expect("the fake accepts the blocks");

    let text = section_text(&fake.calls_to("chat.postMessage")[0].body["blocks"]);
    let n = text.chars().count();
    assert!(
        n <= MAX_SECTION_TEXT && n > MAX_SECTION_TEXT - 10,
        "{n} characters"
    );
    assert!(
        text.ends_with("ü&amp;…") || text.ends_with("ü…"),
        "{}",
        &text[text.len() - 20..]
    );
}

#[tokio::test]
async fn a_pending_extension_is_decided_with_its_own_buttons_next_to_revoke() {
    let (fake, chat) = setup().await;
    let acts = vec![CardAction::Approve, CardAction::Deny, CardAction::Revoke];
    let view = RequestView {
        extension: Some(("30m".into(), "still <debugging>".into())),
        ..in_state(State::Active, 5, acts)
    };
    chat.post_card("C0APPROVERS", &view)
        .await
        .expect("the fake accepts three buttons");
    let blocks = &fake.calls_to("chat.postMessage")[0].body["blocks"];
    let labels: Vec<Value> = buttons(blocks)
        .iter()
        .map(|b| b["text"]["text"].clone())
        .collect();
    assert_eq!(labels, ["Approve extension", "Deny extension", "Revoke"]);
    assert!(section_text(blocks).contains("+30m because still &lt;debugging&gt;"));
}

#[tokio::test]
async fn a_wrong_api_base_url_is_refused_rather_than_retried_forever() {
    let fake = FakeSlack::start(TOKEN).await;
    let mut config = SlackConfig::new(TOKEN, "C0APPROVERS", "C0AUDIT");
    config.api_base_url = format!("{}/v2", fake.base_url);
    let chat = SlackChat::new(config).unwrap();
    let err = chat.post_line("C0AUDIT", "x").await.unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused(s) if s.contains("404")),
        "{err:?}"
    );
}

#[tokio::test]
async fn overlong_audit_lines_are_cut_instead_of_refused_as_too_long() {
    let (fake, chat) = setup().await;
    chat.post_line("C0AUDIT", &"a<b ".repeat(5000))
        .await
        .unwrap();
    let text = fake.calls_to("chat.postMessage")[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.chars().count() <= 3000 && text.ends_with('…'),
        "{}",
        text.len()
    );
}
