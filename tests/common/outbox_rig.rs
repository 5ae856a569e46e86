//! A service, a durable outbox and an audit feed over a sled store and a fake Slack, with a
//! manual clock: the outbox tests drive delivery pass by pass and move time by hand.

use super::fake_slack::FakeSlack;
use jitpe::chat::slack::client::{SlackChat, SlackConfig};
use jitpe::domain::command::Command;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::{Namespace, RequestId, RoleName};
use jitpe::ports::{Chat, Store};
use jitpe::service::{ChatTargets, Service};
use jitpe::store::sled::SledStore;
use jitpe::testing::{FakeCluster, ManualClock};
use jitpe::workers::audit_feed::{AuditFeed, AuditFeedSettings};
use jitpe::workers::outbox::{Outbox, OutboxSettings};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The bot token the fake Slack accepts.
pub const TOKEN: &str = "xoxb-test-token";

/// The pieces a test drives.
pub struct Rig {
    pub svc: Service,
    pub outbox: Outbox,
    pub audit: AuditFeed,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
}

/// How the rig is built: the outbox's give-up time and the Slack client's timeout.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub give_up_after: Duration,
    pub client_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(6 * 3600),
            client_timeout: Duration::from_secs(10),
        }
    }
}

/// A rig over the store in `dir` with default options.
pub fn rig(dir: &Path, fake: &FakeSlack, clock: Arc<ManualClock>) -> Rig {
    rig_with(dir, fake, clock, Options::default())
}

/// A rig over the store in `dir`.
pub fn rig_with(dir: &Path, fake: &FakeSlack, clock: Arc<ManualClock>, opts: Options) -> Rig {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir).unwrap());
    let policy = Arc::new(super::world::policy("rachel", &["shop"]));
    let targets = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(
        store.clone(),
        Arc::new(FakeCluster::default()),
        clock.clone(),
        policy.clone(),
        targets,
    );
    let mut config = SlackConfig::new(TOKEN, "CAPPROVERS", "CAUDIT");
    config.api_base_url = fake.base_url.clone();
    config.timeout = opts.client_timeout;
    let chat: Arc<dyn Chat> = Arc::new(SlackChat::new(config).unwrap());
    let settings = OutboxSettings {
        spacing: Duration::from_secs(1),
        give_up_after: opts.give_up_after,
    };
    let outbox = Outbox::new(
        store.clone(),
        clock.clone(),
        vec![chat.clone()],
        policy,
        settings,
        svc.metrics().clone(),
    );
    let audit = AuditFeed::new(
        store.clone(),
        clock.clone(),
        vec![chat],
        AuditFeedSettings {
            spacing: Duration::from_secs(1),
            chain_head_interval: Duration::from_secs(3600),
        },
    );
    Rig {
        svc,
        outbox,
        audit,
        clock,
        store,
    }
}

/// A fake Slack, a fresh store directory and a rig over them, with the clock at now.
pub async fn started_with(opts: Options) -> (FakeSlack, tempfile::TempDir, Rig) {
    let fake = FakeSlack::start(TOKEN).await;
    let dir = tempfile::TempDir::new().unwrap();
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let r = rig_with(dir.path(), &fake, clock, opts);
    (fake, dir, r)
}

/// [`started_with`] the default options.
pub async fn started() -> (FakeSlack, tempfile::TempDir, Rig) {
    started_with(Options::default()).await
}

/// UREQ asks for `debug` on `shop` for 15 minutes; returns the new request's id.
pub async fn submit(r: &Rig) -> RequestId {
    let cmd = Command::Request {
        role: RoleName::parse("debug").unwrap(),
        namespace: Namespace::parse("shop").unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(900)),
        reason: "INC-9 <b>&".into(),
    };
    r.svc
        .command(&Actor::new(Platform::Slack, "UREQ"), cmd, None)
        .await
        .unwrap();
    r.store.list().unwrap().last().unwrap().value.id
}

/// Delivery passes `step` apart until the outbox is empty or `passes` ran; returns the passes.
pub async fn drain(r: &Rig, step: Duration, passes: usize) -> usize {
    for n in 0..passes {
        if r.store.outbox_all().unwrap().is_empty() {
            return n;
        }
        r.outbox.deliver().await.unwrap();
        r.clock.advance(step);
    }
    passes
}
