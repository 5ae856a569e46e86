//! The systems API (`/api/v1`) through the real router, over in-memory fakes and a fake token
//! reviewer: a ServiceAccount's request goes through the policy like a chat one; every bad token
//! or bad body is a JSON error with a status that says who must act, and stores nothing.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use jitpe::domain::audit::AuditRecord;
use jitpe::domain::identity::Platform;
use jitpe::metrics::Metrics;
use jitpe::ports::Store;
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::{FakeCluster, FakeTokenReviewer, ManualClock};
use jitpe::web::api::{self, ApiConfig};
use jitpe::web::{HealthState, router_observing};
use jitpe::workers::probe::StoreStatus;
use jitpe::workers::role_check::RoleStatus;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const DEPLOYER: &str = "system:serviceaccount:ci:deployer";
const AUDITOR: &str = "system:serviceaccount:ci:auditor";
const SYSTEMS: &str = r#"
[[systems]]
service_accounts = ["system:serviceaccount:ci:deployer"]
roles = ["debug"]
namespaces = ["shop"]
auto_approve = { max_duration = "30m", per_day = 5 }
[[systems]]
service_accounts = ["system:serviceaccount:ci:*"]
roles = ["change"]
namespaces = ["shop"]
"#;

struct Rig {
    app: Router,
    store: Arc<dyn Store>,
    cluster: Arc<FakeCluster>,
    reviewer: Arc<FakeTokenReviewer>,
}

fn rig() -> Rig {
    let text = format!(
        "{}{SYSTEMS}",
        common::world::policy_toml("alice", &["shop"])
    );
    let raw: jitpe::domain::policy::RawPolicy = toml::from_str(&text).unwrap();
    let policy = Arc::new(jitpe::domain::policy::Policy::try_from(raw).unwrap());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let cluster = Arc::new(FakeCluster::default());
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let mut targets = ChatTargets::default();
    targets
        .approvers_channels
        .insert(Platform::Slack, "CAPPROVERS".into());
    let service = Service::new(store.clone(), cluster.clone(), clock, policy, targets);
    let reviewer = Arc::new(FakeTokenReviewer::default());
    reviewer.accept("deployer-token", DEPLOYER);
    reviewer.accept("auditor-token", AUDITOR);
    reviewer.accept("alice-token", "alice");
    let metrics = Arc::new(Metrics::default());
    let config = ApiConfig {
        audiences: vec!["jitpe".into()],
        body_limit: 4096,
        body_timeout: Duration::from_millis(500),
    };
    let api = api::router(config, service.clone(), reviewer.clone(), metrics.clone());
    let health = HealthState {
        service,
        metrics,
        cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
        store: Arc::new(StoreStatus::default()),
        roles: Arc::new(RoleStatus::default()),
    };
    let app = router_observing(health, Vec::new(), 1024, api);
    Rig {
        app,
        store,
        cluster,
        reviewer,
    }
}

impl Rig {
    async fn call(&self, req: Request<Body>) -> (u16, Value, axum::http::HeaderMap) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body, headers)
    }

    async fn post(&self, token: Option<&str>, path: &str, body: &str) -> (u16, Value) {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let (status, body, _) = self
            .call(req.body(Body::from(body.to_string())).unwrap())
            .await;
        (status, body)
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let (status, body, _) = self.call(req).await;
        (status, body)
    }

    fn stored(&self) -> usize {
        self.store.list().unwrap().len()
    }

    fn audit(&self) -> Vec<AuditRecord> {
        self.store.audit_from(1, 1000).unwrap()
    }
}

fn request(role: &str, duration: &str) -> String {
    json!({
        "role": role,
        "namespace": "shop",
        "duration": duration,
        "reason": "deploy 1.4.2 INC-77",
        "labels": {"pipeline-url": "https://ci.example/run/42"}
    })
    .to_string()
}

