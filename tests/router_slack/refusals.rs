//! Refusals on the Slack routes: each audited once with its kind, floods capped, and the
//! framework's own 405s answered with a body.

use super::*;

#[tokio::test]
async fn a_wrong_method_is_answered_405_with_the_methods_the_route_accepts() {
    let (w, _) = fake_world();
    for (method, path, allowed) in [
        ("GET", "/slack/commands", "POST"),
        ("PUT", "/slack/interactions", "POST"),
        ("POST", "/healthz", "GET"),
        ("DELETE", "/metrics", "GET"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (status, body) = w.send(req).await;
        assert_eq!(status, 405, "{method} {path}");
        assert!(
            body.starts_with("method not allowed") && body.contains(allowed),
            "{method} {path}: {body:?}"
        );
    }
}

/// A form body signed correctly, for the cases past the signature check.
fn form(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// A command form from the test workspace with `changes` applied.
fn command_form(changes: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("team_id", common::world::TEAM),
        ("api_app_id", common::world::APP_ID),
        ("user_id", "UREQ"),
        ("command", "/jit"),
        ("text", "help"),
        ("trigger_id", "t"),
    ];
    for (k, v) in changes {
        fields.retain(|(f, _)| f != k);
        fields.push((k, v));
    }
    form(&fields)
}

fn interaction_form(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut p = common::world::click_payload(
        "UAPP1",
        "approve",
        1,
        "CAPPROVERS",
        "1.2",
        "http://127.0.0.1:9/a",
    );
    edit(&mut p);
    form(&[("payload", &p.to_string())])
}

/// Every refusal path of the Slack routes, each with the audit record it must leave:
/// (case, request, HTTP status, audit action, `kind`).
fn refusal_cases(
    w: &World,
    id: RequestId,
) -> Vec<(&'static str, Request<Body>, u16, &'static str, &'static str)> {
    let unsigned = |ct: &str, body: Body| {
        Request::post("/slack/commands")
            .header("content-type", ct)
            .body(body)
            .unwrap()
    };
    let stalled = Body::from_stream(futures::stream::pending::<
        Result<axum::body::Bytes, std::io::Error>,
    >());
    vec![
        (
            "wrong content type",
            unsigned("application/json", Body::from("{}")),
            400,
            "auth_failed",
            "content_type",
        ),
        (
            "body too large",
            w.signed("/slack/commands", &"x".repeat(20_000)),
            413,
            "auth_failed",
            "too_large",
        ),
        (
            "body stalls",
            unsigned("application/x-www-form-urlencoded", stalled),
            408,
            "auth_failed",
            "slow_body",
        ),
        (
            "unsigned",
            unsigned("application/x-www-form-urlencoded", Body::from("a=1")),
            401,
            "auth_failed",
            "signature",
        ),
        (
            "malformed form",
            w.signed("/slack/commands", "team_id=a&team_id=b"),
            400,
            "refused",
            "malformed",
        ),
        (
            "other workspace",
            w.signed("/slack/commands", &command_form(&[("team_id", "T0OTHER")])),
            200,
            "refused",
            "workspace",
        ),
        (
            "other app",
            w.signed(
                "/slack/commands",
                &command_form(&[("api_app_id", "A0OTHER")]),
            ),
            200,
            "refused",
            "workspace",
        ),
        (
            "not /jit",
            w.signed("/slack/commands", &command_form(&[("command", "/other")])),
            200,
            "refused",
            "not_jit",
        ),
        (
            "no user id",
            w.signed("/slack/commands", &command_form(&[("user_id", "")])),
            200,
            "refused",
            "fields",
        ),
        (
            "unparsable /jit",
            w.signed("/slack/commands", &command_form(&[("text", "frobnicate")])),
            200,
            "refused",
            "command",
        ),
        (
            "status by a non-approver",
            w.command("USTRANGER", &format!("status {id}"), "t-s"),
            200,
            "refused",
            "command",
        ),
        (
            "payload not JSON",
            w.signed("/slack/interactions", &form(&[("payload", "{nope")])),
            400,
            "refused",
            "malformed",
        ),
        (
            "no action",
            w.signed(
                "/slack/interactions",
                &interaction_form(|p| p["actions"] = serde_json::json!([])),
            ),
            400,
            "refused",
            "fields",
        ),
        (
            "card of another workspace",
            w.signed(
                "/slack/interactions",
                &interaction_form(|p| p["team"]["id"] = "T0OTHER".into()),
            ),
            200,
            "refused",
            "workspace",
        ),
        (
            "not jitpe's button",
            w.signed(
                "/slack/interactions",
                &interaction_form(|p| p["actions"][0]["action_id"] = "jit_escalate".into()),
            ),
            200,
            "click_refused",
            "click",
        ),
    ]
}

#[tokio::test]
async fn every_refusal_leaves_one_audit_record_and_a_flood_of_one_is_capped() {
    let (w, _) = fake_world();
    let id = w.pending("debug").await;
    let before = snapshot(&w);
    for (case, req, status, action, kind) in refusal_cases(&w, id) {
        let seen = w.store.audit_from(1, 10_000).unwrap().len();
        let (got, body) = w.send(req).await;
        assert_eq!(got, status, "{case}: {body}");
        let new = w.store.audit_from(seen as u64 + 1, 100).unwrap();
        assert_eq!(new.len(), 1, "{case}: {new:?}");
        assert_eq!(new[0].action, action, "{case}");
        let got_kind = new[0].details.get("kind").map_or("", String::as_str);
        assert_eq!(got_kind, kind, "{case}");
    }
    assert_eq!(snapshot(&w), before, "refusals change nothing");

    let seen = w.store.audit_from(1, 10_000).unwrap().len();
    for _ in 0..50 {
        let other = command_form(&[("team_id", "T0OTHER")]);
        w.send(w.signed("/slack/commands", &other)).await;
        w.send(signed_at("/slack/commands", "a=1", 0, "v0=00"))
            .await;
    }
    let flood = w.store.audit_from(seen as u64 + 1, 1000).unwrap();
    let per = jitpe::service::limit::PER_KIND_PER_WINDOW as usize;
    let count = |a: &str| flood.iter().filter(|r| r.action == a).count();
    // The first of each kind was audited above; the flood adds up to the cap.
    assert_eq!((count("refused"), count("auth_failed")), (per - 2, per - 1));
    w.clock.advance(std::time::Duration::from_secs(60));
    let other = command_form(&[("team_id", "T0OTHER")]);
    w.send(w.signed("/slack/commands", &other)).await;
    let last = w.store.audit_from(1, 10_000).unwrap().pop().unwrap();
    assert_eq!(
        last.details.get("not_audited_before").map(String::as_str),
        Some("42")
    );
}
