//! The observation routes: what jitpe is told about the cluster while grants are live.
//!
//! ```text
//!  kube-apiserver audit webhook ── POST /k8s/audit (audit.k8s.io/v1 EventList) ─┐
//!  Falcosidekick webhook output ── POST /falco     (one Falco JSON alert)      ─┤
//!                                                                               ▼
//!    Verified (verify.rs): bearer token in constant time → JSON content type → body within
//!    `audit.body_limit` and `server.body_read_timeout`
//!    decode (k8s_audit.rs, falco.rs): private wire types → clipped `Observation`s
//!    Intake::offer: queued for the watch worker, answered 200 at once; full queue → 503
//! ```
//!
//! Each route exists only when its token is configured (`audit.k8s_audit_token`,
//! `audit.falco_token`); without it the path answers 404 like any unknown route. Every refusal
//! is counted (`jitpe_inbound_requests{route,result}`), logged and audited (`auth_failed` for a
//! token that does not check out, `refused` for the rest, with a fixed `kind`), capped per route
//! and kind by [`RefusalLimiter`] so a flood cannot grow the audit log. Tokens are never logged
//! or audited. The routes never wait for the evaluation: the apiserver must not be slowed.

mod falco;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod k8s_audit;
mod verify;

use crate::config::Secret;
use crate::domain::anomaly::Observation;
use crate::domain::audit::AuditDraft;
use crate::domain::identity::Actor;
use crate::metrics::Metrics;
use crate::service::Service;
use crate::service::limit::RefusalLimiter;
use crate::workers::watch::Intake;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Route of the Kubernetes audit webhook.
pub const K8S_AUDIT: &str = "/k8s/audit";
/// Route of Falco alerts.
pub const FALCO: &str = "/falco";

/// Longest string kept from an observation (user names, resources, rule names); longer ones
/// are cut, so a hostile sender cannot make the queue or the evidence large.
pub const MAX_FIELD_CHARS: usize = 256;
/// Longest Falco `output` line kept: Falco's lines are often longer than a field.
pub const MAX_OUTPUT_CHARS: usize = 1024;

/// Fixed words for the kinds of refusal, used as audit `kind` and to group the caps.
pub mod kind {
    /// The bearer token is missing or wrong.
    pub const TOKEN: &str = "token";
    /// A content type other than JSON.
    pub const CONTENT_TYPE: &str = "content_type";
    /// The body was larger than `audit.body_limit`.
    pub const TOO_LARGE: &str = "too_large";
    /// The body did not arrive within `server.body_read_timeout`.
    pub const SLOW_BODY: &str = "slow_body";
    /// The body could not be read.
    pub const UNREADABLE: &str = "unreadable";
    /// Not the JSON the sender is documented to send.
    pub const MALFORMED: &str = "malformed";
    /// An audit `EventList` of another API version or kind.
    pub const API_VERSION: &str = "api_version";
    /// The evaluation queue is full; the sender should retry.
    pub const QUEUE_FULL: &str = "queue_full";
}

/// What the observation routes are configured with.
pub struct ObserveSettings {
    /// Token of `POST /k8s/audit`; `None` leaves the route out.
    pub k8s_audit_token: Option<Secret>,
    /// Token of `POST /falco`; `None` leaves the route out.
    pub falco_token: Option<Secret>,
    /// Largest body accepted (413 above it).
    pub body_limit: usize,
    /// Longest wait for a body once its head arrived (408 after it).
    pub body_timeout: Duration,
}

/// The observation routes whose tokens are set, with their own body limit (not the chat one).
pub fn router(
    settings: ObserveSettings,
    intake: Intake,
    service: Service,
    metrics: Arc<Metrics>,
) -> Router {
    let shared = Arc::new(Shared {
        intake,
        service,
        metrics,
        auth_audit: RefusalLimiter::default(),
        refusal_audit: RefusalLimiter::default(),
        body_limit: settings.body_limit,
        body_timeout: settings.body_timeout,
    });
    let mut app = Router::new();
    if let Some(token) = settings.k8s_audit_token {
        let state = RouteState::new(&shared, K8S_AUDIT, "kube-apiserver", token);
        let route = Router::new().route(K8S_AUDIT, post(k8s_audit::receive));
        app = app.merge(route.with_state(state));
    }
    if let Some(token) = settings.falco_token {
        let state = RouteState::new(&shared, FALCO, "falco", token);
        let route = Router::new().route(FALCO, post(falco::receive));
        app = app.merge(route.with_state(state));
    }
    // The bodies are read with `Limited` in `Verified`; this keeps any framework extractor
    // within the same bound.
    app.layer(DefaultBodyLimit::max(settings.body_limit))
}

