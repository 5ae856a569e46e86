//! Fixtures for Mattermost adapter tests: a pending request view, a `MattermostChat` wired to a
//! fresh fake on a manual clock, and readers for the posted attachment and its buttons.

use super::{FakeMattermost, user_id};
use jiff::Timestamp;
use jitpe::chat::mattermost::client::{MattermostChat, MattermostConfig};
use jitpe::chat::mattermost::sign::ButtonContext;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::view::{CardAction, RequestView};
use jitpe::testing::ManualClock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The bot token the fake accepts.
pub const TOKEN: &str = "mm-bot-token-secret";
/// The button signing key: the one of the protocol notes' test vector.
pub const SECRET: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";
/// jitpe's button callback URL (never called by the fake).
pub const ACTIONS_URL: &str = "https://jitpe.example.com/mattermost/actions";
/// The manual clock's start, unix seconds.
pub const NOW: i64 = 1_700_000_000;
/// The default button lifetime, in seconds.
pub const DAY: i64 = 24 * 3600;

/// The approvers channel id.
pub fn approvers() -> String {
    user_id("approvers")
}

/// The audit channel id.
pub fn audit() -> String {
    user_id("audit")
}

/// A Mattermost actor named by a padded id (`bob` → `bob000…`).
pub fn mm(name: &str) -> Actor {
    Actor::new(Platform::Mattermost, user_id(name))
}

/// A pending request #42 for `debug` on `shop`, needing `needed` approvals.
pub fn pending(needed: usize) -> RequestView {
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
        revoked_by_rule: None,
        usage: None,
        pending_until: Timestamp::from_second(NOW + 3600).unwrap(),
        expires_at: None,
        ended_at: None,
        extension: None,
        actions: vec![CardAction::Approve, CardAction::Deny],
        tier: None,
        labels: Vec::new(),
        copy: None,
    }
}

/// The request of [`pending`] in `state`, decided and voted on by `alice`.
pub fn in_state(state: State, revision: u64, actions: Vec<CardAction>) -> RequestView {
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

/// A fresh fake, an adapter wired to it and the adapter's clock.
pub struct Setup {
    /// The fake server.
    pub fake: FakeMattermost,
    /// The adapter under test, configured for the fake.
    pub chat: MattermostChat,
    /// The clock that dates button expiries.
    pub clock: Arc<ManualClock>,
}

/// Adapter settings for `fake`, sending `token`, with a 1 s timeout.
pub fn config(fake: &FakeMattermost, token: &str) -> MattermostConfig {
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

/// [`setup`] with the settings changed by `edit` first.
pub async fn setup_with(edit: impl FnOnce(&mut MattermostConfig)) -> Setup {
    let fake = FakeMattermost::start(TOKEN).await;
    let clock = Arc::new(ManualClock::at(Timestamp::from_second(NOW).unwrap()));
    let mut c = config(&fake, TOKEN);
    edit(&mut c);
    let chat = MattermostChat::new(c, clock.clone()).expect("valid config");
    Setup { fake, chat, clock }
}

/// A fresh fake and an adapter with default settings at [`NOW`].
pub async fn setup() -> Setup {
    setup_with(|_| {}).await
}

/// The card's one attachment.
pub fn attachment(props: &Value) -> &Value {
    &props["attachments"][0]
}

/// The card's buttons; empty when it has none.
pub fn buttons(props: &Value) -> Vec<Value> {
    attachment(props)["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A button's `integration.context`, which must consist of strings.
pub fn context(button: &Value) -> ButtonContext {
    serde_json::from_value(button["integration"]["context"].clone()).expect("a context of strings")
}
