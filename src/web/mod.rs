//! The HTTP server's own part: health, readiness and metrics, the fallback, the body limit, and
//! one router that merges the routes of every enabled chat platform (built in `crate::chat`;
//! this module never looks inside them) and the observation routes (`observe/`: the audit
//! webhook and Falco alerts, with their own body limit). `error.rs` maps service errors to user
//! text; `serve.rs` is the server loop (read timeouts, connection limit), `tls.rs` the https
//! listener's certificate; `explain.rs` gives the framework's own error answers (405 and the
//! like) a body.

pub mod api;
pub mod error;
mod explain;
mod health;
pub mod observe;
pub mod serve;
pub mod tls;
pub mod traced;

use crate::metrics::Metrics;
use crate::service::Service;
use crate::workers::probe::StoreStatus;
use crate::workers::reconcile::ClusterStatus;
use crate::workers::role_check::RoleStatus;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;

/// State of the health and metrics endpoints.
#[derive(Clone)]
pub struct HealthState {
    /// The use cases.
    pub service: Service,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// What the last reconcile sweep found of the cluster (for `/readyz`), kept by the
    /// reconcile worker.
    pub cluster: Arc<ClusterStatus>,
    /// The last store probe (for `/readyz` and the store gauges), kept by the probe worker.
    pub store: Arc<StoreStatus>,
    /// What the last role check found missing in the cluster (warnings in `/readyz`), kept by
    /// the role-check worker.
    pub roles: Arc<RoleStatus>,
}

/// The router: health endpoints plus `platforms` (each chat platform's routes); `body_limit`
/// bytes is the largest body accepted (413 above it). Routes of disabled platforms are absent,
/// so they answer 404 like any unknown route.
pub fn router(health: HealthState, platforms: Vec<Router>, body_limit: usize) -> Router {
    router_observing(health, platforms, body_limit, Router::new())
}

/// [`router`] with `observe` ([`observe::router`]) merged in. The observation routes keep
/// their own body limit: `body_limit` (the chat limit) is applied before they are merged.
pub fn router_observing(
    health: HealthState,
    platforms: Vec<Router>,
    body_limit: usize,
    observe: Router,
) -> Router {
    app_router(health, platforms, body_limit, observe, true)
}

/// [`router_observing`] with or without `/metrics` (without: it is served on its own listener,
/// [`metrics_router`]).
pub fn app_router(
    health: HealthState,
    platforms: Vec<Router>,
    body_limit: usize,
    observe: Router,
    with_metrics: bool,
) -> Router {
    let metrics = health.metrics.clone();
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if with_metrics {
        app = app.route("/metrics", get(health::metrics));
    }
    let mut app = app.with_state(health);
    for platform in platforms {
        app = app.merge(platform);
    }
    let app = app
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(observe)
        .fallback(not_found);
    outermost(app, metrics)
}

/// The router of `server.metrics_listen`: `/metrics`, `/healthz` and `/readyz` only.
pub fn metrics_router(health: HealthState) -> Router {
    let metrics = health.metrics.clone();
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(health)
        .fallback(not_found);
    outermost(app, metrics)
}

/// What wraps every router: bodies for bodiless errors, then the request id, count and time.
fn outermost(app: Router, metrics: Arc<Metrics>) -> Router {
    // Around the whole router, not per route: the `Allow` header of a 405 is added outside a
    // route's own layers, and a request that matches no route is counted too.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(explain::empty_errors))
        .layer(axum::middleware::from_fn_with_state(metrics, traced::track))
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "no such route: see the README for jitpe's HTTP endpoints\n",
    )
}
