//! Error answers the framework makes by itself (a 405 for the wrong method, and any other error
//! status that comes without a body) get a short plain-text body saying what would work, so a
//! person probing a route with curl is not left with an empty answer.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// Adds a body to an error answer that has none; every other answer passes unchanged.
pub async fn empty_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || resp.body().size_hint().exact() != Some(0) {
        return resp;
    }
    let text = explanation(status, resp.headers().get(header::ALLOW));
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(text))
}

/// What to say for `status`; `allow` is the route's `Allow` header on a 405.
fn explanation(status: StatusCode, allow: Option<&HeaderValue>) -> String {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = allow
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or("another method");
        return format!(
            "method not allowed: this route accepts only {allowed}; see the README for jitpe's HTTP endpoints\n"
        );
    }
    let reason = status.canonical_reason().unwrap_or("error");
    format!(
        "{} {reason}: see the README for jitpe's HTTP endpoints\n",
        status.as_u16()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_405_names_the_allowed_methods_and_other_errors_their_status() {
        let allow = HeaderValue::from_static("POST");
        let text = explanation(StatusCode::METHOD_NOT_ALLOWED, Some(&allow));
        assert!(text.contains("accepts only POST"), "{text}");
        let text = explanation(StatusCode::METHOD_NOT_ALLOWED, None);
        assert!(text.contains("another method"), "{text}");
        let text = explanation(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
        assert!(text.starts_with("415 Unsupported Media Type"), "{text}");
    }
}
