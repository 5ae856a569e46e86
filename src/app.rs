//! Wiring, and only wiring: settings → adapters → ports → service; spawn the workers; serve
//! HTTP until the shutdown signal; stop the workers.

use crate::chat::mattermost::client::MattermostChat;
use crate::chat::mattermost::routes::MattermostInbound;
use crate::chat::slack::respond::SlackResponder;
use crate::chat::slack::routes::SlackInbound;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::kube::lazy::LazyKubeCluster;
use crate::metrics::Metrics;
use crate::ports::{Chat, Clock, Cluster, Store};
use crate::service::{ChatTargets, Service};
use crate::store::sled::SledStore;
use crate::web::{AppState, router};
use crate::workers::outbox::{Outbox, OutboxSettings};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

/// Where Slack's `response_url`s live; click answers go nowhere else.
const SLACK_RESPONSE_PREFIX: &str = "https://hooks.slack.com/";

/// The pieces `serve` and the CLI commands share.
pub struct Parts {
    /// The use cases.
    pub service: Service,
    /// The chat adapters of the enabled platforms.
    pub chats: Vec<Arc<dyn Chat>>,
    /// The Mattermost adapter, when enabled (the inbound side re-checks clickers with it).
    pub mattermost: Option<Arc<MattermostChat>>,
}

/// Opens the store and builds the adapters and the service.
pub fn build(settings: &Settings) -> anyhow::Result<Parts> {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&settings.store.path)?);
    let k = &settings.kubernetes;
    let cluster: Arc<dyn Cluster> = Arc::new(LazyKubeCluster::new(
        k.kubeconfig.clone(),
        k.field_manager.clone(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let crate::app_chat::ChatAdapters {
        all: chats,
        mattermost,
    } = crate::app_chat::chats(settings, clock.clone())?;
    let mut targets = ChatTargets::default();
    for chat in &chats {
        targets
            .approvers_channels
            .insert(chat.platform(), chat.approvers_channel().to_string());
    }
    let policy = Arc::new(settings.policy.clone());
    Ok(Parts {
        service: Service::new(store, cluster, clock, policy, targets)
            .with_instance(k.instance.clone()),
        chats,
        mattermost,
    })
}

/// Serves on `listener` until `shutdown` completes, with every worker running.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Parts {
        service,
        chats,
        mattermost,
    } = build(&settings)?;
    let metrics = Arc::new(Metrics::default());
    let cluster_ok = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    workers.push(tokio::spawn(crate::workers::expiry_worker(
        service.clone(),
        stop_rx.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::reconcile_worker(
        service.clone(),
        settings.kubernetes.reconcile_interval,
        cluster_ok.clone(),
        stop_rx.clone(),
    )));
    let outbox_settings = OutboxSettings {
        spacing: settings.outbox.per_channel_interval,
        max_attempts: settings.outbox.max_attempts,
        chain_head_interval: settings.audit.chain_head_interval,
    };
    let outbox = Outbox::new(
        service.store().clone(),
        service.clock().clone(),
        chats,
        Arc::new(settings.policy.clone()),
        outbox_settings,
        metrics.clone(),
    );
    workers.push(tokio::spawn(
        outbox.run(Duration::from_millis(250), stop_rx.clone()),
    ));
    let slack = settings.slack.as_ref().map(|s| {
        Arc::new(SlackInbound {
            signing_secret: s.signing_secret.expose().as_bytes().to_vec(),
            app_id: s.app_id.clone(),
            team_id: s.team_id.clone(),
            responder: SlackResponder::new(SLACK_RESPONSE_PREFIX),
        })
    });
    let state = AppState {
        service,
        metrics,
        cluster_ok,
        auth_audit: Default::default(),
        slack,
        mattermost: mattermost_inbound(&settings, mattermost),
    };
    let app = router(state, settings.server.body_limit);
    info!(addr = %listener.local_addr()?, "jitpe serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    info!("shutting down workers");
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    Ok(())
}

/// Mattermost's inbound settings, when it is enabled.
fn mattermost_inbound(
    settings: &Settings,
    chat: Option<Arc<MattermostChat>>,
) -> Option<Arc<MattermostInbound>> {
    let m = settings.mattermost.as_ref()?;
    Some(Arc::new(MattermostInbound {
        command_token: m.command_token.expose().as_bytes().to_vec(),
        team_id: m.team_id.clone(),
        action_secret: m.action_secret.expose().as_bytes().to_vec(),
        chat: chat?,
    }))
}