#[tokio::test]
async fn an_auto_approved_system_request_is_active_for_the_service_account() {
    let r = rig();
    let (status, body) = r
        .post(
            Some("deployer-token"),
            "/api/v1/requests",
            &request("debug", "15m"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "active", "{body}");
    assert_eq!(body["grantee"], DEPLOYER);
    assert_eq!(body["requester"], format!("kubernetes:{DEPLOYER}"));
    assert_eq!(body["labels"]["pipeline-url"], "https://ci.example/run/42");
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(r.cluster.objects().iter().any(|o| o.namespace == "shop"));
    let id = body["id"].as_u64().unwrap();
    let (status, shown) = r
        .get("deployer-token", &format!("/api/v1/requests/{id}"))
        .await;
    assert_eq!((status, &shown["state"]), (200, &json!("active")));
    // The audit record of the request names the system and keeps its labels.
    let requested = r
        .audit()
        .into_iter()
        .find(|a| a.action == "requested")
        .unwrap();
    assert_eq!(
        requested.actor.to_string(),
        format!("kubernetes:{DEPLOYER}")
    );
    assert!(format!("{:?}", requested.details).contains("pipeline-url"));
}

#[tokio::test]
async fn an_approval_needing_request_waits_and_only_its_caller_sees_or_ends_it() {
    let r = rig();
    let (status, body) = r
        .post(
            Some("auditor-token"),
            "/api/v1/requests",
            &request("change", "30m"),
        )
        .await;
    assert_eq!((status, &body["state"]), (201, &json!("pending")), "{body}");
    assert_eq!(body["approvals_needed"], 2);
    assert!(
        r.cluster.objects().is_empty(),
        "nothing is bound before approval"
    );
    let id = body["id"].as_u64().unwrap();
    let path = format!("/api/v1/requests/{id}");
    let (status, other) = r.get("deployer-token", &path).await;
    assert_eq!(
        (status, &other["kind"]),
        (404, &json!("not_found")),
        "{other}"
    );
    let (status, _) = r
        .post(Some("deployer-token"), &format!("{path}/revoke"), "")
        .await;
    assert_eq!(status, 404, "another system cannot end it");
    let (status, ended) = r
        .post(Some("auditor-token"), &format!("{path}/revoke"), "")
        .await;
    assert_eq!(
        (status, &ended["state"]),
        (200, &json!("cancelled")),
        "{ended}"
    );
    let (status, again) = r
        .post(Some("auditor-token"), &format!("{path}/revoke"), "")
        .await;
    assert_eq!((status, &again["kind"]), (409, &json!("state")), "{again}");
}

#[tokio::test]
async fn revoke_ends_access_at_once_and_extend_asks_the_approvers() {
    let r = rig();
    let (_, body) = r
        .post(
            Some("deployer-token"),
            "/api/v1/requests",
            &request("debug", "15m"),
        )
        .await;
    let path = format!("/api/v1/requests/{}", body["id"]);
    let extend = json!({"duration": "10m", "reason": "rollout is slow"}).to_string();
    let (status, extended) = r
        .post(Some("deployer-token"), &format!("{path}/extend"), &extend)
        .await;
    assert_eq!(
        (status, &extended["extension_pending"]),
        (200, &json!(true)),
        "{extended}"
    );
    let bad = json!({"duration": "ten minutes", "reason": "x"}).to_string();
    let (status, e) = r
        .post(Some("deployer-token"), &format!("{path}/extend"), &bad)
        .await;
    assert_eq!((status, &e["kind"]), (400, &json!("invalid")), "{e}");
    let (status, revoked) = r
        .post(Some("deployer-token"), &format!("{path}/revoke"), "")
        .await;
    assert_eq!(
        (status, &revoked["state"]),
        (200, &json!("revoked")),
        "{revoked}"
    );
    assert!(r.cluster.objects().is_empty(), "the bindings are gone");
    let (status, again) = r
        .post(Some("deployer-token"), &format!("{path}/revoke"), "")
        .await;
    assert_eq!((status, &again["kind"]), (409, &json!("state")), "{again}");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_or_503_audited_and_nothing_stored() {
    let r = rig();
    let body = request("debug", "15m");
    let (status, e) = r.post(None, "/api/v1/requests", &body).await;
    assert_eq!((status, &e["kind"]), (401, &json!("token")), "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    let (status, e) = r.post(Some("forged"), "/api/v1/requests", &body).await;
    assert_eq!(status, 401, "{e}");
    assert!(
        !e["error"].as_str().unwrap().contains("forged"),
        "the token is never echoed"
    );
    let (status, e) = r.post(Some("alice-token"), "/api/v1/requests", &body).await;
    assert_eq!(
        (status, &e["kind"]),
        (403, &json!("not_a_service_account")),
        "{e}"
    );
    r.reviewer.set_unavailable(true);
    let req = Request::post("/api/v1/requests")
        .header(header::AUTHORIZATION, "Bearer deployer-token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let (status, e, headers) = r.call(req).await;
    assert_eq!(
        (status, &e["kind"]),
        (503, &json!("token_review_unavailable")),
        "{e}"
    );
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(r.stored(), 0);
    let audited = r.audit();
    assert!(audited.iter().filter(|a| a.action == "auth_failed").count() >= 2);
    assert!(audited.iter().all(|a| !format!("{a:?}").contains("forged")));
}

#[tokio::test]
async fn bad_bodies_get_json_errors_that_say_what_to_send_and_store_nothing() {
    let r = rig();
    let token = Some("deployer-token");
    let big = json!({"role": "debug", "namespace": "shop", "reason": "x".repeat(5000)});
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("{not json".into(), 400, "malformed", "not the JSON"),
        (json!({"role": "debug", "namespace": "shop", "reason": "x", "color": 1}).to_string(), 400, "malformed", "unknown field `color`"),
        (json!({"role": "debug", "namespace": "shop", "reason": "x", "duration": 15}).to_string(), 400, "malformed", "invalid type"),
        (json!({"role": "debug", "reason": "x"}).to_string(), 400, "malformed", "missing field `namespace`"),
        (big.to_string(), 413, "too_large", "4096 bytes"),
        (json!({"role": "De bug", "namespace": "shop", "reason": "x"}).to_string(), 400, "invalid", "role"),
        (json!({"role": "debug", "namespace": "shop/", "reason": "x"}).to_string(), 400, "invalid", "missing ingress name"),
        (json!({"role": "debug", "namespace": "shop", "reason": " "}).to_string(), 400, "invalid", "missing reason"),
        (json!({"role": "nope", "namespace": "shop", "reason": "x"}).to_string(), 400, "invalid", "nope"),
        (json!({"role": "debug", "namespace": "payments", "reason": "x"}).to_string(), 403, "policy", "payments"),
        (json!({"role": "debug", "namespace": "shop", "duration": "5h", "reason": "x"}).to_string(), 400, "invalid", "at most"),
        (json!({"role": "debug", "namespace": "shop", "reason": "x", "labels": {"Bad Key": "1"}}).to_string(), 400, "invalid", "label key"),
    ];
    for (body, status, kind, says) in cases {
        let (got, e) = r.post(token, "/api/v1/requests", &body).await;
        assert_eq!(
            (got, e["kind"].as_str()),
            (status, Some(kind)),
            "{body}: {e}"
        );
        let message = e["error"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // A role the policy has but no system rule gives this ServiceAccount.
    let (status, e) = r
        .post(
            Some("auditor-token"),
            "/api/v1/requests",
            &request("debug", "15m"),
        )
        .await;
    assert_eq!((status, e["kind"].as_str()), (403, Some("policy")), "{e}");
    let req = Request::post("/api/v1/requests")
        .header(header::AUTHORIZATION, "Bearer deployer-token")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(request("debug", "15m")))
        .unwrap();
    let (status, e, _) = r.call(req).await;
    assert_eq!(
        (status, e["kind"].as_str()),
        (415, Some("content_type")),
        "{e}"
    );
    let (status, e) = r.get("deployer-token", "/api/v1/requests/abc").await;
    assert_eq!(status, 404, "{e}");
    assert_eq!(r.stored(), 0);
}

#[tokio::test]
async fn a_retried_call_with_the_same_idempotency_key_stores_one_request() {
    let r = rig();
    let send = |key: &'static str| {
        Request::post("/api/v1/requests")
            .header(header::AUTHORIZATION, "Bearer auditor-token")
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(request("change", "30m")))
            .unwrap()
    };
    let (first, _, _) = r.call(send("run-42-step-3")).await;
    let (second, e, _) = r.call(send("run-42-step-3")).await;
    assert_eq!((first, second), (201, 409), "{e}");
    assert_eq!(e["kind"], "duplicate");
    let (third, _, _) = r.call(send("run-43-step-3")).await;
    assert_eq!(third, 201);
    assert_eq!(r.stored(), 2);
    // Tokens are reviewed once per call here: the fake has no cache (the real one does).
    assert!(r.reviewer.calls() >= 3);
}
