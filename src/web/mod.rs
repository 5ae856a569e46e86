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

use crate::metrics::Metrics;
use crate::service::Service;
use crate::workers::probe::StoreStatus;
use crate::workers::role_check::RoleStatus;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// State of the health and metrics endpoints.
#[derive(Clone)]
pub struct HealthState {
    /// The use cases.
    pub service: Service,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Whether the last reconcile sweep reached the cluster (for `/readyz`).
    pub cluster_ok: Arc<AtomicBool>,
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
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(health);
    for platform in platforms {
        app = app.merge(platform);
    }
    let app = app
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(observe)
        .fallback(not_found);
    // Around the whole router, not per route: the `Allow` header of a 405 is added outside a
    // route's own layers.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(explain::empty_errors))
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "no such route: see the README for jitpe's HTTP endpoints\n",
    )
}