/// What both routes share.
struct Shared {
    intake: Intake,
    service: Service,
    metrics: Arc<Metrics>,
    auth_audit: RefusalLimiter,
    refusal_audit: RefusalLimiter,
    body_limit: usize,
    body_timeout: Duration,
}

/// One route's state: the shared parts, its path, who sends to it, and its token.
#[derive(Clone)]
struct RouteState {
    shared: Arc<Shared>,
    route: &'static str,
    sender: &'static str,
    token: Arc<Secret>,
}

/// Why a request is not taken: the status, a fixed kind word, and the reason for the sender.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    kind: &'static str,
    why: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, why: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            why: why.into(),
        }
    }

    /// A body that is not what the sender documents (400).
    fn malformed(why: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind::MALFORMED, why)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl RouteState {
    fn new(shared: &Arc<Shared>, route: &'static str, sender: &'static str, token: Secret) -> Self {
        Self {
            shared: shared.clone(),
            route,
            sender,
            token: Arc::new(token),
        }
    }

    /// Queues what a request held and answers at once: 200 with how many observations were
    /// queued, or 503 with `Retry-After: 1` when the queue is full (refused and audited).
    async fn offer(&self, observations: Vec<Observation>) -> Response {
        let n = observations.len();
        match self.shared.intake.offer(observations) {
            Ok(()) => {
                self.shared.metrics.inbound(self.route, "ok");
                let body = serde_json::json!({ "queued": n });
                (StatusCode::OK, axum::Json(body)).into_response()
            }
            Err(full) => {
                let status = StatusCode::SERVICE_UNAVAILABLE;
                let refusal = Refusal::new(status, kind::QUEUE_FULL, full.to_string());
                let mut answer = self.refuse(refusal).await;
                let retry = HeaderValue::from_static("1");
                answer.headers_mut().insert(header::RETRY_AFTER, retry);
                answer
            }
        }
    }

    /// Refuses a request: counted, logged and audited (capped per route and kind; the next
    /// audited one says how many were left out). A bad token is `auth_failed`, anything else
    /// `refused`. The answer says why, in plain text.
    async fn refuse(&self, r: Refusal) -> Response {
        let s = &self.shared;
        let (result, action, cap) = match r.status {
            StatusCode::UNAUTHORIZED => ("auth_failed", "auth_failed", &s.auth_audit),
            StatusCode::SERVICE_UNAVAILABLE => ("shed", "refused", &s.refusal_audit),
            _ => ("refused", "refused", &s.refusal_audit),
        };
        s.metrics.inbound(self.route, result);
        let why = clip(r.why, MAX_REASON_CHARS);
        let (route, kind) = (self.route, r.kind);
        warn!(%route, %kind, reason = %why, "refused an observation request");
        let now = s.service.clock().now().as_second();
        if let Some(left_out) = cap.admit((route, kind), now) {
            let mut draft = AuditDraft::new(Actor::system(), action, None)
                .with("route", route)
                .with("sender", self.sender)
                .with("kind", kind)
                .with("reason", &why);
            if left_out > 0 {
                draft = draft.with("not_audited_before", left_out);
            }
            s.service.audit(draft).await;
        }
        let mut answer = (r.status, format!("refused: {why}\n")).into_response();
        if r.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Bearer");
            answer
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        answer
    }
}

/// Longest refusal reason kept: decoding errors may quote the input.
const MAX_REASON_CHARS: usize = 300;

/// `s` cut to at most `max` characters.
fn clip(mut s: String, max: usize) -> String {
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
    }
    s
}

/// An optional field as kept: clipped, and `None` when empty.
fn clip_opt(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
        .map(|s| clip(s, MAX_FIELD_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("ééé".into(), 2), "éé");
        assert_eq!(clip("abc".into(), 3), "abc");
        assert_eq!(clip_opt(Some(String::new())), None);
        assert_eq!(clip_opt(Some("x".repeat(1000))).unwrap().len(), 256);
    }
}
