//! Refusals on the Mattermost routes: each audited once with its kind, floods capped, a clicker
//! Mattermost does not know told so plainly, and 405s answered with a body.

use super::*;

#[tokio::test]
async fn a_click_by_a_user_mattermost_does_not_know_says_so_without_internal_text() {
    let r = rig().await;
    let (id, card) = r.pending().await;
    let (status, body) = r.send(r.click("zed", &card, 0, |_| {})).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let text = json["ephemeral_text"].as_str().unwrap();
    assert!(
        text.starts_with("jitpe cannot find your Mattermost account"),
        "{text}"
    );
    for internal in ["HTTP", "404", "app.user", "users/", "try again"] {
        assert!(!text.contains(internal), "{internal:?} in {text}");
    }
    assert_eq!(r.state(id), State::Pending);
    assert_eq!(r.audits("click_refused"), 1);
}

#[tokio::test]
async fn a_wrong_method_is_answered_405_with_the_methods_the_route_accepts() {
    let r = rig().await;
    for path in ["/mattermost/commands", "/mattermost/actions"] {
        let req = Request::get(path).body(Body::empty()).unwrap();
        let (status, body) = r.send(req).await;
        assert_eq!(status, 405, "{path}");
        assert!(body.contains("accepts only POST"), "{path}: {body:?}");
    }
}

/// A command form from the test team with `changes` applied.
fn command_body(changes: &[(&str, &str)]) -> String {
    let bob = user_id("bob");
    let mut fields = vec![
        ("team_id", TEAM),
        ("user_id", bob.as_str()),
        ("command", "/jit"),
        ("text", "help"),
        ("trigger_id", "t"),
    ];
    for (k, v) in changes {
        fields.retain(|(f, _)| f != k);
        fields.push((k, v));
    }
    serde_urlencoded::to_string(&fields).unwrap()
}

fn post(path: &str, content_type: &str, token: bool, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", content_type);
    if token {
        req = req.header("authorization", format!("Token {COMMAND_TOKEN}"));
    }
    req.body(body.into()).unwrap()
}

type Case = (&'static str, Request<Body>, u16, &'static str, &'static str);

/// Every refusal path of the Mattermost routes, each with the audit record it must leave:
/// (case, request, HTTP status, audit action, `kind`).
fn refusal_cases(r: &Rig, id: RequestId, card: &Value) -> Vec<Case> {
    const FORM: &str = "application/x-www-form-urlencoded";
    let cmd =
        |changes: &[(&str, &str)]| post("/mattermost/commands", FORM, true, command_body(changes));
    let zed = user_id("zed");
    let big = "x".repeat(20_000);
    let action = |body: String| post("/mattermost/actions", "application/json", false, body);
    vec![
        (
            "command: wrong content type",
            post("/mattermost/commands", "application/json", true, "{}"),
            400,
            "auth_failed",
            "content_type",
        ),
        (
            "command: body too large",
            post("/mattermost/commands", FORM, true, big.clone()),
            413,
            "auth_failed",
            "too_large",
        ),
        (
            "command: malformed form",
            post("/mattermost/commands", FORM, true, "team_id=a&team_id=b"),
            400,
            "auth_failed",
            "malformed",
        ),
        (
            "command: wrong token",
            post(
                "/mattermost/commands",
                FORM,
                false,
                command_body(&[("token", "nope")]),
            ),
            401,
            "auth_failed",
            "signature",
        ),
        (
            "command: other team",
            cmd(&[("team_id", "otherteamotherteamotherte")]),
            200,
            "refused",
            "workspace",
        ),
        (
            "command: not /jit",
            cmd(&[("command", "/other")]),
            200,
            "refused",
            "not_jit",
        ),
        (
            "command: no user id",
            cmd(&[("user_id", "")]),
            200,
            "refused",
            "fields",
        ),
        (
            "command: unparsable /jit",
            cmd(&[("text", "frobnicate")]),
            200,
            "refused",
            "command",
        ),
        (
            "command: status by a non-approver",
            cmd(&[("user_id", &zed), ("text", &format!("status {id}"))]),
            200,
            "refused",
            "command",
        ),
        (
            "action: wrong content type",
            post("/mattermost/actions", FORM, false, "a=1"),
            400,
            "auth_failed",
            "content_type",
        ),
        (
            "action: body too large",
            action(big),
            413,
            "auth_failed",
            "too_large",
        ),
        (
            "action: malformed JSON",
            action("{nope".into()),
            400,
            "auth_failed",
            "malformed",
        ),
        (
            "action: forged context",
            r.click("alice", card, 0, |b| b["context"]["sig"] = "AAAA".into()),
            401,
            "auth_failed",
            "signature",
        ),
        (
            "action: no valid user id",
            r.click("alice", card, 0, |b| b["user_id"] = "x".into()),
            400,
            "refused",
            "fields",
        ),
        (
            "action: unknown clicker",
            r.click("zed", card, 0, |_| {}),
            200,
            "click_refused",
            "click",
        ),
        (
            "action: deactivated clicker",
            r.click("dora", card, 0, |_| {}),
            200,
            "click_refused",
            "click",
        ),
    ]
}

#[tokio::test]
async fn every_refusal_leaves_one_audit_record_and_a_flood_of_one_is_capped() {
    let r = rig().await;
    let (id, card) = r.pending().await;
    for (case, req, status, action, kind) in refusal_cases(&r, id, &card) {
        let seen = r.store.audit_from(1, 10_000).unwrap().len() as u64;
        let (got, body) = r.send(req).await;
        assert_eq!(got, status, "{case}: {body}");
        let new = r.store.audit_from(seen + 1, 100).unwrap();
        assert_eq!(new.len(), 1, "{case}: {new:?}");
        assert_eq!(new[0].action, action, "{case}");
        let got_kind = new[0].details.get("kind").map_or("", String::as_str);
        assert_eq!(got_kind, kind, "{case}");
    }
    assert_eq!(r.state(id), State::Pending);
    let seen = r.store.audit_from(1, 10_000).unwrap().len() as u64;
    for _ in 0..50 {
        let big = "x".repeat(20_000);
        r.send(post(
            "/mattermost/commands",
            "application/x-www-form-urlencoded",
            true,
            big,
        ))
        .await;
    }
    let flood = r.store.audit_from(seen + 1, 1000).unwrap().len();
    let per = jitpe::service::limit::PER_KIND_PER_WINDOW as usize;
    assert_eq!(
        flood,
        per - 1,
        "the first was audited above; the flood adds up to the cap"
    );
}
