//! Dynamic revocation end to end (issue #12's "Tests"): jitpe served as `jitpe serve` wires it,
//! on the real test apiserver whose own audit webhook reaches jitpe through the relay of
//! `tests/common/audit.rs` (shipped audit policy, batch wait 1 s), with the fake Slack. A grantee's
//! offending call is answered by the apiserver, audited, delivered, matched and revoked: the
//! bindings go (SubjectAccessReview denied), the card says "REVOKED by rule", the alert and DM
//! reach Slack. Calls that must revoke nothing are checked after jitpe evaluated them.

mod common;

use common::audit::{self, Batches};
use common::kube::{Access, Who};
use common::live::{ALICE, APPROVERS, AUDIT, BOB, Live};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

/// The Falco input's token.
const FALCO_TOKEN: &str = "falco-token-for-the-live-tests";
/// The config of every test: a small body limit for the oversized batch, a short forbidden
/// burst, Falco alerts revoking from `critical` (the shipped default, written out).
const CONFIG: &str = r#"
[audit]
body_limit = 262144
[policy.revocation.rules.forbidden-burst]
count = 3
[policy.revocation.falco]
min_priority = "critical"
"#;

async fn start() -> Live {
    Live::start(CONFIG, &[("JITPE_AUDIT_FALCO_TOKEN", FALCO_TOKEN)]).await
}

fn ingress_access(who: Who, verb: &str, ns: &str) -> Access {
    Access::new(who, verb, "networking.k8s.io", "ingresses").in_namespace(ns)
}

/// Creates Ingress `name` in `ns` as the admin.
async fn ingress(ns: &str, name: &str) {
    let backend = IngressServiceBackend {
        name: "web".into(),
        port: Some(ServiceBackendPort {
            number: Some(80),
            name: None,
        }),
    };
    let ingress = Ingress {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(IngressSpec {
            default_backend: Some(IngressBackend {
                service: Some(backend),
                resource: None,
            }),
            ..IngressSpec::default()
        }),
        status: None,
    };
    let admin = audit::cluster().client(Who::Admin);
    Api::<Ingress>::namespaced(admin, ns)
        .create(&PostParams::default(), &ingress)
        .await
        .expect("the admin creates an Ingress");
}

fn client(who: Who) -> kube::Client {
    audit::cluster().client(who)
}

fn forbidden<T: std::fmt::Debug>(result: kube::Result<T>) {
    match result {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
        other => panic!("expected 403, got {other:?}"),
    }
}

/// Every text of a Slack message (fallback text and blocks).
fn text(m: &common::fake_slack::Message) -> String {
    format!("{} {}", m.text, m.blocks)
}

/// Waits until `id` is revoked by `rule`, then checks all of it: bindings gone (SAR denied),
/// the card, the alert in the approvers and audit channels, the requester's DM.
async fn revoked_by(live: &Live, id: RequestId, rule: &str, access: &Access) {
    live.until("the grant is revoked", || {
        (live.state(id) == State::Revoked).then_some(())
    })
    .await;
    audit::cluster().eventually_sar(access, false).await;
    let named = |t: &str| t.contains(rule);
    live.until("the card says REVOKED by rule", || {
        let cards = live.messages(APPROVERS);
        let card = cards.first()?;
        (text(card).contains("REVOKED by rule") && named(&text(card))).then_some(())
    })
    .await;
    live.until("an alert in the approvers channel", || {
        let messages = live.messages(APPROVERS);
        messages
            .iter()
            .skip(1)
            .any(|m| named(&text(m)))
            .then_some(())
    })
    .await;
    live.until("an alert in the audit channel", || {
        let lines = live.messages(AUDIT);
        lines.iter().any(|m| named(&text(m))).then_some(())
    })
    .await;
    live.until("the requester's DM says why", || {
        let dms = live.dms(ALICE);
        dms.iter().any(|m| named(&text(m))).then_some(())
    })
    .await;
}

/// Waits until a batch with an event matching `pred` reached jitpe and jitpe evaluated what it
/// queued; then the grant `id` must still be active, with its access.
async fn still_active_after(
    live: &Live,
    batches: &mut Batches,
    pred: impl Fn(&Value) -> bool,
    id: RequestId,
    access: &Access,
) {
    batches
        .collect_until(common::live::PATIENCE, |events| events.iter().any(&pred))
        .await;
    live.evaluated().await;
    assert_eq!(live.state(id), State::Active);
    assert!(
        audit::cluster().sar(access).await,
        "{access:?} still allowed"
    );
}

/// An event by `user` of `verb` on `resource` in `ns` at ResponseComplete.
fn by(
    user: &'static str,
    verb: &'static str,
    resource: &'static str,
    ns: String,
) -> impl Fn(&Value) -> bool {
    move |e| {
        e["user"]["username"] == user
            && e["verb"] == verb
            && e["objectRef"]["resource"] == resource
            && e["objectRef"]["namespace"] == *ns
            && e["stage"] == "ResponseComplete"
    }
}

