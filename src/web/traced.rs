//! Every HTTP request gets an id, a tracing span and a count: the id comes from a sane
//! `X-Request-Id` header or is made here, is answered in `X-Request-Id`, and is a field of the
//! span that every log line written while the request is handled carries (the chat pipeline's
//! spawned work too); the answer is counted in `jitpe_http_requests_total{route,status}` and
//! timed in `jitpe_http_request_duration_seconds{route}`. Routes are labelled by their pattern
//! from a fixed list, so a scanner trying random paths cannot create new series.

use crate::metrics::{Metrics, ROUTES};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::{Instrument, info_span};

/// The header that carries a request's id in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// Counts, times and names one request (a `from_fn_with_state` middleware).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(req.uri().path());
    let id = given_id(req.headers().get(REQUEST_ID)).unwrap_or_else(new_id);
    let span = info_span!("http", request_id = %id, method = %req.method(), route);
    let mut resp = next.run(req).instrument(span).await;
    metrics.http(route, resp.status().as_u16(), started.elapsed());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// The label of `path`: its route pattern, or `unmatched`.
pub fn route_label(path: &str) -> &'static str {
    if let Some(route) = ROUTES.iter().find(|r| **r == path) {
        return route;
    }
    let Some(rest) = path.strip_prefix("/api/v1/requests/") else {
        return "unmatched";
    };
    match rest.split_once('/') {
        None if !rest.is_empty() => "/api/v1/requests/{id}",
        Some((id, "revoke")) if !id.is_empty() => "/api/v1/requests/{id}/revoke",
        Some((id, "extend")) if !id.is_empty() => "/api/v1/requests/{id}/extend",
        _ => "unmatched",
    }
}

/// A caller's id, if it is short and plain enough to put in a log line unchanged.
fn given_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!v.is_empty() && v.len() <= 64 && v.chars().all(plain)).then(|| v.to_string())
}

/// A new id: this process's start (so ids differ across restarts) and a sequence number.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    format!("{start:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_pattern_and_anything_else_is_unmatched() {
        assert_eq!(route_label("/slack/commands"), "/slack/commands");
        assert_eq!(route_label("/api/v1/requests"), "/api/v1/requests");
        assert_eq!(route_label("/api/v1/requests/42"), "/api/v1/requests/{id}");
        assert_eq!(
            route_label("/api/v1/requests/42/revoke"),
            "/api/v1/requests/{id}/revoke"
        );
        assert_eq!(
            route_label("/api/v1/requests/42/extend"),
            "/api/v1/requests/{id}/extend"
        );
        for scanned in [
            "/",
            "/wp-admin",
            "/api/v1/requests/",
            "/api/v1/requests//revoke",
            "/api/v1/requests/42/delete",
            "/slack/commands/x",
        ] {
            assert_eq!(route_label(scanned), "unmatched", "{scanned}");
        }
    }

    #[test]
    fn a_callers_id_is_kept_only_when_it_is_short_and_plain() {
        let id = |s: &str| given_id(Some(&HeaderValue::from_str(s).unwrap()));
        assert_eq!(id("abc-123_x.y").as_deref(), Some("abc-123_x.y"));
        assert_eq!(id(""), None);
        assert_eq!(id("a b"), None);
        assert_eq!(id("a/b;c"), None);
        assert_eq!(id(&"a".repeat(65)), None);
        assert_ne!(new_id(), new_id());
    }
}
