//! Wiring, and only wiring: settings → adapters → ports → service; each enabled chat platform's
//! `build`; spawn the workers and the admin socket; serve HTTP until the shutdown signal; stop
//! the workers.

mod listen;

pub use listen::Listeners;
use listen::Served;

use crate::admin::AdminSocket;
use crate::chat::inbound::Inbound;
use crate::chat::{ChatPlatform, mattermost, slack};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::domain::identity::Platform;
use crate::kube::ingress_watch::KubeIngressWatch;
use crate::kube::lazy::LazyKubeCluster;
use crate::kube::token_review::LazyKubeTokenReviewer;
use crate::metrics::Metrics;
use crate::ports::{Chat, Clock, Cluster, Store};
use crate::service::tokens::{CacheLimits, CachedTokenReviewer};
use crate::service::{ChatTargets, CountedReviewer, Service};
use crate::store::sled::SledStore;
use crate::web::api::{self, ApiConfig};
use crate::web::observe::{self, ObserveSettings};
use crate::web::serve::ServerLimits;
use crate::web::{HealthState, app_router, metrics_router};
use crate::workers;
use crate::workers::audit_feed::{AuditFeed, AuditFeedSettings};
use crate::workers::breakglass::{BreakGlass, Spool};
use crate::workers::expiry::Expiry;
use crate::workers::ingress_feed::{IngressFeed, RecentWriters};
use crate::workers::outbox::{Outbox, OutboxSettings};
use crate::workers::probe::{Probe, StoreStatus};
use crate::workers::reconcile::Reconcile;
use crate::workers::role_check::{RoleCheck, RoleStatus};
use crate::workers::watch::Watch;
use crate::workers::watch::intake::{DEFAULT_CAPACITY, Intake};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

/// Opens the store and builds the cluster adapter and the service (what `serve` and the CLI
/// commands share).
pub fn service(settings: &Settings) -> anyhow::Result<Service> {
    let k = &settings.kubernetes;
    let cluster: Arc<dyn Cluster> = Arc::new(LazyKubeCluster::new(
        k.kubeconfig.clone(),
        k.field_manager.clone(),
    ));
    service_with(settings, cluster)
}

/// [`service`] over any cluster adapter (the benchmarks use a fake cluster); everything else is
/// built from `settings` as `jitpe serve` builds it.
pub fn service_with(settings: &Settings, cluster: Arc<dyn Cluster>) -> anyhow::Result<Service> {
    let store: Arc<dyn Store> = Arc::new(SledStore::open_with_cache(
        &settings.store.path,
        settings.store.cache_bytes,
    )?);
    let k = &settings.kubernetes;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let policy = Arc::new(settings.policy.clone());
    Ok(
        Service::new(store, cluster, clock, policy, targets(settings))
            .with_instance(k.instance.clone())
            .with_store_threads(settings.store.threads)
            .with_max_in_flight(k.max_in_flight),
    )
}

/// The default approvers channel of each enabled platform.
fn targets(settings: &Settings) -> ChatTargets {
    let mut targets = ChatTargets::default();
    if let Some(s) = &settings.slack {
        let channel = s.approvers_channel.clone();
        targets.approvers_channels.insert(Platform::Slack, channel);
    }
    if let Some(m) = &settings.mattermost {
        let channel = m.approvers_channel.clone();
        targets
            .approvers_channels
            .insert(Platform::Mattermost, channel);
    }
    targets
}

/// Each enabled platform's routes and adapter, over one shared inbound pipeline.
fn platforms(
    settings: &Settings,
    service: &Service,
    inbound: Arc<Inbound>,
) -> anyhow::Result<Vec<ChatPlatform>> {
    let mut out = Vec::new();
    if let Some(s) = &settings.slack {
        out.push(slack::build(s, inbound.clone())?);
    }
    if let Some(m) = &settings.mattermost {
        out.push(mattermost::build(m, service.clock().clone(), inbound)?);
    }
    Ok(out)
}

