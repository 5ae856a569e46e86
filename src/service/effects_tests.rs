//! The follow-up loop under races: a grant revoked while its bindings are being created, an
//! activation that loses to a concurrent one, and the refresh of the bindings after an extension.

use super::*;
use crate::domain::fixtures::{POLICY, approver, requester, t0};
use crate::domain::grant::PlannedBinding;
use crate::domain::identity::Actor;
use crate::domain::ids::{InstanceId, Namespace, RequestId, RoleName};
use crate::domain::policy::RawPolicy;
use crate::domain::request::{Event, State};
use crate::domain::view::CardAction;
use crate::ports::{ClusterObject, ManagedObject, ObjectRef};
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};
use async_trait::async_trait;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Mutex;
use std::time::Duration;

/// A [`FakeCluster`] that runs a hook once, inside the next `apply`, before creating anything:
/// the moment another writer can slip in while bindings are being created.
#[derive(Default)]
struct HookCluster {
    inner: FakeCluster,
    hook: Mutex<Option<BoxFuture<'static, ()>>>,
    delete_hook: Mutex<Option<BoxFuture<'static, ()>>>,
}

#[async_trait]
impl Cluster for HookCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> std::result::Result<(), ClusterError> {
        let hook = self.hook.lock().expect("lock").take();
        if let Some(hook) = hook {
            hook.await;
        }
        self.inner.apply(plan).await
    }

    async fn delete_objects(
        &self,
        objects: &[ObjectRef],
    ) -> std::result::Result<usize, ClusterError> {
        let hook = self.delete_hook.lock().expect("lock").take();
        if let Some(hook) = hook {
            hook.await;
        }
        self.inner.delete_objects(objects).await
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> std::result::Result<Vec<ManagedObject>, ClusterError> {
        self.inner.list_managed(instance, request).await
    }

    async fn exists(&self, object: &ClusterObject) -> std::result::Result<bool, ClusterError> {
        self.inner.exists(object).await
    }
}

struct World {
    svc: Service,
    store: Arc<MemStore>,
    cluster: Arc<HookCluster>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let policy = Arc::new(Policy::try_from(raw).unwrap());
    let (store, clock) = (Arc::new(MemStore::new()), Arc::new(ManualClock::at(t0())));
    let cluster = Arc::new(HookCluster::default());
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(store.clone(), cluster.clone(), clock.clone(), policy, chat);
    World {
        svc,
        store,
        cluster,
        clock,
    }
}

impl World {
    /// A pending `debug` request of 15 minutes.
    /// The card of `id`, recorded as the outbox would once posted (clicks come only from it).
    fn card(&self, id: RequestId) -> crate::ports::CardRef {
        let card = crate::ports::CardRef {
            platform: Platform::Slack,
            channel: "CAPPROVERS".into(),
            message_id: format!("1.{id}"),
        };
        self.store.put_card(id, &card).unwrap();
        card
    }

    async fn submit(&self) -> RequestId {
        let cmd = crate::domain::command::Command::Request {
            role: RoleName::parse("debug").unwrap(),
            namespace: Namespace::parse("shop").unwrap(),
            resource: None,
            duration: Some(Duration::from_secs(15 * 60)),
            reason: "INC-1 checkout 502s".into(),
        };
        self.svc.command(&requester(), cmd, None).await.unwrap();
        self.store.list().unwrap().last().unwrap().value.id
    }

    /// Runs `hook` inside the next cluster `apply`, before it creates anything.
    fn during_next_apply(&self, hook: impl std::future::Future<Output = ()> + Send + 'static) {
        *self.cluster.hook.lock().unwrap() = Some(hook.boxed());
    }

    /// Runs `hook` inside the next cluster delete, before it deletes anything.
    fn during_next_delete(&self, hook: impl std::future::Future<Output = ()> + Send + 'static) {
        *self.cluster.delete_hook.lock().unwrap() = Some(hook.boxed());
    }

    fn state(&self, id: RequestId) -> State {
        self.store.get(id).unwrap().unwrap().value.state
    }

