//! Grants on a real kube-apiserver with RBAC, acting as jitpe's own identity with the shipped
//! manifests, checked with SubjectAccessReview.

mod common;

use common::grants::{
    Spaces, approve, approver, jitpe_cluster, posted_card, request, service_with,
};
use common::kube::{Access, Who, cluster};
use jitpe::domain::grant::PlannedBinding;
use jitpe::domain::ids::{InstanceId, RequestId};
use jitpe::domain::request::State;
use jitpe::domain::view::CardAction;
use jitpe::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef, Store};
use jitpe::store::memory::MemStore;
use jitpe::store::sled::SledStore;
use jitpe::testing::ManualClock;
use k8s_openapi::api::rbac::v1::RoleBinding;
use std::sync::Arc;
use std::time::Duration;

fn alice(verb: &str, resource: &str, ns: &str) -> Access {
    let group = if resource == "ingresses" {
        "networking.k8s.io"
    } else {
        ""
    };
    Access::new(Who::Alice, verb, group, resource).in_namespace(ns)
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(jiff::Timestamp::now()))
}

#[tokio::test]
async fn a_debug_grant_allows_reading_ingresses_in_its_namespace_and_nothing_more() {
    let c = cluster();
    let s = Spaces::new().await;
    let svc = service_with(Arc::new(MemStore::new()), jitpe_cluster(), &s, clock());
    for verb in ["get", "list", "watch"] {
        c.eventually_sar(&alice(verb, "ingresses", &s.ns), false)
            .await;
    }
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    for verb in ["get", "list", "watch"] {
        c.eventually_sar(&alice(verb, "ingresses", &s.ns), true)
            .await;
    }
    let name = format!("jitpe-{}-{id}-0", s.instance);
    let rbs: kube::Api<RoleBinding> = kube::Api::namespaced(c.client(Who::Admin), &s.ns);
    let subjects = rbs.get(&name).await.unwrap().subjects.unwrap();
    let only: Vec<(&str, &str)> = subjects
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(only, [("User", "alice")], "exactly the requester");
    assert!(
        !c.sar(&alice("update", "ingresses", &s.ns)).await,
        "debug is read-only"
    );
    assert!(
        !c.sar(&alice("get", "secrets", &s.ns)).await,
        "never secrets"
    );
    assert!(
        !c.sar(&alice("get", "ingresses", &s.other)).await,
        "only the requested namespace"
    );
    c.eventually_sar(&alice("get", "pods", &s.ctrl).subresource("log"), true)
        .await;
    assert!(
        !c.sar(&alice("get", "pods", &s.ns).subresource("log")).await,
        "logs only in the controller namespace"
    );
    assert!(
        !c.sar(&alice("create", "pods", &s.ctrl).subresource("exec"))
            .await,
        "never exec"
    );
}

#[tokio::test]
async fn a_change_grant_allows_updates_and_a_scoped_one_only_on_its_ingress() {
    let c = cluster();
    let s = Spaces::new().await;
    let svc = service_with(Arc::new(MemStore::new()), jitpe_cluster(), &s, clock());
    let id = request(&svc, "change", &s.ns, None, 30).await;
    approve(&svc, id).await;
    c.eventually_sar(&alice("update", "ingresses", &s.ns), true)
        .await;
    assert!(!c.sar(&alice("get", "secrets", &s.ns)).await);

    let s2 = Spaces::new().await;
    let svc2 = service_with(Arc::new(MemStore::new()), jitpe_cluster(), &s2, clock());
    let id2 = request(&svc2, "change", &s2.ns, Some("web-frontend"), 30).await;
    approve(&svc2, id2).await;
    c.eventually_sar(
        &alice("update", "ingresses", &s2.ns).named("web-frontend"),
        true,
    )
    .await;
    assert!(
        !c.sar(&alice("update", "ingresses", &s2.ns).named("api"))
            .await,
        "other ingresses stay closed"
    );
    assert!(
        !c.sar(&alice("update", "ingresses", &s2.ns)).await,
        "not the whole namespace"
    );
}

