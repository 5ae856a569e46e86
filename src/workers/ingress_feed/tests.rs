//! The feed worker over a hand-fed watch and an in-memory service: which namespaces are
//! watched, who a change is attributed to, and how long it waits for the audit stream. The
//! real watch on a real apiserver is `tests/kube_ingress_feed.rs`.

use super::*;
use crate::domain::anomaly::{ApiCall, IngressShape};
use crate::domain::audit::AuditRecord;
use crate::domain::command::Command;
use crate::domain::fixtures::{POLICY, requester};
use crate::domain::identity::Platform;
use crate::domain::ids::{Namespace, RoleName};
use crate::domain::policy::{Policy, RawPolicy};
use crate::service::ChatTargets;
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};
use futures::future::BoxFuture;
use std::sync::Mutex;

/// A watch that sends nothing by itself: the test sends through the sinks it was given, and
/// sees which watches were started and which were dropped (stopped).
#[derive(Default)]
struct HandFed {
    sinks: Mutex<BTreeMap<String, IngressSink>>,
    stopped: Arc<Mutex<Vec<String>>>,
}

struct OnDrop(String, Arc<Mutex<Vec<String>>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0.clone());
    }
}

impl IngressWatch for HandFed {
    fn watch(&self, namespace: String, sink: IngressSink) -> BoxFuture<'static, ()> {
        self.sinks.lock().unwrap().insert(namespace.clone(), sink);
        let guard = OnDrop(namespace, self.stopped.clone());
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
    }
}

impl HandFed {
    async fn send(&self, ns: &str, event: IngressEvent) {
        let sink = self
            .sinks
            .lock()
            .unwrap()
            .get(ns)
            .cloned()
            .expect("watched");
        sink.send(event).await.unwrap();
    }
}

struct Rig {
    svc: Service,
    store: Arc<MemStore>,
    watch: Arc<HandFed>,
    writers: RecentWriters,
    feed: IngressFeed,
}

fn rig() -> Rig {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let policy = Arc::new(Policy::try_from(raw).unwrap());
    let store = Arc::new(MemStore::new());
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let cluster = Arc::new(FakeCluster::default());
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(store.clone(), cluster, clock, policy, chat);
    let watch = Arc::new(HandFed::default());
    let writers = RecentWriters::default();
    let feed = IngressFeed::new(svc.clone(), watch.clone(), writers.clone());
    Rig {
        svc,
        store,
        watch,
        writers,
        feed,
    }
}

/// An auto-approved grant for `rachel` in `ns`: Active at once.
async fn grant(svc: &Service, ns: &str) -> RequestId {
    let cmd = Command::Request {
        role: RoleName::parse("auto").unwrap(),
        namespace: Namespace::parse(ns).unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(600)),
        reason: "INC-1".into(),
    };
    svc.command(&requester(), cmd, None).await.unwrap();
    let active = svc.active_grants().await.unwrap();
    active
        .iter()
        .map(|r| r.id)
        .max()
        .expect("the grant is active")
}

fn shape(ns: &str, host: &str, rv: &str) -> IngressShape {
    IngressShape {
        namespace: ns.into(),
        name: "web".into(),
        resource_version: rv.into(),
        hosts: [host.to_string()].into(),
        field_manager: Some("kubectl-edit".into()),
        ..IngressShape::default()
    }
}

fn update(ns: &str, rv: &str) -> IngressEvent {
    IngressEvent {
        namespace: ns.into(),
        name: "web".into(),
        before: Some(shape(ns, "a.example.com", "1")),
        after: Some(shape(ns, "b.example.com", rv)),
        resource_version: rv.into(),
    }
}

fn write_call(user: &str, rv: &str) -> ApiCall {
    ApiCall {
        audit_id: "id".into(),
        at: jiff::Timestamp::now(),
        user: user.into(),
        impersonated: None,
        verb: "update".into(),
        group: "networking.k8s.io".into(),
        resource: "ingresses".into(),
        subresource: String::new(),
        namespace: Some("shop".into()),
        name: Some("web".into()),
        code: Some(200),
        resource_version: Some(rv.into()),
    }
}

