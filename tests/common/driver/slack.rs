//! The behaviour suite's Slack: signed requests through the real router, a fake Slack Web API
//! for what jitpe sends, click answers read back from the `response_url` the fake serves.

use super::{ChatDriver, Delivery, Person, policy};
use crate::common::fake_slack::{FakeSlack, dm_channel_of};
use crate::common::grants::{Spaces, jitpe_cluster};
use crate::common::world::{World, world_of};
use jitpe::chat::slack::client::{SlackChat, SlackConfig};
use jitpe::domain::ids::RequestId;
use jitpe::ports::{Chat, Store};
use jitpe::service::Service;
use jitpe::store::memory::MemStore;
use jitpe::testing::ManualClock;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const TOKEN: &str = "xoxb-behaviour";
const APPROVERS: &str = "CAPPROVERS";
const AUDIT: &str = "CAUDIT";

/// Slack, driven through jitpe's router.
pub struct SlackDriver {
    w: World,
    fake: FakeSlack,
    outbox: Delivery,
    spaces: Spaces,
    triggers: AtomicU32,
}

fn user(who: Person) -> &'static str {
    match who {
        Person::Requester => "UREQ",
        Person::Approver => "UAPP1",
        Person::SecondApprover => "UAPP2",
        Person::Bystander => "UBOB",
    }
}

impl SlackDriver {
    /// A router, fake Slack and outbox over fresh namespaces on the real apiserver.
    pub async fn start() -> Self {
        let spaces = Spaces::new().await;
        let fake = FakeSlack::start(TOKEN).await;
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let policy = policy(&spaces, |p| format!("slack:{}", user(p)));
        let w = world_of(
            store.clone(),
            jitpe_cluster(),
            policy.clone(),
            &fake.base_url,
            spaces.instance.clone(),
        );
        let mut config = SlackConfig::new(TOKEN, APPROVERS, AUDIT);
        config.api_base_url = fake.base_url.clone();
        let chat: Arc<dyn Chat> = Arc::new(SlackChat::new(config).expect("Slack adapter"));
        let outbox = Delivery::new(store, w.clock.clone(), chat, Arc::new(policy));
        SlackDriver {
            w,
            fake,
            outbox,
            spaces,
            triggers: AtomicU32::new(0),
        }
    }

    /// The answers sent to clickers so far.
    fn answers(&self) -> Vec<String> {
        let calls = self.fake.calls_to("response");
        calls.iter().map(|c| text_of(&c.body)).collect()
    }
}

fn text_of(v: &Value) -> String {
    v["text"].as_str().unwrap_or_default().to_string()
}

#[async_trait::async_trait]
impl ChatDriver for SlackDriver {
    fn name(&self) -> &'static str {
        "Slack"
    }

    fn service(&self) -> &Service {
        &self.w.service
    }

    fn clock(&self) -> &ManualClock {
        &self.w.clock
    }

    fn spaces(&self) -> &Spaces {
        &self.spaces
    }

    async fn command(&self, who: Person, text: &str) -> String {
        let n = self.triggers.fetch_add(1, Ordering::Relaxed);
        let req = self.w.command(user(who), text, &format!("trigger-{n}"));
        let (status, body) = self.w.send(req).await;
        assert_eq!(status, 200, "{body}");
        text_of(&serde_json::from_str(&body).expect("a JSON answer"))
    }

    async fn click(&self, who: Person, id: RequestId, action: &str) -> String {
        let cards = self.fake.messages(APPROVERS);
        let card = cards.first().expect("a card was posted");
        let url = format!("{}/response", self.fake.base_url);
        let before = self.answers().len();
        let req = self
            .w
            .click(user(who), action, id.0, APPROVERS, &card.ts, &url);
        let (status, body) = self.w.send(req).await;
        assert_eq!(status, 200, "{body}");
        // The answer goes out through response_url after the acknowledgement.
        for _ in 0..100 {
            if let Some(answer) = self.answers().get(before) {
                return answer.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no answer reached the response_url");
    }

    async fn drain(&self) {
        self.outbox.drain().await;
    }

    fn cards(&self) -> Vec<(String, Vec<String>)> {
        let cards = self.fake.messages(APPROVERS);
        cards
            .iter()
            .map(|m| {
                let text = format!("{} {}", m.text, m.blocks);
                let actions = ["approve", "deny", "revoke"]
                    .into_iter()
                    .filter(|a| text.contains(&format!("\"jit_{a}\"")))
                    .map(String::from)
                    .collect();
                (text, actions)
            })
            .collect()
    }

    fn dms(&self, who: Person) -> Vec<String> {
        let messages = self.fake.messages(&dm_channel_of(user(who)));
        messages.iter().map(|m| m.text.to_string()).collect()
    }

    fn audit_lines(&self) -> Vec<String> {
        let lines = self.fake.messages(AUDIT);
        lines.iter().map(|m| m.text.to_string()).collect()
    }
}
