//! Mattermost routes through the real router, with the card posted by the real adapter to a
//! fake Mattermost server: the command token, signed button contexts, the card binding and the
//! clicker re-check. Every refusal changes nothing.

mod common;
#[path = "router_mattermost/refusals.rs"]
mod refusals;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use common::fake_mattermost::fixtures::{SECRET, TOKEN, approvers, buttons, config, context};
use common::fake_mattermost::{FakeMattermost, UserKind, user_id};
use http_body_util::BodyExt;
use jitpe::chat::inbound::Inbound;
use jitpe::chat::mattermost::client::MattermostChat;
use jitpe::chat::mattermost::routes::{self, MattermostInbound, MattermostState};
use jitpe::domain::identity::Platform;
use jitpe::domain::ids::RequestId;
use jitpe::domain::policy::Policy;
use jitpe::domain::policy::RawPolicy;
use jitpe::domain::request::State;
use jitpe::metrics::Metrics;
use jitpe::ports::{Chat, Store};
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::FakeCluster;
use jitpe::testing::ManualClock;
use jitpe::web::{HealthState, router};
use jitpe::workers::outbox::{Outbox, OutboxSettings};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const COMMAND_TOKEN: &str = "mm-command-token";
const TEAM: &str = "teamteamteamteamteamteamte";

struct Rig {
    app: Router,
    store: Arc<dyn Store>,
    fake: FakeMattermost,
    outbox: Outbox,
    clock: Arc<ManualClock>,
    cluster: Arc<FakeCluster>,
}

