//! The shipped audit policy and webhook kubeconfig (`manifests/audit/`) on the real apiserver:
//! its own audit webhook, through the relay of `tests/common/audit.rs`, sends what jitpe's rules
//! need and nothing they must not see. Also checks the two files' shape without an apiserver,
//! and keeps `tests/fixtures/audit/eventlist.json` (real events, trimmed) true to the live shape.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::audit::{self, events};
use common::kube::Who;
use common::manifests::documents;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::Value;

/// A value that must never leave the apiserver in an audit event.
const SECRET_VALUE: &str = "s3cr3t-value-never-audited";
/// The fixture of real events for the routers' tests.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/audit/eventlist.json"
);
/// Set to rewrite the fixture from the live events.
const WRITE_FIXTURE_ENV: &str = "JITPE_WRITE_AUDIT_FIXTURE";
/// Batches arrive within the batch wait; this leaves room for a slow, shared machine.
const ARRIVAL: Duration = Duration::from_secs(30);

fn rules() -> Vec<Value> {
    let policy = documents("audit/audit-policy.yaml");
    assert_eq!(policy.len(), 1, "one document");
    let policy = &policy[0];
    assert_eq!(policy["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(policy["kind"], "Policy");
    assert_eq!(policy["omitStages"], serde_json::json!(["RequestReceived"]));
    policy["rules"].as_array().expect("rules").clone()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

/// Whether `rule` names `resource` of `group`.
fn names(rule: &Value, group: &str, resource: &str) -> bool {
    rule["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["group"] == group && strings(&r["resources"]).contains(&resource))
}

#[test]
fn the_audit_policy_keeps_people_and_never_logs_secret_bodies() {
    let rules = rules();
    for rule in &rules {
        assert!(
            rule.get("omitStages").is_none(),
            "one omitStages for all: {rule}"
        );
        if rule["level"] != "None" {
            continue;
        }
        // A None rule may only name system identities, Event writes or non-resource URLs: no
        // request of a person on an object that a revocation rule reads is ever dropped.
        let system = strings(&rule["users"])
            .iter()
            .chain(&strings(&rule["userGroups"]))
            .all(|who| who.starts_with("system:"));
        let by_whom = rule.get("users").is_some() || rule.get("userGroups").is_some();
        let event_writes = names(rule, "", "events")
            && strings(&rule["verbs"])
                .iter()
                .all(|v| ["create", "update", "patch"].contains(v));
        let urls = rule.get("nonResourceURLs").is_some() && rule.get("resources").is_none();
        assert!((by_whom && system) || event_writes || urls, "{rule}");
    }
    let position = |pred: &dyn Fn(&Value) -> bool| rules.iter().position(pred);
    let secrets = position(&|r| names(r, "", "secrets")).expect("a rule for secrets");
    assert_eq!(rules[secrets]["level"], "Metadata");
    for (i, rule) in rules.iter().enumerate() {
        if rule["level"] == "RequestResponse" || rule["level"] == "Request" {
            assert!(i > secrets, "the secrets rule comes first: {rule}");
            let resources = rule["resources"].as_array().expect("only named resources");
            assert_eq!(resources.len(), 1, "{rule}");
            assert!(names(rule, "networking.k8s.io", "ingresses"), "{rule}");
            assert_eq!(strings(&resources[0]["resources"]), ["ingresses"]);
        }
    }
    let last = rules.last().expect("rules");
    assert_eq!(
        last,
        &serde_json::json!({"level": "Metadata"}),
        "catch-all last"
    );
}

#[test]
fn the_webhook_kubeconfig_points_at_jitpes_route_and_stays_off_the_cluster() {
    let config = audit::webhook_kubeconfig(&audit::Webhook {
        server: "https://10.0.0.10/k8s/audit",
        tls_server_name: "jitpe.jitpe-system.svc",
        certificate_authority: std::path::Path::new("/ca.crt"),
        token: "t",
    })
    .expect("the shape docs/audit.md describes");
    let raw = &documents("audit/webhook-kubeconfig.yaml")[0];
    let server = raw["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("server");
    let url = reqwest::Url::parse(server).expect("an absolute URL");
    // client-go sends the token to an https server only.
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.path(), audit::RELAY_PATH);
    assert_eq!(
        raw["users"][0]["user"]["token"],
        "REPLACE-WITH-THE-K8S-AUDIT-TOKEN"
    );
    let context = &config["contexts"][0];
    assert_eq!(config["current-context"], context["name"]);
    assert_eq!(context["context"]["cluster"], config["clusters"][0]["name"]);
    assert_eq!(context["context"]["user"], config["users"][0]["name"]);
    // Control-plane files: `kubectl apply -k manifests/` must not send them to the cluster.
    let kustomization = &documents("kustomization.yaml")[0];
    assert!(
        strings(&kustomization["resources"])
            .iter()
            .all(|r| !r.starts_with("audit")),
        "{kustomization}"
    );
}

fn ingress(name: &str, host: &str) -> Ingress {
    let backend = IngressServiceBackend {
        name: "web".into(),
        port: Some(ServiceBackendPort {
            number: Some(80),
            name: None,
        }),
    };
    Ingress {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(IngressSpec {
            default_backend: Some(IngressBackend {
                service: Some(backend),
                resource: None,
            }),
            rules: Some(vec![k8s_openapi::api::networking::v1::IngressRule {
                host: Some(host.into()),
                http: None,
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

fn forbidden<T: std::fmt::Debug>(result: kube::Result<T>) {
    match result {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
        other => panic!("expected 403, got {other:?}"),
    }
}

/// The event of `verb` on `resource` by `user` in `namespace`, if one arrived.
fn find<'a>(
    events: &[&'a Value],
    (user, verb, resource, namespace): (&str, &str, &str, &str),
) -> Option<&'a Value> {
    events.iter().copied().find(|e| {
        e["user"]["username"] == user
            && e["verb"] == verb
            && e["objectRef"]["resource"] == resource
            && e["objectRef"]["namespace"] == namespace
            && e["stage"] == "ResponseComplete"
    })
}

/// What the test does, as the keys of the events it looks for.
struct Plan<'a> {
    ns: &'a str,
    /// The Ingress's resourceVersion after the admin's update, and its uid.
    updated_version: String,
    uid: String,
}

impl Plan<'_> {
    fn keys(&self) -> [(&str, &str, &str, &str); 5] {
        [
            ("alice", "delete", "ingresses", self.ns),
            ("alice", "get", "secrets", self.ns),
            ("admin", "get", "ingresses", self.ns),
            ("admin", "update", "ingresses", self.ns),
            ("admin", "delete", "ingresses", self.ns),
        ]
    }

    /// Whether every event looked for has arrived (the update with its final version).
    fn complete(&self, events: &[&Value]) -> bool {
        self.keys().iter().all(|&k| find(events, k).is_some())
            && find(events, self.keys()[3]).is_some_and(|e| {
                e["responseObject"]["metadata"]["resourceVersion"] == *self.updated_version
            })
    }
}

/// Alice's forbidden attempts, the admin's Secret and Ingress writes, and two probes.
async fn act(ns: &str) -> (String, String) {
    let cluster = audit::cluster();
    let admin = cluster.client(Who::Admin);
    // Probes first: their events, if the policy kept them, would arrive before the rest.
    for path in ["/readyz", "/version"] {
        let request = axum::http::Request::get(path).body(Vec::new()).unwrap();
        admin.request_text(request).await.expect(path);
    }
    let ingresses = Api::<Ingress>::namespaced(admin.clone(), ns);
    let pp = PostParams::default();
    let created = ingresses
        .create(&pp, &ingress("web", "a.example.com"))
        .await
        .unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("password".into(), SECRET_VALUE.into())])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(admin.clone(), ns)
        .create(&pp, &secret)
        .await
        .unwrap();

    let alice = cluster.client(Who::Alice);
    let dp = DeleteParams::default();
    forbidden(
        Api::<Ingress>::namespaced(alice.clone(), ns)
            .delete("web", &dp)
            .await,
    );
    forbidden(Api::<Secret>::namespaced(alice, ns).get("db").await);

    let mut web = ingresses.get("web").await.unwrap();
    web.spec.as_mut().unwrap().rules.as_mut().unwrap()[0].host = Some("b.example.com".into());
    let updated = ingresses.replace("web", &pp, &web).await.unwrap();
    ingresses.delete("web", &dp).await.unwrap();
    let version = updated.metadata.resource_version.expect("a version");
    (version, created.metadata.uid.expect("a uid"))
}

#[tokio::test]
async fn the_apiserver_sends_what_the_rules_need_and_no_secret() {
    let mut batches = audit::relay().subscribe();
    let ns = audit::cluster().temp_namespace("audit").await;
    let (updated_version, uid) = act(&ns).await;
    let plan = Plan {
        ns: &ns,
        updated_version,
        uid,
    };
    let mut received = batches
        .collect_until(ARRIVAL, |events| {
            plan.complete(&events.iter().collect::<Vec<_>>())
        })
        .await;
    // One more batch wait, so that what the policy should have dropped had its chance.
    received.extend(batches.collect_for(audit::BATCH_MAX_WAIT * 2).await);

    for batch in &received {
        assert_eq!(batch["kind"], "EventList");
        assert_eq!(batch["apiVersion"], "audit.k8s.io/v1");
        let text = batch.to_string();
        assert!(
            !text.contains(SECRET_VALUE) && !text.contains(&STANDARD.encode(SECRET_VALUE)),
            "a secret value in the audit stream"
        );
    }
    let all = events(&received);
    for event in &all {
        assert_ne!(event["stage"], "RequestReceived", "{event}");
        assert_ne!(event["user"]["username"], "system:apiserver", "{event}");
        let uri = event["requestURI"].as_str().unwrap_or_default();
        assert!(
            uri != "/readyz" && uri != "/version",
            "a probe was audited: {event}"
        );
        if event["objectRef"]["resource"] == "secrets" {
            assert_eq!(event["level"], "Metadata", "{event}");
            assert!(event.get("requestObject").is_none() && event.get("responseObject").is_none());
        }
    }
    check_events(&plan, &all);
    keep_fixture(&plan, &all);
}

fn check_events(plan: &Plan, all: &[&Value]) {
    let [
        alice_delete,
        alice_secret,
        admin_get,
        admin_update,
        admin_delete,
    ] = plan.keys().map(|k| find(all, k).expect("found"));
    for denied in [alice_delete, alice_secret] {
        assert_eq!(denied["responseStatus"]["code"], 403, "{denied}");
        assert_eq!(
            denied["annotations"]["authorization.k8s.io/decision"],
            "forbid"
        );
        assert!(
            strings(&denied["user"]["groups"]).contains(&"team-a"),
            "{denied}"
        );
    }
    assert_eq!(alice_delete["objectRef"]["apiGroup"], "networking.k8s.io");
    assert_eq!(alice_delete["objectRef"]["name"], "web");
    assert_eq!(alice_secret["objectRef"]["name"], "db");
    // A read is Metadata: no body.
    assert_eq!(admin_get["level"], "Metadata");
    assert!(admin_get.get("responseObject").is_none(), "{admin_get}");
    // Writes carry the objects; the update's version is the one the writer got back.
    for write in [admin_update, admin_delete] {
        assert_eq!(write["level"], "RequestResponse", "{write}");
        assert_eq!(write["responseStatus"]["code"], 200, "{write}");
    }
    assert_eq!(admin_update["requestObject"]["kind"], "Ingress");
    assert_eq!(admin_update["responseObject"]["metadata"]["uid"], *plan.uid);
    // A delete answers a Status, not the object: it names the deleted Ingress by uid, and has no
    // resourceVersion to match a watched deletion by.
    let status = &admin_delete["responseObject"];
    assert_eq!(status["kind"], "Status", "{admin_delete}");
    assert_eq!(status["details"]["uid"], *plan.uid, "{admin_delete}");
    assert_eq!(
        admin_update["responseObject"]["spec"]["rules"][0]["host"],
        "b.example.com"
    );
}

/// The top-level keys of an event, and of its `objectRef`.
fn shape(event: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let keys = |v: &Value| {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    };
    (keys(event), keys(&event["objectRef"]))
}

/// Rewrites the fixture from these events when asked; otherwise checks that each fixture event
/// still has the shape of the live event it was taken from.
fn keep_fixture(plan: &Plan, all: &[&Value]) {
    let live: Vec<&Value> = plan.keys().map(|k| find(all, k).expect("found")).to_vec();
    if std::env::var_os(WRITE_FIXTURE_ENV).is_some() {
        let list = serde_json::json!({
            "kind": "EventList",
            "apiVersion": "audit.k8s.io/v1",
            "metadata": {},
            "items": live,
        });
        let text = serde_json::to_string_pretty(&list).unwrap() + "\n";
        std::fs::write(FIXTURE, text).expect(FIXTURE);
        return;
    }
    let text = std::fs::read_to_string(FIXTURE).expect(FIXTURE);
    let fixture: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    assert_eq!(fixture["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(fixture["kind"], "EventList");
    let kept: Vec<&Value> = audit::items(&fixture).collect();
    assert_eq!(
        kept.len(),
        live.len(),
        "rewrite it with {WRITE_FIXTURE_ENV}=1"
    );
    for (kept, live) in kept.iter().zip(&live) {
        assert_eq!(
            shape(kept),
            shape(live),
            "the fixture's event no longer has the live shape; rewrite it with \
             {WRITE_FIXTURE_ENV}=1\nfixture: {kept}\nlive: {live}"
        );
    }
}

/// The relay itself: a registered target gets the apiserver's batches unchanged, with the
/// webhook kubeconfig's token, and nothing once its registration is dropped.
#[tokio::test]
async fn the_relay_forwards_each_batch_with_the_token_to_registered_targets() {
    use axum::http::HeaderMap;
    use tokio::sync::mpsc;
    let (tx, mut rx) = mpsc::unbounded_channel::<(Option<String>, Value)>();
    let target = axum::Router::new().route(
        audit::RELAY_PATH,
        axum::routing::post(
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                let _ = tx.send((auth, serde_json::from_slice(&body).expect("JSON")));
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        audit::RELAY_PATH
    );
    tokio::spawn(async move { axum::serve(listener, target).await });

    let relay = audit::relay();
    let registration = relay.register(&url);
    let ns = audit::cluster().temp_namespace("relay").await;
    let in_ns = |batch: &Value| audit::items(batch).any(|e| e["objectRef"]["name"] == *ns);
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        let (auth, batch) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a batch with the namespace's creation reached the target")
            .expect("the target runs");
        assert_eq!(auth, Some(format!("Bearer {}", relay.token())));
        assert_eq!(batch["kind"], "EventList");
        if in_ns(&batch) {
            break;
        }
    }
    drop(registration);
    // Batches already on their way may still land; after two batch waits none may.
    tokio::time::sleep(audit::BATCH_MAX_WAIT * 2).await;
    while rx.try_recv().is_ok() {}
    audit::cluster().temp_namespace("relay-after").await;
    let late = tokio::time::timeout(audit::BATCH_MAX_WAIT * 3, rx.recv()).await;
    assert!(
        late.is_err(),
        "a batch reached an unregistered target: {late:?}"
    );
}
