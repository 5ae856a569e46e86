//! jitpe served on loopback as `jitpe serve` wires it (`app::service_with` + `app::serve`), with
//! a [`FakeCluster`] instead of Kubernetes and a fake Slack Web API for the outbox, plus signed
//! Slack slash commands for it.

use axum::Json;
use axum::extract::Path as UrlPath;
use axum::routing::post;
use jitpe::chat::slack::verify::slack_signature;
use jitpe::config::Settings;
use jitpe::ports::Cluster;
use jitpe::testing::FakeCluster;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Slack app's signing secret.
pub const SIGNING_SECRET: &str = "bench-signing-secret-0123456789abcdef";
/// The bearer token of `POST /k8s/audit`.
pub const AUDIT_TOKEN: &str = "bench-audit-token-0123456789abcdef";
/// The bench workspace and app.
pub const TEAM: &str = "T0BENCH";
/// The bench app id.
pub const APP_ID: &str = "A0BENCH";
/// How many requesters the policy maps (requests are spread over them).
pub const USERS: usize = 1000;

/// The Slack user id of requester `i` (modulo [`USERS`]).
pub fn user(i: usize) -> String {
    format!("U{:07}", i % USERS)
}

/// The policy: [`USERS`] mapped requesters, role `debug` (one approval by `UAPP1`, two
/// bindings like the example config, no auto-approval and so no per-user daily limit).
pub fn policy_toml() -> String {
    let mut s = String::from(
        r#"
[policy]
pending_ttl = "1h"
[policy.namespaces]
allow = ["shop"]
[policy.groups]
sre = ["slack:UAPP1"]
[policy.roles.debug]
default_duration = "15m"
max_duration = "1h"
approver_groups = ["sre"]
[[policy.roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[[policy.roles.debug.bindings]]
cluster_role = "jitpe-ingress-controller-logs"
namespace = "ingress-nginx"
"#,
    );
    for i in 0..USERS {
        let u = user(i);
        let _ = write!(
            s,
            "[[policy.identities]]\nkube_user = \"user{i}@example.com\"\nchat = [\"slack:{u}\"]\n"
        );
    }
    s
}

/// The whole config: the store at `store`, Slack on with its Web API at `slack_api`.
pub fn config_toml(store: &Path, slack_api: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:9"
[store]
path = "{store}"
[slack]
enabled = true
api_base_url = "{slack_api}"
app_id = "{APP_ID}"
team_id = "{TEAM}"
approvers_channel = "C0APPROVERS"
audit_channel = "C0AUDIT"
{policy}"#,
        store = store.display(),
        policy = policy_toml()
    )
}

/// Validated settings of [`config_toml`], with the Slack secrets given as environment.
pub fn settings(store: &Path, slack_api: &str) -> Settings {
    let env = |k: &str| match k {
        "JITPE_SLACK_BOT_TOKEN" => Some("xoxb-bench".to_string()),
        "JITPE_SLACK_SIGNING_SECRET" => Some(SIGNING_SECRET.to_string()),
        "JITPE_AUDIT_K8S_AUDIT_TOKEN" => Some(AUDIT_TOKEN.to_string()),
        _ => None,
    };
    jitpe::config::parse(&config_toml(store, slack_api), &env).expect("the bench config is valid")
}

/// A Slack Web API that accepts every call at once: `chat.postMessage` answers with a fresh
/// `ts`, `conversations.open` with a DM channel. Returns its base URL (`http://…/api`).
pub async fn fake_slack() -> String {
    let ts = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/api/{method}",
        post(move |UrlPath(method): UrlPath<String>, Json(body): Json<Value>| {
            let n = ts.fetch_add(1, Ordering::Relaxed);
            async move {
                let channel = body["channel"].as_str().unwrap_or("C0").to_string();
                Json(match method.as_str() {
                    "conversations.open" => json!({"ok": true, "channel": {"id": "D0BENCH"}}),
                    _ => json!({"ok": true, "channel": channel, "ts": format!("1700000000.{n:06}")}),
                })
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api")
}

/// jitpe serving on loopback.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The service it serves, to read requests back (the store is locked by the server).
    pub service: jitpe::service::Service,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Builds the service (store opened on a blocking thread, as `app::open_service` does) over a
/// [`FakeCluster`] and serves it on `127.0.0.1:0` with every worker.
pub async fn start(settings: Settings) -> Running {
    let cluster: Arc<dyn Cluster> = Arc::new(FakeCluster::default());
    let s = settings.clone();
    let service = tokio::task::spawn_blocking(move || jitpe::app::service_with(&s, cluster))
        .await
        .expect("open task")
        .expect("the store opens");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(jitpe::app::serve(
        settings,
        service.clone(),
        listener,
        shutdown,
    ));
    Running {
        addr,
        service,
        stop,
        task,
    }
}

impl Running {
    /// Stops serving and waits for the workers to end (and the store to close).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("served without error");
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A `/jit <text>` slash command from `user` as Slack sends it: the form body, and the
/// `X-Slack-Request-Timestamp` and v0 `X-Slack-Signature` headers signed now.
pub fn signed_command(user: &str, text: &str, trigger: &str) -> (String, String, String) {
    let body = serde_urlencoded::to_string([
        ("token", "deprecated"),
        ("team_id", TEAM),
        ("channel_id", "CREQ"),
        ("user_id", user),
        ("user_name", "ignored"),
        ("command", "/jit"),
        ("text", text),
        ("response_url", "https://hooks.slack.com/commands/1"),
        ("trigger_id", trigger),
        ("api_app_id", APP_ID),
    ])
    .expect("form encodes");
    let ts = jiff::Timestamp::now().as_second();
    let sig = slack_signature(SIGNING_SECRET.as_bytes(), ts, body.as_bytes());
    (body, ts.to_string(), sig)
}