fn policy() -> Policy {
    let text = format!(
        r#"
[namespaces]
allow = ["shop"]
[[identities]]
kube_user = "bob"
chat = ["mattermost:{bob}"]
[roles.debug]
default_duration = "15m"
max_duration = "1h"
approvers = ["mattermost:{alice}", "mattermost:{dora}", "mattermost:{robo}", "mattermost:{bob}"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
"#,
        bob = user_id("bob"),
        alice = user_id("alice"),
        dora = user_id("dora"),
        robo = user_id("robo")
    );
    let raw: RawPolicy = toml::from_str(&text).unwrap();
    Policy::try_from(raw).unwrap()
}

async fn rig() -> Rig {
    let fake = FakeMattermost::start(TOKEN).await;
    fake.add_user(&user_id("alice"), "alice", UserKind::Active);
    fake.add_user(&user_id("bob"), "bob", UserKind::Active);
    fake.add_user(&user_id("dora"), "dora", UserKind::Deleted);
    fake.add_user(&user_id("robo"), "robo", UserKind::Bot);
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let chat = Arc::new(MattermostChat::new(config(&fake, TOKEN), clock.clone()).unwrap());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let cluster = Arc::new(FakeCluster::default());
    let policy = Arc::new(policy());
    let targets = ChatTargets {
        approvers_channels: [(Platform::Mattermost, approvers())].into(),
    };
    let service = Service::new(
        store.clone(),
        cluster.clone(),
        clock.clone(),
        policy.clone(),
        targets,
    );
    let inbound = MattermostInbound {
        command_token: COMMAND_TOKEN.as_bytes().to_vec(),
        team_id: TEAM.into(),
        action_secret: SECRET.to_vec(),
        chat: chat.clone(),
    };
    let metrics = Arc::new(Metrics::default());
    let state = MattermostState {
        inbound: Arc::new(
            Inbound::new(service.clone(), metrics.clone())
                .with_body_limits(Duration::from_secs(5), 16 * 1024),
        ),
        mm: Arc::new(inbound),
    };
    let health = HealthState {
        service,
        metrics,
        cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
        store: Arc::new(jitpe::workers::probe::StoreStatus::default()),
        roles: Arc::default(),
    };
    let settings = OutboxSettings {
        spacing: Duration::ZERO,
        give_up_after: Duration::from_secs(6 * 3600),
    };
    let all: Vec<Arc<dyn Chat>> = vec![chat];
    let outbox = Outbox::new(
        store.clone(),
        clock.clone(),
        all,
        policy,
        settings,
        Arc::new(Metrics::default()),
    );
    Rig {
        app: router(health, vec![routes::router(state)], 16 * 1024),
        store,
        fake,
        outbox,
        clock,
        cluster,
    }
}

impl Rig {
    async fn send(&self, req: Request<Body>) -> (u16, String) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn command(&self, token: Option<&str>, text: &str) -> Request<Body> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.command_with_trigger(token, text, &format!("trigger-{n}"))
    }

    fn command_with_trigger(
        &self,
        token: Option<&str>,
        text: &str,
        trigger: &str,
    ) -> Request<Body> {
        let body = serde_urlencoded::to_string([
            ("team_id", TEAM),
            ("user_id", &user_id("bob")),
            ("user_name", "ignored"),
            ("command", "/jit"),
            ("text", text),
            ("channel_id", &user_id("town")),
            ("trigger_id", trigger),
        ])
        .unwrap();
        let mut req = Request::post("/mattermost/commands")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(t) = token {
            req = req.header("authorization", format!("Token {t}"));
        }
        req.body(Body::from(body)).unwrap()
    }

    /// Submits a request and lets the adapter post its card; returns the id and the card.
    async fn pending(&self) -> (RequestId, Value) {
        let (status, body) = self
            .send(self.command(Some(COMMAND_TOKEN), "request debug shop 15m INC-1"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("sent to the approvers"), "{body}");
        self.outbox.deliver().await.unwrap();
        let id = self.store.list().unwrap()[0].value.id;
        let post = self
            .fake
            .posts(&approvers())
            .into_iter()
            .next()
            .expect("the card was posted");
        (id, json!({"id": post.id, "props": post.props}))
    }

    fn click(
        &self,
        user: &str,
        card: &Value,
        button: usize,
        edit: impl FnOnce(&mut Value),
    ) -> Request<Body> {
        let ctx = context(&buttons(&card["props"])[button]);
        let mut body = json!({
            "user_id": user_id(user), "user_name": user, "channel_id": approvers(), "team_id": TEAM,
            "post_id": card["id"], "trigger_id": "x", "type": "button", "data_source": "",
            "context": serde_json::to_value(ctx).unwrap(),
        });
        edit(&mut body);
        Request::post("/mattermost/actions")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    fn state(&self, id: RequestId) -> State {
        self.store.get(id).unwrap().unwrap().value.state
    }

    fn audits(&self, action: &str) -> usize {
        self.store
            .audit_from(1, 1000)
            .unwrap()
            .iter()
            .filter(|r| r.action == action)
            .count()
    }
}

#[tokio::test]
async fn the_command_token_is_required_and_compared_exactly() {
    let r = rig().await;
    assert_eq!(
        r.send(r.command(None, "request debug shop 15m x")).await.0,
        401
    );
    assert_eq!(
        r.send(r.command(Some("mm-command-tokeN"), "request debug shop 15m x"))
            .await
            .0,
        401
    );
    let wrong_type = Request::post("/mattermost/commands")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(r.send(wrong_type).await.0, 400);
    assert!(r.store.list().unwrap().is_empty());
    assert_eq!(r.audits("auth_failed"), 3);
    let (status, body) = r.send(r.command(Some(COMMAND_TOKEN), "help")).await;
    assert_eq!(status, 200);
    assert!(body.contains("/jit request"), "{body}");
}

#[tokio::test]
async fn a_repeated_delivery_of_one_command_creates_one_request_and_a_new_one_another() {
    let r = rig().await;
    let text = "request debug shop 15m INC-1";
    for _ in 0..3 {
        let req = r.command_with_trigger(Some(COMMAND_TOKEN), text, "trigger-same");
        let (status, body) = r.send(req).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(r.store.list().unwrap().len(), 1);
    r.send(r.command(Some(COMMAND_TOKEN), text)).await;
    assert_eq!(
        r.store.list().unwrap().len(),
        2,
        "a new invocation is a new request"
    );
}

#[tokio::test]
async fn an_approvers_signed_click_activates_and_the_card_loses_its_buttons() {
    let r = rig().await;
    let (id, card) = r.pending().await;
    let (status, body) = r.send(r.click("alice", &card, 0, |_| {})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("You approved"), "{body}");
    assert_eq!(r.state(id), State::Active);
    assert_eq!(r.cluster.objects().len(), 1);
    r.outbox.deliver().await.unwrap();
    let post = r.fake.post(card["id"].as_str().unwrap()).unwrap();
    let labels: Vec<String> = buttons(&post.props)
        .iter()
        .map(|b| b["id"].to_string())
        .collect();
    assert_eq!(
        labels,
        vec!["\"revoke\""],
        "only Revoke remains while active"
    );
}

#[tokio::test]
async fn forged_expired_and_misdirected_clicks_change_nothing() {
    let r = rig().await;
    let (id, card) = r.pending().await;
    let forged = r.click("alice", &card, 0, |b| b["context"]["sig"] = "AAAA".into());
    assert_eq!(r.send(forged).await.0, 401);
    let other_action = r.click("alice", &card, 1, |b| {
        b["context"]["act"] = "approve".into()
    });
    assert_eq!(
        r.send(other_action).await.0,
        401,
        "a deny signature does not approve"
    );
    let other_channel = r.click("alice", &card, 0, |b| {
        b["channel_id"] = user_id("elsewhere").into()
    });
    assert_eq!(r.send(other_channel).await.0, 401);
    let other_post = r.click("alice", &card, 0, |b| {
        b["post_id"] = user_id("otherpost").into()
    });
    assert_eq!(r.send(other_post).await.0, 200);
    let malformed = Request::post("/mattermost/actions")
        .header("content-type", "application/json")
        .body(Body::from("{nope"))
        .unwrap();
    assert_eq!(r.send(malformed).await.0, 400);
    assert_eq!(r.state(id), State::Pending);
    assert_eq!(r.audits("auth_failed"), 4);
    assert_eq!(r.audits("click_refused"), 1);
    r.clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(
        r.send(r.click("alice", &card, 0, |_| {})).await.0,
        401,
        "expired buttons are refused"
    );
}

#[tokio::test]
async fn deactivated_users_bots_and_the_requester_cannot_approve() {
    let r = rig().await;
    let (id, card) = r.pending().await;
    for user in ["dora", "robo"] {
        let (status, body) = r.send(r.click(user, &card, 0, |_| {})).await;
        assert_eq!(status, 200);
        assert!(body.contains("deactivated or a bot"), "{user}: {body}");
    }
    let (_, body) = r.send(r.click("bob", &card, 0, |_| {})).await;
    assert!(body.contains("cannot approve your own"), "{body}");
    assert_eq!(r.state(id), State::Pending);
    assert!(r.cluster.objects().is_empty());
}

/// The issue's reproduction: a reason with a disguised link and a remote image.
const HOSTILE_REASON: &str =
    "INC-2 [runbook](https://evil.example) ![x](https://evil.example/p.png) @channel";

#[tokio::test]
async fn status_and_list_replies_show_a_typed_reason_as_text() {
    let r = rig().await;
    let asked = format!("request debug shop 15m {HOSTILE_REASON}");
    let (status, body) = r.send(r.command(Some(COMMAND_TOKEN), &asked)).await;
    assert_eq!(status, 200, "{body}");
    let id = r.store.list().unwrap()[0].value.id;

    for cmd in [format!("status {id}"), "list".into()] {
        let (status, body) = r.send(r.command(Some(COMMAND_TOKEN), &cmd)).await;
        assert_eq!(status, 200, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        let text = json["text"].as_str().unwrap();
        let unescaped = text.replace(r"\]", "").replace(r"\!", "");
        assert!(
            !unescaped.contains("]("),
            "{cmd}: a link survives in {text}"
        );
        assert!(
            !unescaped.contains("!["),
            "{cmd}: an image survives in {text}"
        );
        assert!(
            !text.contains("@channel"),
            "{cmd}: a broadcast survives in {text}"
        );
    }
    let (_, body) = r
        .send(r.command(Some(COMMAND_TOKEN), &format!("status {id}")))
        .await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["text"]
            .as_str()
            .unwrap()
            .contains(r"\[runbook\](https://evil.example) \!\[x\](https://evil.example/p.png)"),
        "the reason is shown as typed: {body}"
    );
}
