//! The API's create body without the service, for the fuzz targets (feature `fuzzing`; see
//! [`crate::fuzzing`]). A child of `web::api`, so the wire types stay private.

use super::routes::{CreateBody, new_request};
use crate::domain::identity::{Actor, ServiceAccountName};
use crate::domain::lifecycle::NewRequest;
use axum::http::HeaderMap;

/// `POST /api/v1/requests` on a body from a verified caller: the request it would submit, or
/// the message the caller would get.
pub fn create(body: &[u8]) -> Result<NewRequest, String> {
    let parsed: CreateBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let sa = ServiceAccountName::parse("system:serviceaccount:ci:fuzz").expect("a valid name");
    new_request(&Actor::service_account(&sa), parsed, &HeaderMap::new())
        .map(|(new, _)| new)
        .map_err(|e| e.message)
}