    fn count(&self, action: &str) -> usize {
        let audit = self.store.audit_from(1, 1000).unwrap();
        audit.iter().filter(|r| r.action == action).count()
    }
}

#[tokio::test]
async fn a_grant_revoked_while_its_bindings_are_created_has_them_deleted_again() {
    let w = world();
    let id = w.submit().await;
    let svc = w.svc.clone();
    w.during_next_apply(async move {
        let by = Actor::new(Platform::Cli, "root");
        let reason = "wrong person".to_string();
        svc.commit(id, Event::Revoke { by, reason }).await.unwrap();
    });
    w.svc
        .click(&approver(), id, CardAction::Approve, &w.card(id))
        .await
        .unwrap();
    assert_eq!(w.state(id), State::Revoked);
    assert!(
        w.cluster.inner.objects().is_empty(),
        "no access behind a final record"
    );
    assert_eq!(w.count("activated"), 0);
}

#[tokio::test]
async fn an_activation_that_loses_the_race_leaves_the_winners_bindings() {
    let w = world();
    let id = w.submit().await;
    let worker = w.svc.clone();
    // The deadline worker activates the same approved request while the click's activation is
    // still creating its bindings.
    w.during_next_apply(async move { worker.activate(id).await.unwrap() });
    w.svc
        .click(&approver(), id, CardAction::Approve, &w.card(id))
        .await
        .unwrap();
    assert_eq!(w.state(id), State::Active);
    assert_eq!(
        w.cluster.inner.objects().len(),
        2,
        "the winner's bindings stay"
    );
    assert_eq!(w.count("activated"), 1);
}

#[tokio::test]
async fn an_approved_extension_moves_the_expiry_of_the_bindings() {
    let w = world();
    let id = w.submit().await;
    w.svc
        .click(&approver(), id, CardAction::Approve, &w.card(id))
        .await
        .unwrap();
    w.clock.advance(Duration::from_secs(5 * 60));
    let extend = Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(15 * 60),
        reason: "still digging".into(),
    };
    w.svc.apply(id, extend).await.unwrap();
    w.svc
        .click(&approver(), id, CardAction::Approve, &w.card(id))
        .await
        .unwrap();
    let expires_at = w.store.get(id).unwrap().unwrap().value.expires_at;
    assert_eq!(expires_at, Some(t0() + jiff::SignedDuration::from_mins(30)));
    let objects = w.cluster.inner.objects();
    assert!(!objects.is_empty());
    assert!(
        objects.iter().all(|o| o.expires_at == expires_at),
        "{objects:?}"
    );
}

#[tokio::test]
async fn an_extension_approved_while_the_expiry_deletes_the_bindings_keeps_them() {
    let w = world();
    let id = w.submit().await;
    let card = w.card(id);
    w.svc
        .click(&approver(), id, CardAction::Approve, &card)
        .await
        .unwrap();
    let extend = Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(15 * 60),
        reason: "still digging".into(),
    };
    w.svc.apply(id, extend).await.unwrap();
    w.clock.advance(Duration::from_secs(15 * 60));
    // The approver approves the extension just as the expiry is deleting the bindings: the
    // extension commits first, so the expiry's compare-and-swap loses.
    let (svc, approve_card) = (w.svc.clone(), card.clone());
    w.during_next_delete(async move {
        let by = approver();
        let approved = svc.click(&by, id, CardAction::Approve, &approve_card);
        approved.await.unwrap();
    });
    let expired = w.svc.apply(id, Event::Expire).await;
    assert!(expired.is_err(), "the expiry lost to the extension");
    let req = w.store.get(id).unwrap().unwrap().value;
    assert_eq!(req.state, State::Active);
    let objects = w.cluster.inner.objects();
    assert_eq!(objects.len(), 2, "an Active grant keeps its bindings");
    assert!(objects.iter().all(|o| o.expires_at == req.expires_at));
    // And when the extended grant expires, they go.
    w.clock.advance(Duration::from_secs(15 * 60));
    w.svc.apply(id, Event::Expire).await.unwrap();
    assert_eq!(w.state(id), State::Expired);
    assert!(w.cluster.inner.objects().is_empty());
}
