//! Fixtures for Mattermost adapter tests: a pending request view, a `MattermostChat` wired to a
//! fresh fake on a manual clock, and readers for the posted attachment and its buttons.

use super::{FakeMattermost, user_id};
use jiff::Timestamp;
use jitpe::adapters::clock::ManualClock;
use jitpe::adapters::mattermost::{MattermostChat, MattermostConfig};
use jitpe::adapters::mattermost_sign::ButtonContext;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::view::{CardAction, RequestView};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN: &str = "mm-bot-token-secret";
pub const SECRET: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";
pub const ACTIONS_URL: &str = "https://jitpe.example.com/mattermost/actions";
pub const NOW: i64 = 1_700_000_000;
pub const DAY: i64 = 24 * 3600;

pub fn approvers() -> String {
    user_id("approvers")
}

pub fn audit() -> String {
    user_id("audit")
}

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
        pending_until: Timestamp::from_second(NOW + 3600).unwrap(),
        expires_at: None,
        ended_at: None,
        extension: None,
        actions: vec![CardAction::Approve, CardAction::Deny],
    }
}

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

pub struct Setup {
    /// The fake server.
    pub fake: FakeMattermost,
    /// The adapter under test, configured for the fake.
    pub chat: MattermostChat,
    /// The clock that dates button expiries.
    pub clock: Arc<ManualClock>,
}

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

pub async fn setup_with(edit: impl FnOnce(&mut MattermostConfig)) -> Setup {
    let fake = FakeMattermost::start(TOKEN).await;
    let clock = Arc::new(ManualClock::at(Timestamp::from_second(NOW).unwrap()));
    let mut c = config(&fake, TOKEN);
    edit(&mut c);
    let chat = MattermostChat::new(c, clock.clone()).expect("valid config");
    Setup { fake, chat, clock }
}

pub async fn setup() -> Setup {
    setup_with(|_| {}).await
}

pub fn attachment(props: &Value) -> &Value {
    &props["attachments"][0]
}

pub fn buttons(props: &Value) -> Vec<Value> {
    attachment(props)["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn context(button: &Value) -> ButtonContext {
    serde_json::from_value(button["integration"]["context"].clone()).expect("a context of strings")
}
