//! The HTTP surface: a thin axum layer. Signature checks live in extractors; handlers turn a
//! verified request into a service call and reply fast; `error.rs` maps errors to user text.

pub mod error;
mod health;
pub mod limit;

use crate::metrics::Metrics;
use crate::service::Service;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Route of the Slack slash command.
pub const SLACK_COMMANDS: &str = "/slack/commands";
/// Route of Slack interactivity (button clicks).
pub const SLACK_INTERACTIONS: &str = "/slack/interactions";
/// Route of the Mattermost slash command.
pub const MATTERMOST_COMMANDS: &str = "/mattermost/commands";
/// Route of Mattermost button callbacks.
pub const MATTERMOST_ACTIONS: &str = "/mattermost/actions";

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub service: Service,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Whether the last reconcile sweep reached the cluster (for `/readyz`).
    pub cluster_ok: Arc<AtomicBool>,
    /// Caps audit records of authentication failures.
    pub auth_audit: Arc<limit::AuthAuditLimiter>,
    /// Slack's inbound settings; `None` when Slack is not configured (its routes answer 404).
    pub slack: Option<Arc<crate::chat::slack::routes::SlackInbound>>,
    /// Mattermost's inbound settings; `None` when Mattermost is not configured.
    pub mattermost: Option<Arc<crate::chat::mattermost::routes::MattermostInbound>>,
}

/// The router; `body_limit` bytes is the largest body accepted (413 above it).
pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(SLACK_COMMANDS, post(crate::chat::slack::routes::command))
        .route(
            SLACK_INTERACTIONS,
            post(crate::chat::slack::routes::interaction),
        )
        .route(
            MATTERMOST_COMMANDS,
            post(crate::chat::mattermost::routes::command),
        )
        .route(
            MATTERMOST_ACTIONS,
            post(crate::chat::mattermost::routes::action),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "no such route: see the README for jitpe's HTTP endpoints\n",
    )
}
