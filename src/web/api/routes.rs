//! The API's handlers and wire types: each route checks its fields with the chat grammar's
//! rules, calls one `Service::api_*` use case, and answers the request as JSON.

use super::auth::Caller;
use super::body::JsonBody;
use super::{ApiError, ApiState};
use crate::domain::DomainError;
use crate::domain::command::{Command, CommandError, extend_fields, request_fields};
use crate::domain::duration::format_duration;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::NewRequest;
use crate::domain::request::{AccessRequest, Labels, State as Lifecycle};
use crate::ports::{ClusterError, StoreError};
use crate::service::Error;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::error;

/// `POST /api/v1/requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    role: String,
    /// `<namespace>[/<ingress-name>]`, as in chat.
    namespace: String,
    /// As in chat (`15m`, `1h30m`); the role's default when absent.
    duration: Option<String>,
    reason: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// `POST /api/v1/requests/{id}/extend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendBody {
    duration: String,
    reason: String,
}

/// A request as the API shows it.
#[derive(Debug, Serialize)]
struct RequestJson<'a> {
    id: u64,
    state: Lifecycle,
    role: &'a str,
    namespace: &'a str,
    ingress: Option<&'a str>,
    duration: String,
    duration_seconds: u64,
    reason: &'a str,
    requester: String,
    grantee: &'a str,
    labels: &'a Labels,
    approvals_needed: usize,
    approvals: usize,
    auto_approved: bool,
    created_at: Timestamp,
    pending_until: Option<Timestamp>,
    activated_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    end_reason: Option<&'a str>,
    revoked_by_rule: Option<&'a str>,
    extension_pending: bool,
}

impl<'a> RequestJson<'a> {
    fn of(r: &'a AccessRequest) -> Self {
        Self {
            id: r.id.0,
            state: r.state,
            role: r.role.as_str(),
            namespace: r.namespace.as_str(),
            ingress: r.resource.as_ref().map(|i| i.as_str()),
            duration: format_duration(r.duration),
            duration_seconds: r.duration.as_secs(),
            reason: &r.reason,
            requester: r.requester.to_string(),
            grantee: &r.subject.user,
            labels: &r.labels,
            approvals_needed: r.approvals_needed,
            approvals: r.approvals.len(),
            auto_approved: r.auto_approved,
            created_at: r.created_at,
            pending_until: (r.state == Lifecycle::Pending).then_some(r.pending_until),
            activated_at: r.activated_at,
            expires_at: r.expires_at,
            ended_at: r.ended_at,
            end_reason: r.end_reason.as_deref(),
            revoked_by_rule: r.revoked_by_rule.as_deref(),
            extension_pending: r.extension.is_some(),
        }
    }
}

fn answer(status: StatusCode, r: &AccessRequest) -> Response {
    (status, axum::Json(RequestJson::of(r))).into_response()
}

/// The `Idempotency-Key` header, if any: a retried call with the same key stores nothing new.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 128 && k.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key",
            "the Idempotency-Key header must be 1 to 128 visible ASCII characters (a UUID is fine)",
        )),
    }
}

pub(super) async fn create(
    State(app): State<ApiState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Response {
    let new = match new_request(&caller, body, &headers) {
        Ok(new) => new,
        Err(e) => return app.refuse(Some(&caller), e).await,
    };
    let (new, key) = new;
    match app.0.service.api_submit(new, key.as_deref()).await {
        Ok(Some(req)) => answer(StatusCode::CREATED, &req),
        Ok(None) => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "a request with this Idempotency-Key was already stored; GET it by its id instead",
        )
        .into_response(),
        Err(e) => service_error(&e).into_response(),
    }
}

/// The new request of `body` with its idempotency key, every field checked as chat checks it.
pub(super) fn new_request(
    caller: &Actor,
    body: CreateBody,
    headers: &HeaderMap,
) -> Result<(NewRequest, Option<String>), ApiError> {
    let key = idempotency_key(headers)?;
    let cmd = request_fields(
        &body.role,
        &body.namespace,
        body.duration.as_deref(),
        &body.reason,
    )
    .map_err(grammar)?;
    let Command::Request {
        role,
        namespace,
        resource,
        duration,
        reason,
    } = cmd
    else {
        unreachable!("request_fields builds a request");
    };
    let labels = Labels::parse(body.labels).map_err(|e| service_error(&e.into()))?;
    let new = NewRequest {
        requester: caller.clone(),
        role,
        namespace,
        resource,
        duration,
        reason,
        labels,
    };
    Ok((new, key))
}

pub(super) async fn show(
    State(app): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match request_id(&id) {
        Ok(id) => answered(app.0.service.api_get(&caller, id).await),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn revoke(
    State(app): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match request_id(&id) {
        Ok(id) => answered(app.0.service.api_revoke(&caller, id).await),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn extend(
    State(app): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExtendBody>,
) -> Response {
    let id = match request_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let (duration, reason) = match extend_fields(id, &body.duration, &body.reason) {
        Ok(fields) => fields,
        Err(e) => return app.refuse(Some(&caller), grammar(e)).await,
    };
    answered(
        app.0
            .service
            .api_extend(&caller, id, duration, reason)
            .await,
    )
}

/// A use case's answer: the request (200), or its error's status and message.
fn answered(result: crate::service::Result<AccessRequest>) -> Response {
    match result {
        Ok(req) => answer(StatusCode::OK, &req),
        Err(e) => service_error(&e).into_response(),
    }
}

/// A request id from the path (`12` or `#12`).
fn request_id(text: &str) -> Result<RequestId, ApiError> {
    text.parse().map_err(|e: crate::domain::ids::IdError| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
    })
}

fn grammar(e: CommandError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
}

/// The status of a failed use case: whose move it is. The service audited domain refusals.
fn service_error(e: &Error) -> ApiError {
    use DomainError as D;
    let message = crate::web::error::user_text(e);
    let (status, kind) = match e {
        Error::Domain(d) => match d {
            D::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            D::NamespaceNotAllowed(_)
            | D::UnknownSystem(_)
            | D::SystemNotAllowed { .. }
            | D::UnmappedUser(_)
            | D::NotRequester(_)
            | D::NotRequesterOrApprover(_) => (StatusCode::FORBIDDEN, "policy"),
            D::AlreadyDecided { .. } | D::NotActive(_) | D::ExtensionPending(_) | D::NotDue(_) => {
                (StatusCode::CONFLICT, "state")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid"),
        },
        Error::Store(StoreError::Conflict(_)) | Error::Contended(_) => {
            (StatusCode::CONFLICT, "contended")
        }
        Error::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store"),
        Error::Cluster(ClusterError::Unavailable(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "cluster")
        }
        Error::Cluster(other) => {
            error!(error = %other, "cluster refused an API call's change");
            (StatusCode::BAD_GATEWAY, "cluster")
        }
    };
    let e = ApiError::new(status, kind, message);
    match status {
        StatusCode::SERVICE_UNAVAILABLE => e.retry_after(5),
        _ => e,
    }
}
