//! The behaviour suite's Mattermost: token-checked commands and signed button callbacks through
//! the real router, a fake Mattermost REST API for what jitpe sends.

use super::{ChatDriver, Delivery, Person, policy};
use crate::common::fake_mattermost::fixtures::{TOKEN, approvers, audit, buttons, config, context};
use crate::common::fake_mattermost::{FakeMattermost, UserKind, user_id};
use crate::common::grants::{Spaces, jitpe_cluster};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use jitpe::chat::inbound::Inbound;
use jitpe::chat::mattermost::client::MattermostChat;
use jitpe::chat::mattermost::routes::{self, MattermostInbound, MattermostState};
use jitpe::domain::identity::Platform;
use jitpe::domain::ids::RequestId;
use jitpe::metrics::Metrics;
use jitpe::ports::Store;
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::ManualClock;
use jitpe::web::{HealthState, router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

const COMMAND_TOKEN: &str = "mm-behaviour-command-token";
const TEAM: &str = "teamteamteamteamteamteamte";

/// Mattermost, driven through jitpe's router.
pub struct MattermostDriver {
    app: Router,
    service: Service,
    clock: Arc<ManualClock>,
    fake: FakeMattermost,
    outbox: Delivery,
    spaces: Spaces,
    triggers: AtomicU32,
}

fn name(who: Person) -> &'static str {
    match who {
        Person::Requester => "alice",
        Person::Approver => "carol",
        Person::SecondApprover => "dora",
        Person::Bystander => "bob",
    }
}

impl MattermostDriver {
    /// A router, fake Mattermost and outbox over fresh namespaces on the real apiserver.
    pub async fn start() -> Self {
        let spaces = Spaces::new().await;
        let fake = FakeMattermost::start(TOKEN).await;
        let people = [
            Person::Requester,
            Person::Approver,
            Person::SecondApprover,
            Person::Bystander,
        ];
        for who in people {
            fake.add_user(&user_id(name(who)), name(who), UserKind::Active);
        }
        let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
        let chat = Arc::new(MattermostChat::new(config(&fake, TOKEN), clock.clone()).unwrap());
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let policy = Arc::new(policy(&spaces, |p| {
            format!("mattermost:{}", user_id(name(p)))
        }));
        let targets = ChatTargets {
            approvers_channels: [(Platform::Mattermost, approvers())].into(),
        };
        let service = Service::new(
            store.clone(),
            jitpe_cluster(),
            clock.clone(),
            policy.clone(),
            targets,
        )
        .with_instance(spaces.instance.clone());
        let metrics = Arc::new(Metrics::default());
        let state = MattermostState {
            inbound: Arc::new(Inbound::new(service.clone(), metrics.clone())),
            mm: Arc::new(MattermostInbound {
                command_token: COMMAND_TOKEN.as_bytes().to_vec(),
                team_id: TEAM.into(),
                action_secret: crate::common::fake_mattermost::fixtures::SECRET.to_vec(),
                chat: chat.clone(),
            }),
        };
        let health = HealthState {
            service: service.clone(),
            metrics: metrics.clone(),
            cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
            store: Arc::new(jitpe::workers::probe::StoreStatus::default()),
            roles: Arc::default(),
        };
        let outbox = Delivery::new(store, clock.clone(), chat, policy);
        MattermostDriver {
            app: router(health, vec![routes::router(state)], 16 * 1024),
            service,
            clock,
            fake,
            outbox,
            spaces,
            triggers: AtomicU32::new(0),
        }
    }

    async fn send(&self, req: Request<Body>) -> Value {
        let resp = self.app.clone().oneshot(req).await.expect("answered");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("a JSON answer")
    }
}

#[async_trait::async_trait]
impl ChatDriver for MattermostDriver {
    fn name(&self) -> &'static str {
        "Mattermost"
    }

    fn service(&self) -> &Service {
        &self.service
    }

    fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn spaces(&self) -> &Spaces {
        &self.spaces
    }

    async fn command(&self, who: Person, text: &str) -> String {
        let n = self.triggers.fetch_add(1, Ordering::Relaxed);
        let body = serde_urlencoded::to_string([
            ("team_id", TEAM),
            ("user_id", &user_id(name(who))),
            ("user_name", name(who)),
            ("command", "/jit"),
            ("text", text),
            ("channel_id", &user_id("town")),
            ("trigger_id", &format!("trigger-{n}")),
        ])
        .expect("form encodes");
        let req = Request::post("/mattermost/commands")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Token {COMMAND_TOKEN}"))
            .body(Body::from(body))
            .expect("request builds");
        let answer = self.send(req).await;
        answer["text"].as_str().unwrap_or_default().to_string()
    }

    async fn click(&self, who: Person, id: RequestId, action: &str) -> String {
        let posts = self.fake.posts(&approvers());
        let card = posts.first().expect("a card was posted");
        let all = buttons(&card.props);
        let button = all
            .iter()
            .find(|b| b["id"] == action)
            .unwrap_or_else(|| panic!("the card of #{id} has no {action} button: {all:?}"));
        let body = json!({
            "user_id": user_id(name(who)), "user_name": name(who), "channel_id": approvers(),
            "team_id": TEAM, "post_id": card.id, "trigger_id": "x", "type": "button",
            "data_source": "", "context": serde_json::to_value(context(button)).unwrap(),
        });
        let req = Request::post("/mattermost/actions")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request builds");
        let answer = self.send(req).await;
        answer["ephemeral_text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn drain(&self) {
        self.outbox.drain().await;
    }

    fn cards(&self) -> Vec<(String, Vec<String>)> {
        let posts = self.fake.posts(&approvers());
        posts
            .iter()
            .map(|p| {
                let actions = buttons(&p.props);
                let ids = actions.iter().filter_map(|b| b["id"].as_str());
                (
                    format!("{} {}", p.message, p.props),
                    ids.map(String::from).collect(),
                )
            })
            .collect()
    }

    fn dms(&self, who: Person) -> Vec<String> {
        let Some(channel) = self.fake.dm_channel_with(&user_id(name(who))) else {
            return Vec::new();
        };
        let posts = self.fake.posts(&channel);
        posts.iter().map(|p| p.message.clone()).collect()
    }

    fn audit_lines(&self) -> Vec<String> {
        let posts = self.fake.posts(&audit());
        posts.iter().map(|p| p.message.clone()).collect()
    }
}
