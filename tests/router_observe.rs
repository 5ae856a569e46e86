//! `POST /k8s/audit` and `POST /falco` through the real router, over in-memory fakes: what is
//! accepted reaches the intake queue as observations; every refusal queues nothing, is counted
//! and audited (capped).

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use jitpe::config::Secret;
use jitpe::domain::anomaly::{FalcoPriority, Observation};
use jitpe::domain::audit::AuditRecord;
use jitpe::ports::Store;
use jitpe::service::limit::PER_KIND_PER_WINDOW;
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::{FakeCluster, ManualClock};
use jitpe::web::observe::{self, ObserveSettings};
use jitpe::web::{HealthState, router_observing};
use jitpe::workers::probe::StoreStatus;
use jitpe::workers::role_check::RoleStatus;
use jitpe::workers::watch::{Intake, Queued};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tower::ServiceExt;

const AUDIT_TOKEN: &str = "audit-token-0123456789abcdef";
const FALCO_TOKEN: &str = "falco-token-0123456789abcdef";
/// The observation body limit of the tests; the chat limit is far smaller.
const BODY_LIMIT: usize = 256 * 1024;
const CHAT_BODY_LIMIT: usize = 16 * 1024;
const EVENT_LIST: &str = include_str!("router_observe/eventlist.json");
const FALCO_HTTP_OUTPUT: &str = include_str!("router_observe/falco_http_output.json");
const FALCOSIDEKICK: &str = include_str!("router_observe/falcosidekick.json");

struct Rig {
    app: Router,
    store: Arc<dyn Store>,
    queue: Receiver<Queued>,
}

/// A router with both observation routes (or only those whose token is given), over an intake
/// of `capacity` batches.
fn rig(k8s: Option<&str>, falco: Option<&str>, capacity: usize) -> Rig {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let policy = Arc::new(common::world::policy("alice", &["shop"]));
    let cluster = Arc::new(FakeCluster::default());
    let service = Service::new(
        store.clone(),
        cluster,
        clock,
        policy,
        ChatTargets::default(),
    );
    let (intake, queue) = Intake::new(capacity);
    let metrics = service.metrics().clone();
    let stats = intake.stats().clone();
    metrics.observations_from(move || stats.counts());
    let settings = ObserveSettings {
        k8s_audit_token: k8s.map(Secret::new),
        falco_token: falco.map(Secret::new),
        body_limit: BODY_LIMIT,
        body_timeout: Duration::from_millis(500),
    };
    let observing = observe::router(settings, intake, service.clone(), metrics.clone());
    let health = HealthState {
        service,
        metrics,
        cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
        store: Arc::new(StoreStatus::default()),
        roles: Arc::new(RoleStatus::default()),
    };
    let app = router_observing(health, Vec::new(), CHAT_BODY_LIMIT, observing);
    Rig { app, store, queue }
}

fn both() -> Rig {
    rig(Some(AUDIT_TOKEN), Some(FALCO_TOKEN), 16)
}

fn post(path: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(body.into()).unwrap()
}

impl Rig {
    async fn send(&self, req: Request<Body>) -> (u16, String, Response<()>) {
        let resp = self.app.clone().oneshot(req).await.expect("always answers");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        (parts.status.as_u16(), text, Response::from_parts(parts, ()))
    }

    fn queued(&mut self) -> Vec<Observation> {
        let mut out = Vec::new();
        while let Ok(batch) = self.queue.try_recv() {
            out.extend(batch.observations);
        }
        out
    }

    fn audit(&self) -> Vec<AuditRecord> {
        self.store.audit_from(1, 10_000).unwrap()
    }

    async fn metrics(&self) -> String {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        self.send(req).await.1
    }
}

