//! The whole Slack flow through the real router, the real test apiserver and a fake Slack Web
//! API: request → card → Approve → RoleBinding and SubjectAccessReview → card, DM and audit
//! line → expiry → binding gone, card final, DM.

mod common;

use common::fake_slack::{FakeSlack, dm_channel_of};
use common::grants::{Spaces, jitpe_cluster, policy};
use common::kube::{Access, Who, cluster};
use common::world::{World, world_with};
use jitpe::chat::slack::client::{SlackChat, SlackConfig};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::metrics::Metrics;
use jitpe::ports::{Chat, Store};
use jitpe::store::memory::MemStore;
use jitpe::workers::audit_feed::{AuditFeed, AuditFeedSettings};
use jitpe::workers::outbox::{Outbox, OutboxSettings};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "xoxb-flow";

struct Flow {
    w: World,
    fake: FakeSlack,
    outbox: Outbox,
    audit: AuditFeed,
    s: Spaces,
}

async fn flow() -> Flow {
    let s = Spaces::new().await;
    let fake = FakeSlack::start(TOKEN).await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let w = world_with(store.clone(), jitpe_cluster(), policy(&s), &fake.base_url);
    let mut config = SlackConfig::new(TOKEN, "CAPPROVERS", "CAUDIT");
    config.api_base_url = fake.base_url.clone();
    let chat: Arc<dyn Chat> = Arc::new(SlackChat::new(config).unwrap());
    let settings = OutboxSettings {
        spacing: Duration::ZERO,
        max_attempts: 5,
    };
    let outbox = Outbox::new(
        store.clone(),
        w.clock.clone(),
        vec![chat.clone()],
        Arc::new(policy(&s)),
        settings,
        Arc::new(Metrics::default()),
    );
    let audit = AuditFeed::new(
        store,
        w.clock.clone(),
        vec![chat],
        AuditFeedSettings {
            spacing: Duration::ZERO,
            chain_head_interval: Duration::from_secs(3600),
        },
    );
    Flow {
        w,
        fake,
        outbox,
        audit,
        s,
    }
}

impl Flow {
    /// Delivers everything queued (cards, DMs, audit lines).
    async fn drain(&self) {
        for _ in 0..10 {
            self.outbox.deliver().await.unwrap();
            while self.audit.post_audit().await.unwrap() > 0 {}
        }
    }

    async fn click(&self, user: &str, action: &str, id: RequestId) {
        let card = &self.fake.messages("CAPPROVERS")[0];
        let url = format!("{}/response", self.fake.base_url);
        let (status, body) = self
            .w
            .send(
                self.w
                    .click(user, action, id.0, "CAPPROVERS", &card.ts, &url),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    fn card_text(&self) -> String {
        let card = &self.fake.messages("CAPPROVERS")[0];
        format!("{} {}", card.text, card.blocks)
    }

    fn state(&self, id: RequestId) -> State {
        self.w.store.get(id).unwrap().unwrap().value.state
    }

    async fn request(&self, role: &str) -> RequestId {
        let text = format!("request {role} {} 15m INC-7 checkout 502s", self.s.ns);
        let (status, body) = self
            .w
            .send(self.w.command("UREQ", &text, &format!("trig-{role}")))
            .await;
        assert_eq!(status, 200);
        assert!(body.contains("sent to the approvers"), "{body}");
        self.drain().await;
        self.w.store.list().unwrap().last().unwrap().value.id
    }
}

fn alice_reads(ns: &str) -> Access {
    Access::new(Who::Alice, "get", "networking.k8s.io", "ingresses").in_namespace(ns)
}

#[tokio::test]
async fn request_approve_use_and_expire_end_to_end() {
    let f = flow().await;
    let c = cluster();
    let id = f.request("debug").await;
    assert!(f.card_text().contains("PENDING"), "{}", f.card_text());
    assert!(f.card_text().contains("jit_approve"));
    f.click("UAPP1", "approve", id).await;
    assert_eq!(f.state(id), State::Active);
    c.eventually_sar(&alice_reads(&f.s.ns), true).await;
    f.drain().await;
    let card = f.card_text();
    assert!(
        card.contains("ACTIVE") && card.contains("jit_revoke") && !card.contains("jit_approve"),
        "{card}"
    );
    let dms = f.fake.messages(&dm_channel_of("UREQ"));
    assert!(
        dms.iter().any(|m| m.text.to_string().contains("approved")),
        "{dms:?}"
    );
    let audit: Vec<String> = f
        .fake
        .messages("CAUDIT")
        .iter()
        .map(|m| m.text.to_string())
        .collect();
    assert!(
        audit.iter().any(|l| l.contains("approved"))
            && audit.iter().any(|l| l.contains("activated")),
        "{audit:?}"
    );

    f.w.clock.advance(Duration::from_secs(15 * 60));
    f.w.service.run_due().await.unwrap();
    assert_eq!(f.state(id), State::Expired);
    c.eventually_sar(&alice_reads(&f.s.ns), false).await;
    f.drain().await;
    let card = f.card_text();
    assert!(
        card.contains("EXPIRED") && !card.contains("jit_revoke"),
        "{card}"
    );
    assert!(
        f.fake
            .messages(&dm_channel_of("UREQ"))
            .iter()
            .any(|m| m.text.to_string().contains("expired"))
    );
    assert_eq!(
        f.fake.messages("CAPPROVERS").len(),
        1,
        "one card, updated in place"
    );
}

#[tokio::test]
async fn a_two_approver_role_shows_one_of_two_after_the_first_click() {
    let f = flow().await;
    let id = f.request("pair").await;
    f.click("UAPP1", "approve", id).await;
    f.drain().await;
    assert_eq!(f.state(id), State::Pending);
    assert!(f.card_text().contains("1 of 2"), "{}", f.card_text());
    f.click("UAPP2", "approve", id).await;
    assert_eq!(f.state(id), State::Active);
    cluster().eventually_sar(&alice_reads(&f.s.ns), true).await;
}

#[tokio::test]
async fn a_denied_request_grants_nothing_and_its_card_has_no_buttons() {
    let f = flow().await;
    let id = f.request("debug").await;
    f.click("UAPP1", "deny", id).await;
    f.drain().await;
    assert_eq!(f.state(id), State::Denied);
    let card = f.card_text();
    assert!(
        card.contains("DENIED") && !card.contains("jit_approve"),
        "{card}"
    );
    assert!(!cluster().sar(&alice_reads(&f.s.ns)).await);
}
