//! A jitpe router over in-memory fakes, and signed Slack requests for it.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use jitpe::chat::inbound::Inbound;
use jitpe::chat::slack::respond::SlackResponder;
use jitpe::chat::slack::routes::{self, SlackInbound, SlackState};
use jitpe::chat::slack::verify::slack_signature;
use jitpe::domain::identity::Platform;
use jitpe::domain::ids::{InstanceId, RequestId};
use jitpe::domain::policy::Policy;
use jitpe::domain::policy_config::RawPolicy;
use jitpe::ports::{CardRef, Clock, Store};
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::FakeCluster;
use jitpe::testing::ManualClock;
use jitpe::web::{HealthState, router};
use jitpe::workers::probe::StoreStatus;
use jitpe::workers::role_check::RoleStatus;
use std::sync::Arc;
use tower::ServiceExt;

/// The signing secret of the test Slack app.
pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef";
/// The test workspace.
pub const TEAM: &str = "T0TEST";
/// The test app.
pub const APP_ID: &str = "A0JITPE";
/// The router's body limit.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long the router waits for a body (short, for the slow-client tests).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The test policy: `debug` (1 approval by UAPP1/UAPP2), `change` (2 approvals); requester UREQ
/// maps to Kubernetes user `kube_user`.
pub fn policy_toml(kube_user: &str, namespaces: &[&str]) -> String {
    let allow: Vec<String> = namespaces.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        r#"
pending_ttl = "1h"
[namespaces]
allow = [{allow}, "shop"]
[groups]
sre = ["slack:UAPP1", "slack:UAPP2"]
[[identities]]
kube_user = "{kube_user}"
chat = ["slack:UREQ"]
[roles.debug]
default_duration = "15m"
max_duration = "1h"
approver_groups = ["sre"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[roles.change]
default_duration = "30m"
max_duration = "2h"
approvals = 2
approver_groups = ["sre"]
[[roles.change.bindings]]
cluster_role = "jitpe-ingress-change"
"#,
        allow = allow.join(", ")
    )
}

/// Builds a policy from [`policy_toml`].
pub fn policy(kube_user: &str, namespaces: &[&str]) -> Policy {
    let raw: RawPolicy =
        toml::from_str(&policy_toml(kube_user, namespaces)).expect("test policy is TOML");
    Policy::try_from(raw).expect("test policy is valid")
}

/// A router with its collaborators.
pub struct World {
    /// The router under test.
    pub app: Router,
    /// The store behind it.
    pub store: Arc<dyn Store>,
    /// The clock behind it.
    pub clock: Arc<ManualClock>,
    /// The service behind it.
    pub service: Service,
    /// What `/readyz` and `/metrics` show of the store; tests refresh it with `probe`.
    pub store_status: Arc<StoreStatus>,
    /// What `/readyz` shows of the role check; tests fill it with `role_check::check`.
    pub role_status: Arc<RoleStatus>,
}

/// A world on fakes (MemStore, FakeCluster), with the clock at the real current time.
pub fn fake_world() -> (World, Arc<FakeCluster>) {
    let cluster = Arc::new(FakeCluster::default());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let w = world_with(
        store,
        cluster.clone(),
        policy("rachel", &["shop"]),
        "http://127.0.0.1:9/",
    );
    (w, cluster)
}

/// A world over any store and cluster; `response_prefix` is where click answers may go.
pub fn world_with(
    store: Arc<dyn Store>,
    cluster: Arc<dyn jitpe::ports::Cluster>,
    policy: Policy,
    response_prefix: &str,
) -> World {
    world_of(
        store,
        cluster,
        policy,
        response_prefix,
        InstanceId::default(),
    )
}

