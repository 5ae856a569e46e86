//! One behaviour suite for every chat platform (as Teleport runs one per plugin): a
//! [`ChatDriver`] speaks to jitpe's real router as one platform would, signed or token-checked
//! exactly as the real one, and reads what jitpe sent back from that platform's fake server. The
//! service behind it grants on the real test apiserver as jitpe's own identity.

pub mod mattermost;
pub mod slack;

use super::grants::Spaces;
use jitpe::domain::ids::RequestId;
use jitpe::domain::policy::Policy;
use jitpe::domain::policy_config::RawPolicy;
use jitpe::metrics::Metrics;
use jitpe::ports::{Chat, Clock, Store};
use jitpe::service::Service;
use jitpe::testing::ManualClock;
use jitpe::workers::audit_feed::{AuditFeed, AuditFeedSettings};
use jitpe::workers::outbox::{Outbox, OutboxSettings};
use std::sync::Arc;
use std::time::Duration;

/// Who acts in a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Person {
    /// Asks for access; Kubernetes user `alice`; an approver of others' requests.
    Requester,
    /// May approve `debug` and `pair`.
    Approver,
    /// The second approver of `pair`.
    SecondApprover,
    /// Mapped to Kubernetes user `bob`, approves nothing.
    Bystander,
}

/// A chat platform, as the behaviour suite drives it.
#[async_trait::async_trait]
pub trait ChatDriver: Send + Sync {
    /// The platform's name, for messages.
    fn name(&self) -> &'static str;
    /// The service behind the router.
    fn service(&self) -> &Service;
    /// The clock behind it.
    fn clock(&self) -> &ManualClock;
    /// The test's namespaces and instance.
    fn spaces(&self) -> &Spaces;
    /// Sends `/jit <text>` as `who` through the router; returns the reply shown to them.
    async fn command(&self, who: Person, text: &str) -> String;
    /// Clicks the `action` button (`approve`, `deny`, `revoke`) of the card of `id` as `who`;
    /// returns the answer shown to the clicker.
    async fn click(&self, who: Person, id: RequestId, action: &str) -> String;
    /// Delivers everything jitpe queued: cards, DMs, audit lines.
    async fn drain(&self);
    /// The approvers channel's cards: each one's text and the actions of its buttons.
    fn cards(&self) -> Vec<(String, Vec<String>)>;
    /// The direct messages `who` received, oldest first.
    fn dms(&self, who: Person) -> Vec<String>;
    /// The lines in the audit channel, oldest first.
    fn audit_lines(&self) -> Vec<String>;
}

/// The policy of the suite, with the same people on both platforms: `debug` in the test's
/// namespace (one approval, by the approver or the requester, never of their own request;
/// controller logs in the second namespace) and `pair` (two distinct approvals). `ids(person)` gives the chat ids of
/// a person as `platform:id` strings.
pub fn policy(s: &Spaces, ids: impl Fn(Person) -> String) -> Policy {
    let text = format!(
        r#"
[namespaces]
allow = ["{ns}"]
[[identities]]
kube_user = "alice"
chat = ["{req}"]
[[identities]]
kube_user = "bob"
chat = ["{bob}"]
[roles.debug]
default_duration = "15m"
max_duration = "1h"
# The requester approves too, so that refusing self-approval means something.
approvers = ["{app}", "{req}"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-controller-logs"
namespace = "{ctrl}"
[roles.pair]
default_duration = "15m"
max_duration = "1h"
approvals = 2
approvers = ["{app}", "{app2}"]
[[roles.pair.bindings]]
cluster_role = "jitpe-ingress-debug"
"#,
        ns = s.ns,
        ctrl = s.ctrl,
        req = ids(Person::Requester),
        bob = ids(Person::Bystander),
        app = ids(Person::Approver),
        app2 = ids(Person::SecondApprover),
    );
    let raw: RawPolicy = toml::from_str(&text).expect("suite policy is TOML");
    Policy::try_from(raw).expect("suite policy is valid")
}

/// The request number a "Request #N …" reply names.
pub fn request_id(reply: &str) -> RequestId {
    reply
        .split('#')
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .map(RequestId)
        .unwrap_or_else(|| panic!("the reply names the request: {reply}"))
}

/// The outbox and the audit feed of one platform, with no spacing, drained on demand.
pub struct Delivery {
    outbox: Outbox,
    audit: AuditFeed,
}

impl Delivery {
    /// Delivery to `chat` from `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        chat: Arc<dyn Chat>,
        policy: Arc<Policy>,
    ) -> Self {
        let settings = OutboxSettings {
            spacing: Duration::ZERO,
            give_up_after: Duration::from_secs(6 * 3600),
        };
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(
            store.clone(),
            clock.clone(),
            vec![chat.clone()],
            policy,
            settings,
            metrics,
        );
        let feed = AuditFeedSettings {
            spacing: Duration::ZERO,
            chain_head_interval: Duration::from_secs(3600),
        };
        let audit = AuditFeed::new(store, clock, vec![chat], feed);
        Self { outbox, audit }
    }

    /// Delivers everything queued: cards, DMs, audit lines.
    pub async fn drain(&self) {
        for _ in 0..10 {
            self.outbox.deliver().await.expect("outbox pass");
            while self.audit.post_audit().await.expect("audit pass") > 0 {}
        }
    }
}
