//! Service use cases over in-memory fakes and a manual clock: ordering of side effects,
//! idempotency, deadlines and reconcile.

use super::*;
use crate::domain::command::Command;
use crate::domain::fixtures::{POLICY, approver, approver2, requester, stranger, t0};
use crate::domain::ids::{InstanceId, Namespace, RequestId, RoleName};
use crate::domain::policy::RawPolicy;
use crate::domain::request::{Event, State};
use crate::domain::view::CardAction;
use crate::ports::{CardRef, ClusterError, ManagedObject, ObjectKind, OutboxMessage};
use crate::store::memory::MemStore;
use crate::testing::FakeCluster;
use crate::testing::ManualClock;
use std::time::Duration;

struct World {
    svc: Service,
    store: Arc<MemStore>,
    cluster: Arc<FakeCluster>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    world_on(Arc::new(FakeCluster::default()), InstanceId::default())
}

/// A jitpe installation `instance`, with a store of its own, on `cluster`.
fn world_on(cluster: Arc<FakeCluster>, instance: InstanceId) -> World {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let policy = Arc::new(Policy::try_from(raw).unwrap());
    let store = Arc::new(MemStore::new());
    let clock = Arc::new(ManualClock::at(t0()));
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(store.clone(), cluster.clone(), clock.clone(), policy, chat)
        .with_instance(instance);
    World {
        svc,
        store,
        cluster,
        clock,
    }
}

/// The card of request `id` in the approvers channel.
fn card(id: RequestId) -> CardRef {
    CardRef {
        platform: Platform::Slack,
        channel: "CAPPROVERS".into(),
        message_id: format!("1700000000.{id}"),
    }
}

fn request_cmd(role: &str, minutes: u64) -> Command {
    Command::Request {
        role: RoleName::parse(role).unwrap(),
        namespace: Namespace::parse("shop").unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(minutes * 60)),
        reason: "INC-1 checkout 502s".into(),
    }
}

impl World {
    async fn submit(&self, role: &str, minutes: u64) -> RequestId {
        let reply = self
            .svc
            .command(&requester(), request_cmd(role, minutes), None)
            .await
            .unwrap();
        assert!(
            reply.text.to_string().starts_with("Request #"),
            "{}",
            reply.text
        );
        let id = self.store.list().unwrap().last().unwrap().value.id;
        // As the outbox does once the card is posted: clicks are accepted only from it.
        self.store.put_card(id, &card(id)).unwrap();
        id
    }

    /// Submits a request and lets the first approver approve it.
    async fn approved(&self, role: &str, minutes: u64) -> RequestId {
        let id = self.submit(role, minutes).await;
        self.svc
            .click(&approver(), id, CardAction::Approve, &card(id))
            .await
            .unwrap();
        id
    }

    fn state(&self, id: RequestId) -> State {
        self.store.get(id).unwrap().unwrap().value.state
    }