/// [`service`] on a blocking thread: opening sled may wait for a lock that is being released,
/// which must not hold up the async runtime.
pub async fn open_service(settings: &Settings) -> anyhow::Result<Service> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || service(&settings))
        .await
        .context("opening the store failed")?
}

/// Serves on `listeners` until `shutdown` completes, with every worker running.
pub async fn run(
    settings: Settings,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let service = open_service(&settings).await?;
    serve(settings, service, listeners, shutdown).await
}

/// [`run`] over a service already built (with [`service_with`] for another cluster adapter):
/// the same platforms, workers and router, served on `listeners` until `shutdown` completes.
pub async fn serve(
    settings: Settings,
    service: Service,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = listeners.into();
    let https = listen::https(&settings, listeners.https).await?;
    let metrics_listener = listen::metrics(&settings, listeners.metrics).await?;
    let admin = admin_socket(&settings).await?;
    // The observation routes queue into `intake`; the watch worker evaluates from `intake_rx`.
    let (intake, intake_rx) = Intake::new(DEFAULT_CAPACITY);
    // NB: the watch worker notes each Ingress write of the audit stream in `writers`, so the
    // Ingress feed can name who made a change; without the audit stream it names the field
    // manager.
    let writers = RecentWriters::default();
    let watcher = Watch::new(service.clone(), intake_rx, intake.stats().clone())
        .with_writers(writers.clone());
    let metrics = service.metrics().clone();
    let stats = intake.stats().clone();
    metrics.observations_from(move || stats.counts());
    let observing = observe_router(&settings, intake, &service, &metrics)
        .merge(api_router(&settings, &service, &metrics));
    let inbound = Arc::new(
        Inbound::new(service.clone(), metrics.clone())
            .with_max_in_flight(settings.server.max_in_flight)
            .with_body_limits(
                settings.server.body_read_timeout,
                settings.server.body_limit,
            ),
    );
    let (routers, chats): (Vec<_>, Vec<Arc<dyn Chat>>) = platforms(&settings, &service, inbound)?
        .into_iter()
        .map(|p| (p.router, p.chat))
        .unzip();
    let health = HealthState {
        service,
        metrics,
        cluster: Arc::default(),
        store: Arc::new(StoreStatus::default()),
        roles: Arc::new(RoleStatus::default()),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = spawn_workers(&settings, &health, chats, writers, &stop_rx);
    workers.push(workers::spawn(watcher, stop_rx.clone()));
    if let Some(admin) = admin {
        // Read-only, on the store threads; stops (and removes its file) with the workers.
        let threads = health.service.store_threads().clone();
        workers.push(tokio::spawn(admin.serve(threads, stop_rx.clone())));
    }
    let limits = ServerLimits {
        header_read_timeout: settings.server.header_read_timeout,
        max_connections: settings.server.max_connections,
    };
    let mut served = Vec::new();
    if let Some(listener) = metrics_listener {
        let app = metrics_router(health.clone());
        served.push(Served {
            listener,
            app,
            tls: None,
            name: "metrics",
        });
    }
    let with_metrics = served.is_empty();
    let body_limit = settings.server.body_limit;
    let app = app_router(health, routers, body_limit, observing, with_metrics);
    if let Some(h) = https {
        workers.push(workers::spawn(h.reload, stop_rx.clone()));
        let (listener, app, tls) = (h.listener, app.clone(), Some(h.acceptor));
        served.push(Served {
            listener,
            app,
            tls,
            name: "https",
        });
    }
    let (listener, tls) = (listeners.http, None);
    served.push(Served {
        listener,
        app,
        tls,
        name: "http",
    });
    listen::serve_all(served, limits, shutdown).await?;
    info!("shutting down workers");
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    Ok(())
}

/// The admin socket of `server.admin_socket`, bound, unless it is off.
async fn admin_socket(settings: &Settings) -> anyhow::Result<Option<AdminSocket>> {
    let Some(path) = &settings.store.admin_socket else {
        return Ok(None);
    };
    Ok(Some(AdminSocket::bind(path).await?))
}

/// `/api/v1`, if `[[policy.systems]]` names anyone: tokens verified by TokenReview as jitpe's
/// own identity, cached (`service::tokens`).
fn api_router(settings: &Settings, service: &Service, metrics: &Arc<Metrics>) -> axum::Router {
    if settings.policy.systems().is_empty() {
        return axum::Router::new();
    }
    let reviewer = LazyKubeTokenReviewer::new(settings.kubernetes.kubeconfig.clone());
    let reviewer = CountedReviewer::new(reviewer, metrics.clone());
    let clock = service.clock().clone();
    let cached = CachedTokenReviewer::new(reviewer, clock, CacheLimits::default());
    let config = ApiConfig {
        audiences: settings.api.audiences.clone(),
        body_limit: settings.api.body_limit,
        body_timeout: settings.server.body_read_timeout,
    };
    api::router(config, service.clone(), Arc::new(cached), metrics.clone())
}

/// `POST /k8s/audit` and `POST /falco`, each only if its token is set, queueing into `intake`.
fn observe_router(
    settings: &Settings,
    intake: Intake,
    service: &Service,
    metrics: &Arc<Metrics>,
) -> axum::Router {
    let audit = &settings.audit;
    let observe = ObserveSettings {
        k8s_audit_token: audit.k8s_audit_token.clone(),
        falco_token: audit.falco_token.clone(),
        body_limit: audit.body_limit,
        body_timeout: settings.server.body_read_timeout,
    };
    observe::router(observe, intake, service.clone(), metrics.clone())
}

/// Starts every background worker on the one runner; they stop when `stop` turns true.
fn spawn_workers(
    settings: &Settings,
    health: &HealthState,
    chats: Vec<Arc<dyn Chat>>,
    writers: RecentWriters,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let (service, metrics) = (&health.service, &health.metrics);
    let outbox = Outbox::new(
        service.store_threads().clone(),
        service.clock().clone(),
        chats.clone(),
        Arc::new(settings.policy.clone()),
        OutboxSettings {
            spacing: settings.outbox.per_channel_interval,
            give_up_after: settings.outbox.give_up_after,
        },
        metrics.clone(),
    )
    .with_wake(service.outbox_signal());
    let audit_feed = AuditFeed::new(
        service.store_threads().clone(),
        service.clock().clone(),
        chats,
        AuditFeedSettings {
            spacing: settings.outbox.per_channel_interval,
            chain_head_interval: settings.audit.chain_head_interval,
        },
    );
    let spool = Spool::new(settings.store.path.clone());
    let reconcile = Reconcile::new(
        service.clone(),
        settings.kubernetes.reconcile_interval,
        health.cluster.clone(),
    )
    .with_spool(spool.clone());
    let probe = Probe::new(service.clone(), health.store.clone());
    let interval = settings.kubernetes.reconcile_interval;
    let role_check = RoleCheck::new(service.clone(), health.roles.clone(), interval);
    let ingress_watch = KubeIngressWatch::lazy(settings.kubernetes.kubeconfig.clone());
    let ingress_feed = IngressFeed::new(service.clone(), Arc::new(ingress_watch), writers);
    vec![
        workers::spawn(Expiry::new(service.clone()), stop.clone()),
        workers::spawn(reconcile, stop.clone()),
        workers::spawn(outbox, stop.clone()),
        workers::spawn(audit_feed, stop.clone()),
        workers::spawn(probe, stop.clone()),
        workers::spawn(role_check, stop.clone()),
        workers::spawn(ingress_feed, stop.clone()),
        workers::spawn(BreakGlass::new(service.clone(), spool), stop.clone()),
    ]
}