#[tokio::test]
async fn a_debug_grantee_deleting_an_ingress_is_revoked_at_once() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    ingress(&ns, "web").await;
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;

    let alice = Api::<Ingress>::namespaced(client(Who::Alice), &ns);
    let called = std::time::Instant::now();
    forbidden(alice.delete("web", &DeleteParams::default()).await);
    live.until("the grant is revoked", || {
        (live.state(id) == State::Revoked).then_some(())
    })
    .await;
    audit::cluster().eventually_sar(&access, false).await;
    // A figure, not a target: the benchmark measures it (batch wait 1 s).
    eprintln!(
        "revocation latency, offending call to SubjectAccessReview denied: {:?}",
        called.elapsed()
    );
    revoked_by(&live, id, "ingress-delete-under-debug", &access).await;
    // The Ingress is still there: the call was refused, the grant ended.
    let admin = Api::<Ingress>::namespaced(client(Who::Admin), &ns);
    assert!(admin.get_opt("web").await.unwrap().is_some());
    live.stop().await;
}

#[tokio::test]
async fn a_debug_grantee_reading_a_secret_is_revoked_by_the_secrets_rule() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;

    forbidden(
        Api::<Secret>::namespaced(client(Who::Alice), &ns)
            .get("db")
            .await,
    );
    revoked_by(&live, id, "secrets", &access).await;
    live.stop().await;
}

#[tokio::test]
async fn a_grantee_trying_to_bind_a_role_is_revoked_by_the_rbac_rule() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;

    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("alice-admin".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "alice".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]),
    };
    let bindings = Api::<RoleBinding>::namespaced(client(Who::Alice), &ns);
    forbidden(bindings.create(&PostParams::default(), &binding).await);
    revoked_by(&live, id, "rbac-change", &access).await;
    live.stop().await;
}

#[tokio::test]
async fn a_grantee_trying_to_exec_into_a_pod_is_revoked_by_the_exec_rule() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;

    // Authorization comes first: no pod is needed for the apiserver to refuse (and audit) it.
    let uri = format!("/api/v1/namespaces/{ns}/pods/web-0/exec?command=sh&stdin=true&stdout=true");
    let exec = axum::http::Request::post(uri).body(Vec::new()).unwrap();
    forbidden(client(Who::Alice).request_text(exec).await);
    revoked_by(&live, id, "pods-exec", &access).await;
    live.stop().await;
}

#[tokio::test]
async fn a_change_grantee_updating_an_ingress_keeps_access_and_the_use_report_counts_it() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    ingress(&ns, "web").await;
    let access = ingress_access(Who::Bob, "update", &ns);
    let mut batches = audit::relay().subscribe();
    // Short, so that the test sees it expire and the use report written.
    let granted = Duration::from_secs(25);
    let id = live
        .grant_for(BOB, ("change", None), granted, &access)
        .await;

    let ingresses = Api::<Ingress>::namespaced(client(Who::Bob), &ns);
    let mut web = ingresses.get("web").await.expect("bob reads it");
    web.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("example.com/owner".into(), "bob".into());
    ingresses
        .replace("web", &PostParams::default(), &web)
        .await
        .expect("bob may update it");
    let updated = by("bob", "update", "ingresses", ns.clone());
    still_active_after(&live, &mut batches, updated, id, &access).await;

    // At expiry the card tells what the grant was used for, from the audit stream.
    let changed = format!("Ingresses changed: {ns}/web");
    let report = live
        .until_for("the expired card shows the use report", granted * 3, || {
            let cards = live.messages(APPROVERS);
            let card = text(cards.first()?);
            (live.state(id) == State::Expired && card.contains(&changed)).then_some(card)
        })
        .await;
    assert!(
        report.contains("update networking.k8s.io/ingresses"),
        "{report}"
    );
    audit::cluster().eventually_sar(&access, false).await;
    live.stop().await;
}

#[tokio::test]
async fn calls_of_users_without_grants_and_normal_reads_revoke_nothing() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    ingress(&ns, "web").await;
    let access = ingress_access(Who::Alice, "get", &ns);
    let mut batches = audit::relay().subscribe();
    let id = live.grant(ALICE, "debug", None, &access).await;

    // Carol holds no grant: her attempt on a Secret is not jitpe's to act on.
    forbidden(
        Api::<Secret>::namespaced(client(Who::Carol), &ns)
            .get("db")
            .await,
    );
    // Alice's reads within her grant are what it is for.
    let alice = Api::<Ingress>::namespaced(client(Who::Alice), &ns);
    alice.get("web").await.expect("alice reads the Ingress");
    alice
        .list(&ListParams::default())
        .await
        .expect("alice lists");
    let carol = by("carol", "get", "secrets", ns.clone());
    let listed = by("alice", "list", "ingresses", ns.clone());
    batches
        .collect_until(common::live::PATIENCE, |events| {
            events.iter().any(&carol) && events.iter().any(&listed)
        })
        .await;
    live.evaluated().await;
    assert_eq!(live.state(id), State::Active);
    assert!(audit::cluster().sar(&access).await);
    live.stop().await;
}