#[tokio::test]
async fn access_ends_when_the_worker_handles_the_expiry() {
    let c = cluster();
    let s = Spaces::new().await;
    let clock = clock();
    let svc = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &s,
        clock.clone(),
    );
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    c.eventually_sar(&alice("get", "ingresses", &s.ns), true)
        .await;
    clock.advance(Duration::from_secs(15 * 60));
    svc.run_due().await.unwrap();
    assert_eq!(
        svc.store().get(id).unwrap().unwrap().value.state,
        State::Expired
    );
    c.eventually_sar(&alice("get", "ingresses", &s.ns), false)
        .await;
    let left = jitpe_cluster().list_managed(&s.instance, None).await;
    assert_eq!(left.unwrap(), []);
}

#[tokio::test]
async fn an_expiry_still_happens_after_a_restart_on_the_same_store() {
    let c = cluster();
    let s = Spaces::new().await;
    let dir = tempfile::TempDir::new().unwrap();
    let clock = clock();
    let id = {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let svc = service_with(store, jitpe_cluster(), &s, clock.clone());
        let id = request(&svc, "debug", &s.ns, None, 15).await;
        approve(&svc, id).await;
        id
    };
    c.eventually_sar(&alice("get", "ingresses", &s.ns), true)
        .await;
    clock.advance(Duration::from_secs(16 * 60));
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(dir.path()).expect("the first service released the store"));
    let svc = service_with(store, jitpe_cluster(), &s, clock);
    svc.run_due().await.unwrap();
    assert_eq!(
        svc.store().get(id).unwrap().unwrap().value.state,
        State::Expired
    );
    c.eventually_sar(&alice("get", "ingresses", &s.ns), false)
        .await;
}

/// Creates bindings for real but reports failure, or fails before creating them: a crash
/// between "Approved" and "Active" as seen from the store.
struct Crashing {
    inner: Arc<dyn Cluster>,
    after_apply: bool,
}

#[async_trait::async_trait]
impl Cluster for Crashing {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        if self.after_apply {
            self.inner.apply(plan).await?;
        }
        Err(ClusterError::Unavailable("crashed".into()))
    }
    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError> {
        self.inner.delete_objects(objects).await
    }
    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        self.inner.list_managed(instance, request).await
    }
    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        self.inner.exists(object).await
    }
}

#[tokio::test]
async fn a_crash_between_approval_and_activation_recovers_and_ends_on_time() {
    let c = cluster();
    for after_apply in [false, true] {
        let s = Spaces::new().await;
        let dir = tempfile::TempDir::new().unwrap();
        let clock = clock();
        let id = {
            let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
            let crashing = Arc::new(Crashing {
                inner: jitpe_cluster(),
                after_apply,
            });
            let svc = service_with(store, crashing, &s, clock.clone());
            let id = request(&svc, "debug", &s.ns, None, 15).await;
            let card = posted_card(&svc, id);
            svc.click(&approver(), id, CardAction::Approve, &card)
                .await
                .unwrap();
            assert_eq!(
                svc.store().get(id).unwrap().unwrap().value.state,
                State::Approved
            );
            id
        };
        clock.advance(Duration::from_secs(60));
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let svc = service_with(store, jitpe_cluster(), &s, clock.clone());
        svc.run_due().await.unwrap();
        let req = svc.store().get(id).unwrap().unwrap().value;
        assert_eq!(req.state, State::Active, "after_apply={after_apply}");
        c.eventually_sar(&alice("get", "ingresses", &s.ns), true)
            .await;
        clock.set(req.expires_at.unwrap());
        svc.run_due().await.unwrap();
        c.eventually_sar(&alice("get", "ingresses", &s.ns), false)
            .await;
    }
}

#[tokio::test]
async fn the_expiry_worker_ends_access_when_its_deadline_comes() {
    let c = cluster();
    let s = Spaces::new().await;
    let clock = clock();
    let svc = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &s,
        clock.clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = jitpe::workers::spawn(jitpe::workers::expiry::Expiry::new(svc.clone()), stop_rx);
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    c.eventually_sar(&alice("get", "ingresses", &s.ns), true)
        .await;
    clock.advance(Duration::from_secs(15 * 60));
    // A new deadline (or this nudge) wakes the worker; it does not wait for its next timer.
    svc.wake_signal().notify_one();
    c.eventually_sar(&alice("get", "ingresses", &s.ns), false)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while svc.store().get(id).unwrap().unwrap().value.state != State::Expired {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not mark #{id} expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).unwrap();
    worker.await.unwrap();
}