fn feed_records(store: &MemStore) -> Vec<AuditRecord> {
    use crate::ports::Store;
    let all = store.audit_from(1, 1000).unwrap();
    all.into_iter()
        .filter(|r| r.action == "ingress_changed")
        .collect()
}

#[tokio::test]
async fn a_grantee_s_change_names_them_and_their_grant() {
    let mut r = rig();
    r.feed.work().await.unwrap();
    assert!(r.feed.watched().is_empty(), "no grant, no watch");
    let id = grant(&r.svc, "shop").await;
    r.feed.work().await.unwrap();
    assert_eq!(r.feed.watched(), ["shop"]);
    r.writers.note(&write_call("rachel", "2"));
    r.watch.send("shop", update("shop", "2")).await;
    r.feed.work().await.unwrap();
    let recs = feed_records(&r.store);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].request_id, Some(id));
    let d = &recs[0].details;
    assert_eq!(d["by"], "rachel");
    assert_eq!(d["change"], "updated");
    assert_eq!(d["ingress"], "web");
    assert_eq!(d["namespace"], "shop");
    assert_eq!(d["summary"], "hosts +b.example.com -a.example.com");
}

#[tokio::test]
async fn without_the_audit_stream_the_field_manager_is_named_at_once_and_no_grant() {
    let mut r = rig();
    grant(&r.svc, "shop").await;
    r.feed.work().await.unwrap();
    r.watch.send("shop", update("shop", "2")).await;
    r.feed.work().await.unwrap();
    let recs = feed_records(&r.store);
    assert_eq!(recs[0].details["by"], "field manager kubectl-edit");
    assert_eq!(recs[0].request_id, None);
    // A status write (nothing in the shape changed) is not posted.
    let mut same = update("shop", "3");
    same.before = same.after.clone();
    r.watch.send("shop", same).await;
    r.feed.work().await.unwrap();
    assert_eq!(feed_records(&r.store).len(), 1);
}

#[tokio::test]
async fn a_change_waits_for_a_late_writer_and_then_gives_up() {
    let mut r = rig();
    r.feed = r.feed.with_writer_wait(Duration::from_millis(300));
    grant(&r.svc, "shop").await;
    r.feed.work().await.unwrap();
    r.writers.heard();
    r.watch.send("shop", update("shop", "2")).await;
    let state = r.feed.work().await.unwrap();
    assert!(
        feed_records(&r.store).is_empty(),
        "waits for the audit batch"
    );
    assert!(matches!(state, WorkerState::Idle { until } if until <= Duration::from_millis(300)));
    r.writers.note(&write_call("ann", "2"));
    r.feed.work().await.unwrap();
    assert_eq!(feed_records(&r.store)[0].details["by"], "ann");
    // Nobody is ever named for the next one: after the wait, the field manager.
    r.watch.send("shop", update("shop", "3")).await;
    r.feed.work().await.unwrap();
    assert_eq!(feed_records(&r.store).len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    r.feed.work().await.unwrap();
    let recs = feed_records(&r.store);
    assert_eq!(recs[1].details["by"], "field manager kubectl-edit");
}

#[tokio::test]
async fn the_watch_stops_when_the_last_grant_in_the_namespace_ends() {
    let mut r = rig();
    let first = grant(&r.svc, "shop").await;
    let second = grant(&r.svc, "shop").await;
    r.feed.work().await.unwrap();
    let end = |id| Command::Revoke { id };
    r.svc.command(&requester(), end(first), None).await.unwrap();
    r.feed.work().await.unwrap();
    assert_eq!(r.feed.watched(), ["shop"], "one grant is left");
    r.svc
        .command(&requester(), end(second), None)
        .await
        .unwrap();
    r.feed.work().await.unwrap();
    assert!(r.feed.watched().is_empty());
    // The aborted task drops its future at its next poll.
    for _ in 0..100 {
        if !r.watch.stopped.lock().unwrap().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(*r.watch.stopped.lock().unwrap(), ["shop"]);
}
