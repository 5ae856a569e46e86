//! `/metrics` through the real router, over in-memory fakes: what a request's life, a forged
//! command and a scan of unknown paths add, and the id every answer carries.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::world::{World, fake_world, signed_at};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// The sample lines of the current `/metrics`, after checking its content type.
async fn scrape(w: &World) -> Vec<String> {
    let resp = w.app.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn assert_has(samples: &[String], wanted: &str) {
    assert!(
        samples.iter().any(|s| s == wanted),
        "{wanted} not in:\n{}",
        samples.join("\n")
    );
}

#[tokio::test]
async fn a_request_approved_and_revoked_in_chat_moves_the_lifecycle_counters() {
    let (w, _) = fake_world();
    let before = scrape(&w).await;
    assert_has(&before, r#"jitpe_lifecycle_total{step="requested"} 0"#);
    let id = w.pending("debug").await;
    let click = |action| w.card_click("UAPP1", action, id);
    assert_eq!(w.send(click("approve")).await.0, 200);
    assert_eq!(w.send(click("revoke")).await.0, 200);
    let after = scrape(&w).await;
    for sample in [
        r#"jitpe_lifecycle_total{step="requested"} 1"#,
        r#"jitpe_lifecycle_total{step="approved"} 1"#,
        r#"jitpe_lifecycle_total{step="activated"} 1"#,
        r#"jitpe_lifecycle_total{step="revoked"} 1"#,
        r#"jitpe_lifecycle_total{step="expired"} 0"#,
        r#"jitpe_revocations_total{cause="chat"} 1"#,
        r#"jitpe_revocations_total{cause="rule"} 0"#,
        r#"jitpe_http_requests_total{route="/slack/commands",status="200"} 1"#,
        r#"jitpe_http_requests_total{route="/slack/interactions",status="200"} 2"#,
        r#"jitpe_http_request_duration_seconds_count{route="/slack/interactions"} 2"#,
    ] {
        assert_has(&after, sample);
    }
}

#[tokio::test]
async fn a_forged_command_counts_as_an_auth_failure_of_slack_and_a_401() {
    let (w, _) = fake_world();
    let body = "team_id=T0TEST&user_id=UREQ&command=%2Fjit&text=help&trigger_id=t";
    let now = jiff::Timestamp::now().as_second();
    let forged = signed_at("/slack/commands", body, now, "v0=00");
    assert_eq!(w.send(forged).await.0, 401);
    let samples = scrape(&w).await;
    assert_has(&samples, r#"jitpe_auth_failures_total{platform="slack"} 1"#);
    assert_has(
        &samples,
        r#"jitpe_auth_failures_total{platform="mattermost"} 0"#,
    );
    assert_has(
        &samples,
        r#"jitpe_http_requests_total{route="/slack/commands",status="401"} 1"#,
    );
}

#[tokio::test]
async fn scanned_paths_share_one_series_and_every_answer_carries_a_request_id() {
    let (w, _) = fake_world();
    for path in ["/wp-admin", "/.env", "/api/v1/requests/1/delete"] {
        let resp = w.app.clone().oneshot(get(path)).await.unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.headers().contains_key("x-request-id"));
    }
    let samples = scrape(&w).await;
    assert_has(
        &samples,
        r#"jitpe_http_requests_total{route="unmatched",status="404"} 3"#,
    );
    assert!(!samples.iter().any(|s| s.contains("wp-admin")));
    // A caller's own plain id is answered back; one that is not plain is replaced.
    let ids = |given: &'static str| {
        let app = w.app.clone();
        async move {
            let req = Request::get("/healthz")
                .header("x-request-id", given)
                .body(Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            resp.headers()["x-request-id"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(ids("trace-7f3a").await, "trace-7f3a");
    assert_ne!(ids("a b;c").await, "a b;c");
}
