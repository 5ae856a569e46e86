//! The systems API: CI/CD pipelines ask for access with their own Kubernetes ServiceAccount
//! token, under `[[policy.systems]]`.
//!
//! ```text
//!  POST /api/v1/requests               {role, namespace: "ns[/ingress]", duration?, reason, labels?}
//!  GET  /api/v1/requests/{id}
//!  POST /api/v1/requests/{id}/revoke
//!  POST /api/v1/requests/{id}/extend   {duration, reason}
//!
//!    Caller (auth.rs): `Authorization: Bearer <token>` → TokenReview for `api.audiences`
//!    (cached, `service::tokens`) → a ServiceAccount username → the caller's `Actor`
//!    JsonBody (body.rs): application/json, within `api.body_limit` and the read timeout, no
//!    unknown fields
//!    routes.rs: the chat grammar's checks field by field → `Service::api_*` → the request as JSON
//! ```
//!
//! Served only when `[[policy.systems]]` has a rule. Every answer is JSON; an error is
//! `{"error": "<what is wrong and what to do>", "kind": "<fixed word>"}` with a status that says
//! who must act: 400 (the body), 401 (the token), 403 (the policy), 404, 409 (the request's
//! state), 413, 415, 503 (retry later). Refusals of the token are audited as `auth_failed`,
//! other refusals as `refused`, both capped per kind ([`RefusalLimiter`]).

mod auth;
mod body;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod routes;

use crate::domain::audit::AuditDraft;
use crate::domain::identity::Actor;
use crate::metrics::Metrics;
use crate::ports::TokenReviewer;
use crate::service::Service;
use crate::service::limit::RefusalLimiter;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// The API's path prefix.
pub const PREFIX: &str = "/api/v1";

/// What the API is configured with.
pub struct ApiConfig {
    /// A caller's token must be valid for one of these.
    pub audiences: Vec<String>,
    /// Largest accepted body (413 above it).
    pub body_limit: usize,
    /// Longest wait for a body once its head arrived (408 after it).
    pub body_timeout: Duration,
}

/// The routes of the API over `service`, verifying tokens with `reviewer`.
pub fn router(
    config: ApiConfig,
    service: Service,
    reviewer: Arc<dyn TokenReviewer>,
    metrics: Arc<Metrics>,
) -> Router {
    let state = ApiState(Arc::new(Shared {
        service,
        reviewer,
        metrics,
        audiences: config.audiences,
        body_limit: config.body_limit,
        body_timeout: config.body_timeout,
        auth_audit: RefusalLimiter::default(),
        refusal_audit: RefusalLimiter::default(),
    }));
    Router::new()
        .route(&format!("{PREFIX}/requests"), post(routes::create))
        .route(&format!("{PREFIX}/requests/{{id}}"), get(routes::show))
        .route(
            &format!("{PREFIX}/requests/{{id}}/revoke"),
            post(routes::revoke),
        )
        .route(
            &format!("{PREFIX}/requests/{{id}}/extend"),
            post(routes::extend),
        )
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state)
}

/// The API's state, cheap to clone.
#[derive(Clone)]
pub(super) struct ApiState(Arc<Shared>);

struct Shared {
    service: Service,
    reviewer: Arc<dyn TokenReviewer>,
    metrics: Arc<Metrics>,
    audiences: Vec<String>,
    body_limit: usize,
    body_timeout: Duration,
    auth_audit: RefusalLimiter,
    refusal_audit: RefusalLimiter,
}

/// A refused API call: its status, a fixed kind word and the message for the caller.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same, telling the caller to retry after `seconds`.
    pub(super) fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "kind": self.kind });
        let mut answer = (self.status, axum::Json(body)).into_response();
        let headers = answer.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        answer
    }
}

impl ApiState {
    /// Counts, logs and audits (capped per kind) a refused call by `caller` (`None` before the
    /// token was verified), then answers it. The message never holds a token.
    pub(super) async fn refuse(&self, caller: Option<&Actor>, e: ApiError) -> Response {
        let s = &self.0;
        let (result, action, cap) = match e.status {
            StatusCode::UNAUTHORIZED => ("auth_failed", "auth_failed", &s.auth_audit),
            StatusCode::SERVICE_UNAVAILABLE => ("shed", "refused", &s.refusal_audit),
            _ => ("refused", "refused", &s.refusal_audit),
        };
        s.metrics.inbound(PREFIX, result);
        warn!(kind = e.kind, status = e.status.as_u16(), reason = %e.message, "refused an API call");
        let now = s.service.clock().now().as_second();
        if let Some(left_out) = cap.admit((PREFIX, e.kind), now) {
            let who = caller.cloned().unwrap_or_else(Actor::system);
            let mut draft = AuditDraft::new(who, action, None)
                .with("route", PREFIX)
                .with("kind", e.kind)
                .with("reason", clip(&e.message));
            if left_out > 0 {
                draft = draft.with("not_audited_before", left_out);
            }
            s.service.audit(draft).await;
        }
        e.into_response()
    }
}

/// A message cut to what the audit record keeps: decoding errors may quote the input.
fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}