    fn audit_actions(&self) -> Vec<String> {
        self.store
            .audit_from(1, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect()
    }
}

#[tokio::test]
async fn approval_creates_bindings_and_marks_active_with_expiry_from_activation() {
    let w = world();
    let id = w.submit("debug", 15).await;
    w.clock.advance(Duration::from_secs(120));
    w.svc
        .click(&approver(), id, CardAction::Approve, &card(id))
        .await
        .unwrap();
    let req = w.store.get(id).unwrap().unwrap().value;
    assert_eq!(req.state, State::Active);
    assert_eq!(
        req.expires_at,
        Some(
            t0().checked_add(jiff::SignedDuration::from_secs(120 + 900))
                .unwrap()
        )
    );
    assert_eq!(w.cluster.objects().len(), 2, "debug binds two targets");
    assert_eq!(w.audit_actions(), ["requested", "approved", "activated"]);
}

#[tokio::test]
async fn a_double_click_creates_one_binding_and_one_audit_event() {
    let w = world();
    let id = w.submit("debug", 15).await;
    let (who, card) = (approver(), card(id));
    let (a, b) = tokio::join!(
        w.svc.click(&who, id, CardAction::Approve, &card),
        w.svc.click(&who, id, CardAction::Approve, &card)
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one click wins: {a:?} {b:?}"
    );
    assert_eq!(w.cluster.objects().len(), 2);
    let actions = w.audit_actions();
    assert_eq!(actions.iter().filter(|a| *a == "approved").count(), 1);
    assert_eq!(actions.iter().filter(|a| *a == "activated").count(), 1);
    assert!(
        actions.contains(&"refused".to_string()),
        "the losing click is audited"
    );
}

#[tokio::test]
async fn a_refused_request_stores_no_request_and_is_audited() {
    let w = world();
    let err = w
        .svc
        .command(&stranger(), request_cmd("debug", 15), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not mapped"), "{err}");
    assert!(w.store.list().unwrap().is_empty());
    assert_eq!(w.audit_actions(), ["refused"]);
    assert!(w.store.outbox_all().unwrap().is_empty());
}

#[tokio::test]
async fn a_retried_command_with_the_same_trigger_creates_one_request() {
    let w = world();
    for _ in 0..3 {
        w.svc
            .command(&requester(), request_cmd("debug", 15), Some("trigger-1"))
            .await
            .unwrap();
    }
    assert_eq!(w.store.list().unwrap().len(), 1);
}

#[tokio::test]
async fn transitions_queue_card_and_dm_messages_for_the_requesters_platform() {
    let w = world();
    let id = w.approved("debug", 15).await;
    let kinds: Vec<_> = w
        .store
        .outbox_all()
        .unwrap()
        .into_iter()
        .map(|e| e.item.message)
        .collect();
    assert_eq!(kinds[0], OutboxMessage::PostCard { request_id: id });
    assert!(kinds.contains(&OutboxMessage::UpdateCard { request_id: id }));
    assert!(
        kinds
            .iter()
            .any(|m| matches!(m, OutboxMessage::Notify { .. }))
    );
}

#[tokio::test]
async fn expiry_deletes_bindings_before_marking_expired() {
    let w = world();
    let id = w.approved("debug", 15).await;
    w.clock.advance(Duration::from_secs(15 * 60));
    w.cluster
        .fail_delete(Some(ClusterError::Unavailable("down".into())));
    let report = w.svc.run_due().await.unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(
        w.state(id),
        State::Active,
        "never Expired while bindings may exist"
    );
    w.cluster.fail_delete(None);
    w.svc.run_due().await.unwrap();
    assert_eq!(w.state(id), State::Expired);
    assert!(w.cluster.objects().is_empty());
}

#[tokio::test]
async fn the_expiry_warning_comes_before_the_expiry() {
    let w = world();
    let id = w.approved("debug", 15).await;
    w.clock.advance(Duration::from_secs(10 * 60));
    w.svc.run_due().await.unwrap();
    let req = w.store.get(id).unwrap().unwrap().value;
    assert!(req.warned);
    assert_eq!(req.state, State::Active);
}

#[tokio::test]
async fn a_permanent_cluster_refusal_fails_the_request_and_leaves_nothing() {
    let w = world();
    w.cluster
        .fail_apply(Some(ClusterError::Forbidden("no bind".into())));
    let id = w.approved("debug", 15).await;
    assert_eq!(w.state(id), State::Failed);
    assert!(w.cluster.objects().is_empty());
}

#[tokio::test]
async fn a_transient_cluster_failure_keeps_the_request_approved_until_the_worker_retries() {
    let w = world();
    w.cluster
        .fail_apply(Some(ClusterError::Unavailable("timeout".into())));
    let id = w.approved("debug", 15).await;
    assert_eq!(w.state(id), State::Approved);
    w.cluster.fail_apply(None);
    w.svc.run_due().await.unwrap();
    assert_eq!(w.state(id), State::Active);
}

#[tokio::test]
async fn pending_requests_time_out() {
    let w = world();
    let id = w.submit("change", 30).await;
    w.clock.advance(Duration::from_secs(3600));
    w.svc.run_due().await.unwrap();
    assert_eq!(w.state(id), State::TimedOut);
}

#[tokio::test]
async fn revoke_from_the_shell_ends_access_now() {
    let w = world();
    let id = w.approved("debug", 15).await;
    let cli = crate::domain::identity::Actor::new(Platform::Cli, "root");
    w.svc
        .apply(
            id,
            Event::Revoke {
                by: cli,
                reason: "incident over".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(w.state(id), State::Revoked);
    assert!(w.cluster.objects().is_empty());
}

#[tokio::test]
async fn two_approvers_are_needed_for_change() {
    let w = world();
    let id = w.submit("change", 30).await;
    let r = w
        .svc
        .click(&approver(), id, CardAction::Approve, &card(id))
        .await
        .unwrap();
    assert!(r.text.to_string().contains("1 more"), "{}", r.text);
    assert_eq!(w.state(id), State::Pending);
    w.svc
        .click(&approver2(), id, CardAction::Approve, &card(id))
        .await
        .unwrap();
    assert_eq!(w.state(id), State::Active);
}

#[tokio::test]
async fn a_click_from_anywhere_but_the_posted_card_is_refused_audited_and_changes_nothing() {
    let w = world();
    let id = w.submit("debug", 15).await;
    let elsewhere = [
        CardRef {
            message_id: "1700000000.999".into(),
            ..card(id)
        },
        CardRef {
            channel: "COTHER".into(),
            ..card(id)
        },
        CardRef {
            platform: Platform::Mattermost,
            ..card(id)
        },
    ];
    for origin in elsewhere {
        let err = w
            .svc
            .click(&approver(), id, CardAction::Approve, &origin)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not on the card jitpe posted"),
            "{err}"
        );
    }
    assert_eq!(w.state(id), State::Pending);
    let refused = w
        .audit_actions()
        .iter()
        .filter(|a| *a == "click_refused")
        .count();
    assert_eq!(refused, 3);
    assert!(w.cluster.objects().is_empty());
}

#[tokio::test]
async fn reconcile_deletes_orphans_and_expired_bindings_and_ends_vanished_grants() {
    let w = world();
    let orphan = ManagedObject {
        kind: ObjectKind::RoleBinding,
        namespace: "shop".into(),
        name: "jitpe-99-0".into(),
        request_id: Some(RequestId(99)),
        expires_at: Some(t0()),
    };
    w.cluster.insert(&InstanceId::default(), orphan.clone());
    let id = w.approved("debug", 15).await;
    let dry = w.svc.reconcile(true).await.unwrap();
    assert_eq!(dry.actions.len(), 1);
    assert_eq!(w.cluster.objects().len(), 3, "a dry run changes nothing");
    w.svc.reconcile(false).await.unwrap();
    assert_eq!(w.cluster.objects().len(), 2);
    assert!(w.audit_actions().contains(&"reconcile_deleted".to_string()));
    w.clock.advance(Duration::from_secs(60));
    w.cluster.remove_request(id);
    w.svc.reconcile(false).await.unwrap();
    let req = w.store.get(id).unwrap().unwrap().value;
    assert_eq!(req.state, State::Revoked);
    assert_eq!(
        req.end_reason.as_deref(),
        Some("bindings removed outside jitpe")
    );
}

#[tokio::test]
async fn another_instances_expiry_and_reconcile_leave_this_instances_grant_alone() {
    let cluster = Arc::new(FakeCluster::default());
    let ours = world_on(cluster.clone(), InstanceId::parse("blue").unwrap());
    let theirs = world_on(cluster.clone(), InstanceId::parse("green").unwrap());
    let id = ours.approved("debug", 15).await;
    assert_eq!(
        theirs.approved("debug", 15).await,
        id,
        "both stores start at #1"
    );
    assert_eq!(cluster.objects().len(), 4);
    theirs.clock.advance(Duration::from_secs(15 * 60));
    theirs.svc.run_due().await.unwrap();
    assert_eq!(theirs.state(id), State::Expired);
    theirs.svc.reconcile(false).await.unwrap();
    let left = cluster.objects();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|o| o.name.starts_with("jitpe-blue-")));
    ours.svc.reconcile(false).await.unwrap();
    assert_eq!(ours.state(id), State::Active, "its bindings are all there");
}

#[tokio::test]
async fn only_requesters_and_approvers_see_a_requests_status() {
    let w = world();
    let id = w.submit("debug", 15).await;
    let err = w
        .svc
        .command(&stranger(), Command::Status { id }, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only the requester"), "{err}");
    let ok = w
        .svc
        .command(&approver(), Command::Status { id }, None)
        .await
        .unwrap();
    assert!(ok.text.to_string().contains("PENDING"), "{}", ok.text);
    let list = w
        .svc
        .command(&approver(), Command::List, None)
        .await
        .unwrap();
    assert!(list.text.to_string().contains(&format!("#{id}")));
    let none = w
        .svc
        .command(&approver2(), Command::Cancel { id }, None)
        .await
        .unwrap_err();
    assert!(none.to_string().contains("only the requester"));
}
