//! The systems API end to end (issue #13's tests): jitpe served as `jitpe serve` wires it, on the
//! real test apiserver, verifying real ServiceAccount tokens from the TokenRequest API with
//! TokenReview as its own identity; a system's grant is a RoleBinding for the ServiceAccount,
//! checked with SubjectAccessReview.

mod common;

use common::audit;
use common::kube::{Access, Who};
use common::live::{APPROVER, APPROVERS, Live};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::view::CardAction;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// ServiceAccounts `deployer` (auto-approved `debug`), `releaser` (`change`, approved in chat)
/// and `stranger` (no rule) in a new namespace; returns it and the `[[policy.systems]]` rules for them.
async fn systems() -> (String, String) {
    let c = audit::cluster();
    let ns = c.temp_namespace("ci").await;
    for name in ["deployer", "releaser", "stranger"] {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        Api::<ServiceAccount>::namespaced(c.client(Who::Admin), &ns)
            .create(&PostParams::default(), &sa)
            .await
            .expect("a ServiceAccount");
    }
    let rules = format!(
        r#"
[[policy.systems]]
description = "deploy pipeline"
service_accounts = ["system:serviceaccount:{ns}:deployer"]
roles = ["debug"]
namespaces = ["*"]
auto_approve = {{ max_duration = "30m", per_day = 10 }}
[[policy.systems]]
service_accounts = ["system:serviceaccount:{ns}:releaser"]
roles = ["change"]
namespaces = ["*"]
"#
    );
    (ns, rules)
}

/// A token for `name` in `ns` from the TokenRequest API, for `audiences` (none: the apiserver's).
async fn token(ns: &str, name: &str, audiences: &[&str]) -> String {
    audit::cluster()
        .service_account_token(ns, name, audiences)
        .await
}

/// What the ServiceAccount `name` of `ns` may do to Ingresses in `target`.
fn access(ns: &str, name: &str, verb: &str, target: &str) -> Access {
    let user = format!("system:serviceaccount:{ns}:{name}");
    let groups = [
        "system:serviceaccounts",
        &format!("system:serviceaccounts:{ns}"),
    ];
    Access::user(&user, &groups, verb, "networking.k8s.io", "ingresses").in_namespace(target)
}

async fn call(live: &Live, token: &str, path: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, text) = live
        .post(path, &headers, body.to_string().into_bytes())
        .await;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

async fn get(live: &Live, token: &str, id: u64) -> Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = client
        .get(format!("{}/api/v1/requests/{id}", live.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("jitpe answers");
    assert_eq!(answer.status(), 200);
    answer.json().await.expect("JSON")
}

#[tokio::test]
async fn an_auto_approved_system_request_binds_the_service_account_until_it_revokes() {
    let (sa_ns, rules) = systems().await;
    let live = Live::start(&rules, &[]).await;
    let ns = live.spaces.ns.clone();
    let jwt = token(&sa_ns, "deployer", &["jitpe"]).await;
    let body = json!({
        "role": "debug", "namespace": ns, "duration": "15m",
        "reason": "smoke test after deploy", "labels": {"pipeline-url": "https://ci.example/42"}
    });
    let (status, created) = call(&live, &jwt, "/api/v1/requests", body).await;
    assert_eq!(
        (status, &created["state"]),
        (201, &json!("active")),
        "{created}"
    );
    let read = access(&sa_ns, "deployer", "get", &ns);
    live.cluster().eventually_sar(&read, true).await;
    // Exactly that ServiceAccount: the other one got nothing.
    assert!(
        !live
            .cluster()
            .sar(&access(&sa_ns, "releaser", "get", &ns))
            .await
    );

    let id = created["id"].as_u64().unwrap();
    let path = format!("/api/v1/requests/{id}/revoke");
    let (status, revoked) = call(&live, &jwt, &path, json!({})).await;
    assert_eq!(
        (status, &revoked["state"]),
        (200, &json!("revoked")),
        "{revoked}"
    );
    live.cluster().eventually_sar(&read, false).await;
    live.stop().await;
}

#[tokio::test]
async fn an_approval_needing_system_request_waits_for_a_click_on_its_card() {
    let (sa_ns, rules) = systems().await;
    let live = Live::start(&rules, &[]).await;
    let ns = live.spaces.ns.clone();
    let jwt = token(&sa_ns, "releaser", &["jitpe"]).await;
    let body = json!({"role": "change", "namespace": ns, "reason": "CHG-9 rotate TLS",
        "labels": {"run": "77"}});
    let (status, created) = call(&live, &jwt, "/api/v1/requests", body).await;
    assert_eq!(
        (status, &created["state"]),
        (201, &json!("pending")),
        "{created}"
    );
    let id = created["id"].as_u64().unwrap();
    let write = access(&sa_ns, "releaser", "update", &ns);
    assert!(!live.cluster().sar(&write).await, "nothing before approval");

    let card = live.card_of(RequestId(id)).await;
    let posted = live.messages(APPROVERS);
    let text = format!("{} {}", posted[0].text, posted[0].blocks);
    assert!(
        text.contains(&format!("system:serviceaccount:{sa_ns}:releaser")),
        "{text}"
    );
    assert!(
        text.contains("run") && text.contains("77"),
        "the card shows the labels: {text}"
    );
    let approver = Actor::new(Platform::Slack, APPROVER);
    live.service
        .click(&approver, RequestId(id), CardAction::Approve, &card)
        .await
        .expect("approved");
    assert_eq!(get(&live, &jwt, id).await["state"], "active");
    live.cluster().eventually_sar(&write, true).await;
    live.stop().await;
}

#[tokio::test]
async fn tokens_for_another_audience_or_of_unknown_accounts_are_refused() {
    let (sa_ns, rules) = systems().await;
    let live = Live::start(&rules, &[]).await;
    let ns = live.spaces.ns.clone();
    let body = json!({"role": "debug", "namespace": ns, "reason": "x"});
    let apiserver_token = token(&sa_ns, "deployer", &[]).await;
    let (status, e) = call(&live, &apiserver_token, "/api/v1/requests", body.clone()).await;
    assert_eq!((status, &e["kind"]), (401, &json!("token")), "{e}");
    let (status, _) = call(&live, "garbage", "/api/v1/requests", body.clone()).await;
    assert_eq!(status, 401);
    // A real ServiceAccount with a token for jitpe, but no rule names it.
    let own = token(&sa_ns, "stranger", &["jitpe"]).await;
    let (status, e) = call(&live, &own, "/api/v1/requests", body).await;
    assert_eq!((status, &e["kind"]), (403, &json!("policy")), "{e}");
    assert!(live.service.store().list().unwrap().is_empty());
    live.stop().await;
}
