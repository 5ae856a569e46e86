//! [`JsonBody`]: an API body read as JSON within `api.body_limit` and the body read timeout,
//! decoded into a type that refuses unknown fields, every failure a JSON error that says what to
//! send instead. Used after [`super::auth::Caller`], so nobody without a token makes jitpe read a
//! body.

use super::{ApiError, ApiState};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

/// A decoded JSON body.
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &ApiState) -> Result<Self, Response> {
        match read(req, app).await {
            Ok(value) => Ok(Self(value)),
            Err(e) => Err(app.refuse(None, e).await),
        }
    }
}

async fn read<T: DeserializeOwned>(req: Request, app: &ApiState) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    check_json(&parts.headers)?;
    let bytes = collect(body, app).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!(
                "the body is not the JSON this route takes: {e} (see the README's API reference)"
            ),
        )
    })
}

/// `Content-Type: application/json` (parameters such as `charset` allowed).
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|ct| ct.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    match json {
        true => Ok(()),
        false => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "send the body as JSON with `Content-Type: application/json`",
        )),
    }
}

async fn collect(body: axum::body::Body, app: &ApiState) -> Result<Bytes, ApiError> {
    let (limit, timeout) = (app.0.body_limit, app.0.body_timeout);
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is larger than {limit} bytes (`api.body_limit`): send fewer or shorter labels"
            ),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable",
            format!("the body could not be read: {e}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "slow_body",
            format!("the body did not arrive within {} s", timeout.as_secs_f32()),
        )),
    }
}
