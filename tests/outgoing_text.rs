//! Every direct message jitpe sends, on both platforms, with hostile typed text: a reason or an
//! error that carries links, mentions and images must arrive as plain words. The notices are
//! listed by an exhaustive `match`, so a new notice fails to compile here until it is covered.
//! (Cards and audit lines are checked in the adapter tests; command replies in the router tests.)

mod common;

use common::fake_mattermost::fixtures::{self, mm};
use common::fake_mattermost::{UserKind, user_id};
use common::fake_slack::{FakeSlack, dm_channel_of};
use jiff::Timestamp;
use jitpe::chat::slack::client::{SlackChat, SlackConfig};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::request::Notice;
use jitpe::domain::view::{RequestView, notice_text};
use jitpe::ports::Chat;

const SLACK_HOSTILE: &str =
    "INC-1 <https://evil.example/login|INC-1 runbook> <@U0APR001> <!channel> &lt;b&gt;";
const MM_HOSTILE: &str =
    "INC-2 [runbook](https://evil.example) ![x](https://evil.example/p.png) @channel <b>";

/// One of each notice, typed words taken from `hostile`. The `match` has no wildcard: a notice
/// added later is a compile error here until this list shows it too.
fn every_notice(by: &Actor, hostile: &str) -> Vec<Notice> {
    let all = vec![
        Notice::Approved,
        Notice::Denied { by: by.clone() },
        Notice::ExpiringSoon,
        Notice::Expired,
        Notice::Revoked {
            by: by.clone(),
            reason: hostile.into(),
        },
        Notice::RevokedByRule {
            rule: hostile.into(),
            reason: hostile.into(),
        },
        Notice::TimedOut,
        Notice::Failed {
            error: hostile.into(),
        },
        Notice::Extended,
        Notice::ExtensionDenied { by: by.clone() },
        Notice::ExtensionTimedOut,
        Notice::CardUndelivered {
            error: hostile.into(),
        },
    ];
    for n in &all {
        match n {
            Notice::Approved
            | Notice::Denied { .. }
            | Notice::ExpiringSoon
            | Notice::Expired
            | Notice::Revoked { .. }
            | Notice::RevokedByRule { .. }
            | Notice::TimedOut
            | Notice::Failed { .. }
            | Notice::Extended
            | Notice::ExtensionDenied { .. }
            | Notice::ExtensionTimedOut
            | Notice::CardUndelivered { .. } => {}
        }
    }
    all
}

/// When the notices are sent: five minutes before the grant in [`view`] ends.
fn sent_at() -> Timestamp {
    Timestamp::from_second(1_700_004_500 - 300).unwrap()
}

fn view() -> RequestView {
    RequestView {
        expires_at: Some(Timestamp::from_second(1_700_004_500).unwrap()),
        ..fixtures::pending(1)
    }
}

#[tokio::test]
async fn every_direct_message_on_slack_shows_typed_text_as_text() {
    let fake = FakeSlack::start("xoxb-test-token").await;
    let mut config = SlackConfig::new("xoxb-test-token", "C0APPROVERS", "C0AUDIT");
    config.api_base_url = fake.base_url.clone();
    let chat = SlackChat::new(config).expect("valid config");
    let requester = Actor::new(Platform::Slack, "U0REQ");
    let approver = Actor::new(Platform::Slack, "U0APP");
    let notices = every_notice(&approver, SLACK_HOSTILE);
    for n in &notices {
        chat.direct_message(&requester, &notice_text(n, &view(), sent_at()))
            .await
            .unwrap();
    }
    let sent = fake.messages(&dm_channel_of("U0REQ"));
    assert_eq!(sent.len(), notices.len());
    for (n, m) in notices.iter().zip(&sent) {
        let text = m.text.as_str().expect("a text");
        // The approver's mention and the end's date token are jitpe's own; nothing else may open
        // a Slack control sequence.
        let end = jitpe::chat::slack::blocks::date(view().expires_at.unwrap());
        let rest = text.replace("<@U0APP>", "").replace(&end, "");
        assert!(!rest.contains('<') && !rest.contains('>'), "{n:?}: {text}");
        if matches!(
            n,
            Notice::Revoked { .. } | Notice::Failed { .. } | Notice::CardUndelivered { .. }
        ) {
            assert!(
                text.contains("&lt;https://evil.example/login|INC-1 runbook&gt; &lt;@U0APR001&gt;"),
                "{n:?}: {text}"
            );
            assert!(text.contains("&amp;lt;b&amp;gt;"), "{n:?}: {text}");
        }
        if matches!(n, Notice::ExpiringSoon) {
            // Each reader's client shows the end in their own zone; how soon is said in words.
            assert!(text.contains(&format!("ends in 5 min, at {end}")), "{text}");
            assert!(
                end.starts_with(
                    "<!date^1700004500^{date_short_pretty} {time}|2023-11-14 23:28 UTC>"
                ),
                "{end}"
            );
        }
    }
}

#[tokio::test]
async fn every_direct_message_on_mattermost_shows_typed_text_as_text() {
    let s = fixtures::setup().await;
    s.fake.add_user(&user_id("bob"), "bob", UserKind::Active);
    let notices = every_notice(&mm("alice"), MM_HOSTILE);
    for n in &notices {
        s.chat
            .direct_message(&mm("bob"), &notice_text(n, &view(), sent_at()))
            .await
            .unwrap();
    }
    let dm = s
        .fake
        .dm_channel_with(&user_id("bob"))
        .expect("a DM channel");
    let sent = s.fake.posts(&dm);
    assert_eq!(sent.len(), notices.len());
    for (n, p) in notices.iter().zip(&sent) {
        let text = &p.message;
        // A link needs an unescaped `](`; an image an unescaped `![`.
        let unescaped = |pat: &str| {
            text.match_indices(pat)
                .any(|(i, _)| !text[..i].ends_with('\\'))
        };
        for live in ["](", "![", "@channel", "<b>"] {
            assert!(!unescaped(live), "{n:?}: {live} in {text}");
        }
        if matches!(
            n,
            Notice::Revoked { .. } | Notice::Failed { .. } | Notice::CardUndelivered { .. }
        ) {
            assert!(
                text.contains(r"\[runbook\](https://evil.example) \!\[x\]"),
                "{n:?}: {text}"
            );
        }
        if matches!(n, Notice::ExpiringSoon) {
            // Mattermost has no per-reader time: the zone is named (UTC unless configured).
            assert!(
                text.contains("ends in 5 min, at 2023-11-14 23:28 UTC"),
                "{text}"
            );
        }
    }
}
