//! [`Caller`], the extractor every API route starts with: the bearer token is verified by a
//! TokenReview for `api.audiences` before anything else is read, and only a ServiceAccount's
//! token is accepted (people ask in chat). Which roles it may ask for is the policy's business,
//! decided when it asks.

use super::{ApiError, ApiState};
use crate::config::Secret;
use crate::domain::identity::{Actor, ServiceAccountName};
use crate::ports::TokenError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;

/// The verified ServiceAccount calling.
pub(super) struct Caller(pub Actor);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &ApiState) -> Result<Self, Response> {
        match verify(parts, app).await {
            Ok(actor) => Ok(Self(actor)),
            Err(e) => Err(app.refuse(None, e).await),
        }
    }
}

async fn verify(parts: &Parts, app: &ApiState) -> Result<Actor, ApiError> {
    let token = bearer(parts)?;
    let s = &app.0;
    let reviewed = s
        .reviewer
        .review(&token, &s.audiences)
        .await
        .map_err(|e| refused(e, &s.audiences))?;
    let Ok(sa) = ServiceAccountName::parse(&reviewed.username) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_service_account",
            format!(
                "the token is {}'s, not a ServiceAccount's: the API is for systems (a CI job's \
                 projected ServiceAccount token); people ask in chat with /jit request",
                reviewed.username
            ),
        ));
    };
    Ok(Actor::service_account(&sa))
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer(parts: &Parts) -> Result<Secret, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token",
            "send `Authorization: Bearer <token>` with a ServiceAccount token issued for jitpe \
             (a projected token with `audience: jitpe`, see the README's CI example)",
        )
    };
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    match value.split_at_checked(7) {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer ") && !token.trim().is_empty() =>
        {
            Ok(Secret::new(token.trim()))
        }
        _ => Err(missing()),
    }
}

/// The answer to a token that was not accepted: 401 when it was judged, 503 when jitpe could not
/// find out (the caller should retry; nothing is known about the token).
fn refused(e: TokenError, audiences: &[String]) -> ApiError {
    match e {
        TokenError::Refused(why) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token",
            format!(
                "the token was refused ({why}): send a current ServiceAccount token issued for \
                 the audience {}",
                audiences.join(" or ")
            ),
        ),
        TokenError::Throttled => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "throttled",
            "too many new tokens at once; retry in a few seconds",
        )
        .retry_after(2),
        TokenError::Unavailable(why) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "token_review_unavailable",
            format!("jitpe cannot verify tokens right now ({why}); retry in a minute"),
        )
        .retry_after(10),
    }
}