fn calls(observations: Vec<Observation>) -> Vec<jitpe::domain::anomaly::ApiCall> {
    observations
        .into_iter()
        .map(|o| match o {
            Observation::Call(c) => c,
            other => panic!("not a call: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn an_event_list_from_the_apiserver_queues_exactly_its_completed_call() {
    let mut r = both();
    let (status, body, _) = r
        .send(post("/k8s/audit", Some(AUDIT_TOKEN), EVENT_LIST))
        .await;
    assert_eq!((status, body.as_str()), (200, r#"{"queued":1}"#));
    let [call] = calls(r.queued()).try_into().expect("one call");
    assert_eq!(call.audit_id, "5d4e52c2-4f5a-4a57-9c8e-5a0b6a7c1f01");
    assert_eq!(
        (call.user.as_str(), call.impersonated.as_deref()),
        ("alice", None)
    );
    assert_eq!((call.verb.as_str(), call.code), ("delete", Some(403)));
    assert_eq!(call.resource_path(), "networking.k8s.io/ingresses");
    assert_eq!(call.namespace.as_deref(), Some("shop"));
    assert_eq!(call.name.as_deref(), Some("web"));
    assert_eq!(call.at.to_string(), "2026-12-03T13:00:00.123456Z");
    assert!(r.audit().is_empty(), "accepted batches are not audited");
    let metrics = r.metrics().await;
    assert!(
        metrics.contains(r#"jitpe_observations_total{result="accepted"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"jitpe_inbound_requests_total{route="/k8s/audit",result="ok"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let mut r = both();
    let req = Request::post("/k8s/audit")
        .header("authorization", format!("bearer {AUDIT_TOKEN}"))
        .body(Body::from(EVENT_LIST))
        .unwrap();
    let (status, body, _) = r.send(req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.queued().len(), 1);
}

#[tokio::test]
async fn an_impersonated_user_is_kept_beside_the_one_who_impersonated() {
    let mut r = both();
    let body = EVENT_LIST.replace(
        r#""username": "alice","#,
        r#""username": "admin", "groups": []}, "impersonatedUser": {"username": "alice","#,
    );
    let (status, _, _) = r.send(post("/k8s/audit", Some(AUDIT_TOKEN), body)).await;
    assert_eq!(status, 200);
    let [call] = calls(r.queued()).try_into().expect("one call");
    assert_eq!(call.user, "admin");
    assert_eq!(call.impersonated.as_deref(), Some("alice"));
    assert!(call.is_by("alice"));
}

#[tokio::test]
async fn a_batch_larger_than_the_chat_limit_is_read_whole() {
    let mut r = both();
    let padded = EVENT_LIST.replace(
        r#""userAgent": "kubectl"#,
        &format!(
            r#""padding": "{}", "userAgent": "kubectl"#,
            "p".repeat(4 * CHAT_BODY_LIMIT)
        ),
    );
    assert!(padded.len() > 4 * CHAT_BODY_LIMIT);
    let (status, body, _) = r.send(post("/k8s/audit", Some(AUDIT_TOKEN), padded)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.queued().len(), 1);
}

/// Each refusal: its status, its audited action and kind, and a word of its answer.
async fn refused(r: &mut Rig, req: Request<Body>, want: (u16, &str, &str, &str)) {
    let before = r.audit().len();
    let (status, body, _) = r.send(req).await;
    let (code, action, kind, needle) = want;
    assert_eq!(status, code, "{body}");
    assert!(body.contains(needle), "{needle:?} not in {body:?}");
    assert!(r.queued().is_empty(), "nothing is queued: {body}");
    let audit = r.audit();
    let record = audit.get(before).expect("the refusal is audited");
    assert_eq!(record.action, action);
    assert_eq!(record.details["kind"], kind);
    assert!(!format!("{record:?}").contains(AUDIT_TOKEN));
    assert!(!format!("{record:?}").contains(FALCO_TOKEN));
}

#[tokio::test]
async fn bad_tokens_bad_bodies_and_other_versions_are_refused_audited_and_queue_nothing() {
    let mut r = both();
    let beta = EVENT_LIST.replace("audit.k8s.io/v1\"", "audit.k8s.io/v1beta1\"");
    let big = "x".repeat(BODY_LIMIT + 1);
    let k8s = |token, body: String| post("/k8s/audit", token, body);
    let cases = [
        (
            k8s(None, EVENT_LIST.into()),
            (401, "auth_failed", "token", "Bearer"),
        ),
        (
            k8s(Some("wrong"), EVENT_LIST.into()),
            (401, "auth_failed", "token", "wrong token"),
        ),
        (
            k8s(Some(FALCO_TOKEN), EVENT_LIST.into()),
            (401, "auth_failed", "token", "wrong"),
        ),
        (
            k8s(Some(AUDIT_TOKEN), "{\"items\": [".into()),
            (400, "refused", "malformed", "EOF"),
        ),
        (
            k8s(Some(AUDIT_TOKEN), beta),
            (400, "refused", "api_version", "audit.k8s.io/v1beta1"),
        ),
        (
            k8s(Some(AUDIT_TOKEN), big),
            (413, "refused", "too_large", "larger than"),
        ),
        (
            post(
                "/falco",
                Some(FALCO_TOKEN),
                format!("[{FALCO_HTTP_OUTPUT}]"),
            ),
            (400, "refused", "malformed", "one alert per request"),
        ),
        (
            post("/falco", Some(AUDIT_TOKEN), FALCO_HTTP_OUTPUT),
            (401, "auth_failed", "token", "wrong token"),
        ),
    ];
    for (req, want) in cases {
        refused(&mut r, req, want).await;
    }
    let basic = Request::post("/k8s/audit")
        .header("authorization", format!("Basic {AUDIT_TOKEN}"))
        .body(Body::from(EVENT_LIST))
        .unwrap();
    refused(
        &mut r,
        basic,
        (401, "auth_failed", "token", "not `Bearer <token>`"),
    )
    .await;
    let text = Request::post("/falco")
        .header("authorization", format!("Bearer {FALCO_TOKEN}"))
        .header("content-type", "text/plain")
        .body(Body::from("13:00:00 Warning shell"))
        .unwrap();
    refused(
        &mut r,
        text,
        (400, "refused", "content_type", "json_output"),
    )
    .await;
    let first = futures::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from("{"))]);
    let stalled = Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()));
    let slow = post("/k8s/audit", Some(AUDIT_TOKEN), stalled);
    refused(
        &mut r,
        slow,
        (408, "refused", "slow_body", "did not arrive"),
    )
    .await;
    let metrics = r.metrics().await;
    for line in [
        r#"jitpe_inbound_requests_total{route="/k8s/audit",result="auth_failed"} 4"#,
        r#"jitpe_inbound_requests_total{route="/k8s/audit",result="refused"} 4"#,
        r#"jitpe_inbound_requests_total{route="/falco",result="refused"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_counts_what_it_refused() {
    let mut r = rig(Some(AUDIT_TOKEN), Some(FALCO_TOKEN), 1);
    let (status, _, _) = r
        .send(post("/k8s/audit", Some(AUDIT_TOKEN), EVENT_LIST))
        .await;
    assert_eq!(status, 200);
    let req = post("/falco", Some(FALCO_TOKEN), FALCOSIDEKICK);
    let (status, body, head) = r.send(req).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(head.headers()["retry-after"], "1");
    let record = r.audit().pop().expect("audited");
    assert_eq!(
        (record.action.as_str(), record.details["kind"].as_str()),
        ("refused", "queue_full")
    );
    assert_eq!(r.queued().len(), 1, "only the first batch");
    let metrics = r.metrics().await;
    assert!(
        metrics.contains(r#"jitpe_observations_total{result="refused_full"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/falco",result="shed"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_flood_of_refusals_is_audited_at_most_so_often() {
    let r = both();
    for _ in 0..3 * PER_KIND_PER_WINDOW {
        let (status, _, _) = r.send(post("/k8s/audit", Some("guess"), EVENT_LIST)).await;
        assert_eq!(status, 401);
    }
    assert_eq!(r.audit().len(), PER_KIND_PER_WINDOW as usize);
    let metrics = r.metrics().await;
    let counted = format!(
        r#"jitpe_inbound_requests_total{{route="/k8s/audit",result="auth_failed"}} {}"#,
        3 * PER_KIND_PER_WINDOW
    );
    assert!(
        metrics.contains(&counted),
        "every one is counted:\n{metrics}"
    );
}

#[tokio::test]
async fn falco_alerts_from_http_output_and_falcosidekick_become_observations() {
    let mut r = both();
    for body in [FALCO_HTTP_OUTPUT, FALCOSIDEKICK] {
        let (status, answer, _) = r.send(post("/falco", Some(FALCO_TOKEN), body)).await;
        assert_eq!((status, answer.as_str()), (200, r#"{"queued":1}"#));
    }
    let alerts: Vec<_> = r
        .queued()
        .into_iter()
        .map(|o| match o {
            Observation::Falco(a) => a,
            other => panic!("not an alert: {other:?}"),
        })
        .collect();
    let [k8s, shell] = alerts.try_into().expect("two alerts");
    assert_eq!(k8s.rule, "Ingress deleted by a grantee");
    assert_eq!(k8s.priority, FalcoPriority::Warning);
    assert_eq!(k8s.user.as_deref(), Some("alice"));
    assert_eq!(k8s.namespace.as_deref(), Some("shop"));
    assert_eq!(shell.priority, FalcoPriority::Critical);
    assert_eq!(
        shell.user, None,
        "user.name is a Linux user, not a Kubernetes one"
    );
    assert_eq!(shell.namespace.as_deref(), Some("shop"));
    assert_eq!(shell.at.to_string(), "2026-12-03T13:00:02.345678901Z");
    assert!(shell.output.contains("Shell spawned"));
}

#[tokio::test]
async fn a_route_without_its_token_is_absent() {
    let mut r = rig(None, Some(FALCO_TOKEN), 16);
    let (status, body, _) = r
        .send(post("/k8s/audit", Some(AUDIT_TOKEN), EVENT_LIST))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = r
        .send(post("/falco", Some(FALCO_TOKEN), FALCOSIDEKICK))
        .await;
    assert_eq!(status, 200);
    let r2 = rig(None, None, 16);
    let (status, _, _) = r2
        .send(post("/falco", Some(FALCO_TOKEN), FALCOSIDEKICK))
        .await;
    assert_eq!(status, 404);
    assert!(r.audit().is_empty() && r2.audit().is_empty());
    assert_eq!(r.queued().len(), 1);
}
