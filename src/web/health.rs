//! `/healthz` (the process is up), `/readyz` (store and cluster reachable, and roles that cannot
//! be granted) and `/metrics`. None of them touches the store or the cluster: they read what the
//! store probe, the reconcile sweep and the role check last found.

use super::HealthState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// Liveness: answers while the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and the last reconcile sweep reached the cluster. Roles that
/// cannot be granted (a ClusterRole or namespace they bind is missing) are listed as warnings
/// without making jitpe unready, so they never take the other roles down with them.
pub async fn readyz(State(app): State<HealthState>) -> impl IntoResponse {
    let mut problems = Vec::new();
    match app.store.last() {
        Some(Ok(_)) => {}
        Some(Err(e)) => problems.push(format!("store: {e}")),
        None => problems.push("store: not checked yet".to_string()),
    }
    match app.cluster.last() {
        Some(Ok(())) => {}
        Some(Err(e)) => problems.push(format!("kubernetes: the last reconcile sweep failed: {e}")),
        None => problems.push(
            "kubernetes: not reached yet (the first reconcile sweep has not finished)".to_string(),
        ),
    }
    let warnings: String = app
        .roles
        .problems()
        .unwrap_or_default()
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect();
    if problems.is_empty() {
        (StatusCode::OK, format!("ready\n{warnings}"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n{warnings}", problems.join("\n")),
        )
    }
}

/// Every metric in the OpenMetrics text format, which Prometheus negotiates and reads.
pub async fn metrics(State(app): State<HealthState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        app.metrics.render(),
    )
}
