//! [`Verified`], the extractor both observation routes start with: the sender's bearer token
//! first (so nobody without it makes jitpe read a large body), then the content type, then the
//! body within `audit.body_limit` and `server.body_read_timeout`. Each failure is refused and
//! audited by [`RouteState::refuse`].

use super::{Refusal, RouteState, kind};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use subtle::ConstantTimeEq;

/// A body from a sender that holds the route's token, read within the limits.
pub(super) struct Verified(pub Bytes);

impl FromRequest<RouteState> for Verified {
    type Rejection = Response;

    async fn from_request(req: Request, app: &RouteState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        if let Err(refusal) = check_token(&parts.headers, app) {
            return Err(close(app.refuse(refusal).await));
        }
        if let Err(refusal) = check_json(&parts.headers) {
            return Err(close(app.refuse(refusal).await));
        }
        match collect(body, app).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(refusal) => Err(close(app.refuse(refusal).await)),
        }
    }
}

/// `Authorization: Bearer <token>`, compared in constant time. The token itself never appears
/// in a reason.
fn check_token(headers: &HeaderMap, app: &RouteState) -> Result<(), Refusal> {
    let unauthorized = |why: &str| Refusal::new(StatusCode::UNAUTHORIZED, kind::TOKEN, why);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "no `Authorization: Bearer <token>` header: send the token configured as \
             the route's token in jitpe",
        ));
    };
    // The scheme is case-insensitive (RFC 7235); the token is compared as sent.
    let given = match value.as_bytes().split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => token,
        _ => {
            return Err(unauthorized(
                "the Authorization header is not `Bearer <token>`",
            ));
        }
    };
    let expected = app.token.expose().as_bytes();
    if given.is_empty() || !bool::from(given.ct_eq(expected)) {
        return Err(unauthorized("wrong token"));
    }
    Ok(())
}

/// Both senders post `application/json`; Falco without `json_output` posts `text/plain`, which
/// jitpe cannot read. A request without a content type is read as JSON.
fn check_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let json = ct
        .to_str()
        .ok()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if json {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::BAD_REQUEST,
        kind::CONTENT_TYPE,
        "content type must be application/json (for Falco, set `json_output: true`)",
    ))
}

/// The whole body within the route's size and time limits.
async fn collect(body: Body, app: &RouteState) -> Result<Bytes, Refusal> {
    let (limit, timeout) = (app.shared.body_limit, app.shared.body_timeout);
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            kind::TOO_LARGE,
            format!(
                "body larger than {limit} bytes (`audit.body_limit`); for the audit webhook, \
                 lower --audit-webhook-batch-max-size"
            ),
        )),
        Ok(Err(e)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            kind::UNREADABLE,
            format!("unreadable body: {e}"),
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            kind::SLOW_BODY,
            format!("the body did not arrive within {} s", timeout.as_secs_f32()),
        )),
    }
}

/// What is left of an unread body cannot be skipped safely: the connection is closed.
fn close(mut answer: Response) -> Response {
    let close = HeaderValue::from_static("close");
    answer.headers_mut().insert(header::CONNECTION, close);
    answer
}
