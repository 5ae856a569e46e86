//! Refusals and body reading: every request jitpe does not act on is counted and audited, at
//! most so often per route and kind ([`crate::service::limit`]), so floods cannot fill the store.
//!
//! - [`Inbound::refuse`]: the request is not proven to come from the platform, or could not be
//!   read (`auth_failed`, actor `system:jitpe`). The audit channel shows these as a summary
//!   once a minute ([`crate::workers::audit_feed`]), so they cannot delay the real lines.
//! - [`Inbound::refused`]: the request is authentic but jitpe does not act on it (another
//!   workspace, not `/jit`, a malformed command, a look at a request the sender may not see):
//!   `refused`, by the sender when the platform named one.

use super::Inbound;
use crate::domain::audit::AuditDraft;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::text::Text;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracing::warn;

/// Fixed words for the kinds of refusal, used as audit `kind` and to group the caps.
pub mod kind {
    /// Wrong or missing content type.
    pub const CONTENT_TYPE: &str = "content_type";
    /// The body was larger than `server.body_limit`.
    pub const TOO_LARGE: &str = "too_large";
    /// The body did not arrive within `server.body_read_timeout`.
    pub const SLOW_BODY: &str = "slow_body";
    /// The body could not be read.
    pub const UNREADABLE: &str = "unreadable";
    /// A signature, token or signed button context that does not check out.
    pub const SIGNATURE: &str = "signature";
    /// A body that is not the form or JSON the platform sends.
    pub const MALFORMED: &str = "malformed";
    /// Fields jitpe needs (one action, a user id) are missing or invalid.
    pub const FIELDS: &str = "fields";
    /// Another workspace, team or app.
    pub const WORKSPACE: &str = "workspace";
    /// A slash command other than `/jit`.
    pub const NOT_JIT: &str = "not_jit";
    /// A `/jit` command that does not parse, or a look the policy refuses.
    pub const COMMAND: &str = "command";
    /// A click refused before it reaches a request.
    pub const CLICK: &str = "click";
}

impl Inbound {
    /// Refuses a request that failed authentication or could not be read: counted, logged and
    /// audited as `auth_failed` (capped; the next audited one of the same route and kind says
    /// how many were left out). The answer says why, in plain text.
    pub async fn refuse(
        &self,
        platform: Platform,
        route: &'static str,
        status: StatusCode,
        kind: &'static str,
        why: impl Into<String>,
    ) -> Response {
        let why = why.into();
        self.metrics.inbound(route, "auth_failed");
        warn!(%platform, %route, %kind, reason = %why, "refused an inbound request");
        if let Some(left_out) = self.auth_audit.admit((route, kind), self.now()) {
            let draft = AuditDraft::new(Actor::system(), "auth_failed", None);
            self.audit(draft, platform, route, kind, &why, left_out)
                .await;
        }
        (status, format!("refused: {why}\n")).into_response()
    }

    /// Refuses an authentic request jitpe does not act on: counted and audited as `refused` by
    /// `actor` (or `system:jitpe` when the platform named no valid user), capped like
    /// [`Inbound::refuse`]. Returns `why`, the answer for the sender.
    pub async fn refused(
        &self,
        platform: Platform,
        route: &'static str,
        actor: Option<&Actor>,
        kind: &'static str,
        why: impl Into<Text>,
    ) -> Text {
        let why = why.into();
        self.metrics.inbound(route, "refused");
        if let Some(left_out) = self.refusal_audit.admit((route, kind), self.now()) {
            let by = actor.cloned().unwrap_or_else(Actor::system);
            let draft = AuditDraft::new(by, "refused", None);
            self.audit(draft, platform, route, kind, &why.to_string(), left_out)
                .await;
        }
        why
    }

    /// Refuses a click before it reaches a request (not jitpe's button, a clicker the platform
    /// does not vouch for): counted and audited as `click_refused` (kind `click`, capped like
    /// the rest); returns `why` for the clicker.
    pub async fn refuse_click(
        &self,
        route: &'static str,
        actor: &Actor,
        id: Option<RequestId>,
        why: impl Into<Text>,
    ) -> Text {
        let why = why.into();
        self.metrics.inbound(route, "refused");
        if let Some(left_out) = self.refusal_audit.admit((route, kind::CLICK), self.now()) {
            let draft = AuditDraft::new(actor.clone(), "click_refused", id);
            let text = why.to_string();
            self.audit(draft, actor.platform, route, kind::CLICK, &text, left_out)
                .await;
        }
        why
    }

    /// [`Inbound::refused`] for a request that cannot be used at all (a malformed payload
    /// behind a valid signature): answered with `status` and the reason in plain text.
    pub async fn refused_request(
        &self,
        platform: Platform,
        route: &'static str,
        status: StatusCode,
        kind: &'static str,
        why: String,
    ) -> Response {
        let why = self.refused(platform, route, None, kind, why).await;
        (status, format!("refused: {why}\n")).into_response()
    }

    async fn audit(
        &self,
        draft: AuditDraft,
        platform: Platform,
        route: &str,
        kind: &str,
        why: &str,
        left_out: u64,
    ) {
        let mut draft = draft
            .with("platform", platform.as_str())
            .with("route", route)
            .with("kind", kind)
            .with("reason", why);
        if left_out > 0 {
            draft = draft.with("not_audited_before", left_out);
        }
        self.service.audit(draft).await;
    }

    /// Reads the body of `req` within `server.body_read_timeout` and `server.body_limit`, after
    /// checking that its content type starts with `content_type`. Anything else is refused
    /// (400, 408 or 413) and audited; a slow sender's connection is closed with the answer.
    pub async fn read_body(
        &self,
        platform: Platform,
        route: &'static str,
        req: Request,
        content_type: &str,
    ) -> Result<(Parts, Bytes), Response> {
        let (parts, body) = req.into_parts();
        let typed = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with(content_type));
        let refusal = if !typed {
            let why = format!("content type must be {content_type}");
            (StatusCode::BAD_REQUEST, kind::CONTENT_TYPE, why)
        } else {
            match self.collect(body).await {
                Ok(bytes) => return Ok((parts, bytes)),
                Err(refusal) => refusal,
            }
        };
        let (status, kind, why) = refusal;
        let mut answer = self.refuse(platform, route, status, kind, why).await;
        // What is left of the body is not read; the connection cannot carry another request.
        let close = HeaderValue::from_static("close");
        answer.headers_mut().insert(header::CONNECTION, close);
        Err(answer)
    }

    /// The whole body, or the status, kind and reason of its refusal.
    async fn collect(&self, body: Body) -> Result<Bytes, (StatusCode, &'static str, String)> {
        let limited = Limited::new(body, self.body_limit);
        match tokio::time::timeout(self.body_timeout, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                kind::TOO_LARGE,
                format!("body larger than {} bytes", self.body_limit),
            )),
            Ok(Err(e)) => Err((
                StatusCode::BAD_REQUEST,
                kind::UNREADABLE,
                format!("unreadable body: {e}"),
            )),
            Err(_) => Err((
                StatusCode::REQUEST_TIMEOUT,
                kind::SLOW_BODY,
                format!(
                    "the body did not arrive within {} s",
                    self.body_timeout.as_secs_f32()
                ),
            )),
        }
    }
}