#[tokio::test]
async fn a_forbidden_burst_under_the_threshold_revokes_nothing_and_over_it_revokes() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let mut batches = audit::relay().subscribe();
    let id = live.grant(ALICE, "debug", None, &access).await;

    // ConfigMaps: outside the debug role and no rule of their own, so only the burst counts.
    let configmaps = Api::<ConfigMap>::namespaced(client(Who::Alice), &ns);
    for _ in 0..2 {
        forbidden(configmaps.list(&ListParams::default()).await);
    }
    let two = |events: &[Value]| {
        let listed = by("alice", "list", "configmaps", ns.clone());
        events.iter().filter(|e| listed(e)).count() >= 2
    };
    batches.collect_until(common::live::PATIENCE, two).await;
    live.evaluated().await;
    assert_eq!(live.state(id), State::Active, "2 of 3 forbidden calls");

    forbidden(configmaps.list(&ListParams::default()).await);
    revoked_by(&live, id, "forbidden-burst", &access).await;
    live.stop().await;
}

/// What a refusal case sends and the status it must get.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

/// A real batch (the fixture's shape) with alice's forbidden Secret read in `ns`, now.
fn secret_read_batch(ns: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audit/eventlist.json"
    ))
    .expect("the fixture");
    let fixture: Value = serde_json::from_str(&text).expect("JSON");
    let mut event = audit::items(&fixture)
        .find(|e| e["objectRef"]["resource"] == "secrets")
        .expect("the fixture has alice's Secret read")
        .clone();
    let now = jiff::Timestamp::now().to_string();
    event["objectRef"]["namespace"] = json!(ns);
    event["requestURI"] = json!(format!("/api/v1/namespaces/{ns}/secrets/db"));
    event["auditID"] = json!(format!("live-{ns}"));
    event["requestReceivedTimestamp"] = json!(now);
    event["stageTimestamp"] = json!(now);
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [event]})
}

#[tokio::test]
async fn refused_batches_revoke_nothing() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;
    let batch = secret_read_batch(&ns);
    let body = serde_json::to_vec(&batch).unwrap();
    let bearer = format!("Bearer {}", live.audit_token);
    let json = ("content-type", "application/json");
    let mut beta = batch.clone();
    beta["apiVersion"] = json!("audit.k8s.io/v1beta1");
    let mut padded = batch.clone();
    padded["items"][0]["annotations"]["padding"] = json!("x".repeat(300 * 1024));

    let wrong = "Bearer not-the-token";
    let cases: [Refusal; 5] = [
        ("no token", vec![json], body.clone(), 401),
        (
            "a wrong token",
            vec![json, ("authorization", wrong)],
            body.clone(),
            401,
        ),
        (
            "malformed JSON",
            vec![json, ("authorization", &bearer)],
            body[..body.len() / 2].to_vec(),
            400,
        ),
        (
            "oversized",
            vec![json, ("authorization", &bearer)],
            serde_json::to_vec(&padded).unwrap(),
            413,
        ),
        (
            "v1beta1",
            vec![json, ("authorization", &bearer)],
            serde_json::to_vec(&beta).unwrap(),
            400,
        ),
    ];
    for (what, headers, body, status) in cases {
        let (got, text) = live.post(audit::RELAY_PATH, &headers, body).await;
        assert_eq!(got, status, "{what}: {text}");
    }
    live.evaluated().await;
    assert_eq!(live.state(id), State::Active);
    assert!(audit::cluster().sar(&access).await);

    // The same batch, accepted, does revoke: the refusals above were all that stopped it.
    let (got, text) = live
        .post(audit::RELAY_PATH, &[json, ("authorization", &bearer)], body)
        .await;
    assert_eq!(got, 200, "{text}");
    revoked_by(&live, id, "secrets", &access).await;
    live.stop().await;
}

/// A Falco alert from the k8saudit rules, as Falcosidekick posts it, for `user` in `ns`.
fn falco_alert(priority: &str, user: &str, ns: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "uuid": "5f3c2d7e-0000-4000-8000-000000000001",
        "output": format!("Attach/Exec to pod (user={user} pod=web ns={ns})"),
        "priority": priority,
        "rule": "Attach/Exec Pod",
        "time": jiff::Timestamp::now().to_string(),
        "source": "k8s_audit",
        "tags": ["k8s"],
        "hostname": "falco-0",
        "output_fields": {"ka.user.name": user, "ka.target.namespace": ns},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_falco_alert_at_the_chosen_priority_revokes_and_a_lower_one_does_not() {
    let live = start().await;
    let ns = live.spaces.ns.clone();
    let access = ingress_access(Who::Alice, "get", &ns);
    let id = live.grant(ALICE, "debug", None, &access).await;
    let bearer = format!("Bearer {FALCO_TOKEN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];

    let (got, text) = live
        .post("/falco", &headers, falco_alert("Warning", "alice", &ns))
        .await;
    assert_eq!(got, 200, "{text}");
    live.evaluated().await;
    assert_eq!(live.state(id), State::Active, "a warning is below critical");

    let (got, text) = live
        .post("/falco", &headers, falco_alert("Critical", "alice", &ns))
        .await;
    assert_eq!(got, 200, "{text}");
    revoked_by(&live, id, "falco:Attach/Exec Pod", &access).await;
    live.stop().await;
}