/// Like [`world_with`], as jitpe installation `instance`.
pub fn world_of(
    store: Arc<dyn Store>,
    cluster: Arc<dyn jitpe::ports::Cluster>,
    policy: Policy,
    response_prefix: &str,
    instance: InstanceId,
) -> World {
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let targets = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let service = Service::new(
        store.clone(),
        cluster,
        clock.clone(),
        Arc::new(policy),
        targets,
    )
    .with_instance(instance);
    let slack = SlackInbound {
        signing_secret: SIGNING_SECRET.as_bytes().to_vec(),
        app_id: Some(APP_ID.into()),
        team_id: Some(TEAM.into()),
        responder: SlackResponder::new(response_prefix),
    };
    let metrics = service.metrics().clone();
    let state = SlackState {
        inbound: Arc::new(
            Inbound::new(service.clone(), metrics.clone())
                .with_body_limits(BODY_TIMEOUT, BODY_LIMIT),
        ),
        slack: Arc::new(slack),
    };
    let store_status = Arc::new(StoreStatus::default());
    let role_status = Arc::new(RoleStatus::default());
    let health = HealthState {
        service: service.clone(),
        metrics,
        cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
        store: store_status.clone(),
        roles: role_status.clone(),
    };
    World {
        store_status,
        role_status,
        app: router(health, vec![routes::router(state)], BODY_LIMIT),
        store,
        clock,
        service,
    }
}

impl World {
    /// Submits a `role` request in `shop` as UREQ and pretends its card was posted at
    /// CAPPROVERS / 1700000000.000100, so clicks on that card are accepted.
    pub async fn pending(&self, role: &str) -> RequestId {
        let text = format!("request {role} shop 15m INC-1 checkout 502s");
        let (status, body) = self.send(self.command("UREQ", &text, "t-1")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("sent to the approvers"), "{body}");
        let id = self.store.list().unwrap().last().unwrap().value.id;
        let card = CardRef {
            platform: Platform::Slack,
            channel: "CAPPROVERS".into(),
            message_id: "1700000000.000100".into(),
        };
        self.store.put_card(id, &card).unwrap();
        id
    }

    /// `user` clicking `action` on the card [`World::pending`] posted.
    pub fn card_click(&self, user: &str, action: &str, id: RequestId) -> Request<Body> {
        self.click(
            user,
            action,
            id.0,
            "CAPPROVERS",
            "1700000000.000100",
            "http://127.0.0.1:9/actions/1",
        )
    }

    /// Sends a request through the router.
    pub async fn send(&self, req: Request<Body>) -> (u16, String) {
        let resp: Response<Body> = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router always answers");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A correctly signed form POST at the clock's time.
    pub fn signed(&self, path: &str, body: &str) -> Request<Body> {
        let ts = self.clock.now().as_second();
        signed_at(
            path,
            body,
            ts,
            &slack_signature(SIGNING_SECRET.as_bytes(), ts, body.as_bytes()),
        )
    }

    /// A `/jit` command from `user`.
    pub fn command(&self, user: &str, text: &str, trigger: &str) -> Request<Body> {
        let body = serde_urlencoded::to_string([
            ("token", "deprecated"),
            ("team_id", TEAM),
            ("channel_id", "CREQ"),
            ("user_id", user),
            ("user_name", "display-name-is-ignored"),
            ("command", "/jit"),
            ("text", text),
            ("response_url", "http://127.0.0.1:9/commands/1"),
            ("trigger_id", trigger),
            ("api_app_id", APP_ID),
        ])
        .expect("form encodes");
        self.signed("/slack/commands", &body)
    }

    /// A click on a card (`action` = `approve`, `deny`, `revoke`).
    pub fn click(
        &self,
        user: &str,
        action: &str,
        id: u64,
        channel: &str,
        ts: &str,
        response_url: &str,
    ) -> Request<Body> {
        let payload = click_payload(user, action, id, channel, ts, response_url);
        let body =
            serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form encodes");
        self.signed("/slack/interactions", &body)
    }
}

/// The JSON of a `block_actions` payload.
pub fn click_payload(
    user: &str,
    action: &str,
    id: u64,
    channel: &str,
    ts: &str,
    response_url: &str,
) -> serde_json::Value {
    serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": APP_ID,
        "token": "deprecated",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": "1.2.3",
        "team": {"id": TEAM, "domain": "example"},
        "channel": {"id": channel, "name": "ingress-approvers"},
        "response_url": response_url,
        "actions": [{"type": "button", "block_id": format!("jit_review_{id}_v1"), "action_id": format!("jit_{action}"),
                     "value": id.to_string(), "action_ts": "1700000005.123456"}]
    })
}

/// A form POST with the given timestamp and signature headers.
pub fn signed_at(path: &str, body: &str, ts: i64, signature: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(Body::from(body.to_string()))
        .expect("request builds")
}
