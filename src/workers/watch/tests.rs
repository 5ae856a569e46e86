//! The watch worker over the in-memory store, the fake cluster and a manual clock: a matching
//! call revokes (bindings first) with its alert, a failed revocation is retried, ordinary
//! calls revoke nothing, and the use report is written a grace period after the grant ended.

use super::*;
use crate::domain::anomaly::{ApiCall, Observation};
use crate::domain::command::Command;
use crate::domain::fixtures::{POLICY, approver, requester, t0};
use crate::domain::identity::Platform;
use crate::domain::ids::{Namespace, RequestId, RoleName};
use crate::domain::policy::{Policy, RawPolicy};
use crate::domain::request::{Event, State};
use crate::domain::view::CardAction;
use crate::ports::{CardRef, Clock, ClusterError, OutboxMessage, Store};
use crate::service::ChatTargets;
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};

struct Rig {
    svc: Service,
    store: Arc<MemStore>,
    cluster: Arc<FakeCluster>,
    clock: Arc<ManualClock>,
    intake: Intake,
    watch: Watch,
}

fn rig() -> Rig {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let policy = Arc::new(Policy::try_from(raw).unwrap());
    let (store, cluster) = (Arc::new(MemStore::new()), Arc::new(FakeCluster::default()));
    let clock = Arc::new(ManualClock::at(t0()));
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(store.clone(), cluster.clone(), clock.clone(), policy, chat);
    let (intake, rx) = Intake::new(16);
    let watch = Watch::new(svc.clone(), rx, intake.stats().clone());
    Rig {
        svc,
        store,
        cluster,
        clock,
        intake,
        watch,
    }
}

impl Rig {
    /// A `debug` grant of the fixture requester (Kubernetes user `rachel`) in `shop`, active.
    async fn grant(&self) -> RequestId {
        let cmd = Command::Request {
            role: RoleName::parse("debug").unwrap(),
            namespace: Namespace::parse("shop").unwrap(),
            resource: None,
            duration: Some(Duration::from_secs(900)),
            reason: "INC-1 checkout 502s".into(),
        };
        self.svc.command(&requester(), cmd, None).await.unwrap();
        let id = self.store.list().unwrap().last().unwrap().value.id;
        let card = CardRef {
            platform: Platform::Slack,
            channel: "CAPPROVERS".into(),
            message_id: format!("1.{id}"),
        };
        self.store.put_card(id, &card).unwrap();
        self.svc
            .click(&approver(), id, CardAction::Approve, &card)
            .await
            .unwrap();
        assert_eq!(self.state(id), State::Active);
        id
    }

    fn state(&self, id: RequestId) -> State {
        self.store.get(id).unwrap().unwrap().value.state
    }

    /// A call by `user` now, answered `code`.
    fn call(&self, user: &str, verb: &str, resource: &str, code: u16) -> Observation {
        Observation::Call(ApiCall {
            audit_id: "5c1e0d6a-0000".into(),
            at: self.clock.now(),
            user: user.into(),
            impersonated: None,
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: Some("shop".into()),
            name: Some("db".into()),
            code: Some(code),
            resource_version: None,
        })
    }

    async fn pass(&mut self, batch: Vec<Observation>) {
        self.intake.offer(batch).unwrap();
        self.watch.work().await.unwrap();
    }
}

#[tokio::test]
async fn a_secret_read_revokes_the_grant_bindings_first_with_alert_dm_and_audit() {
    let mut r = rig();
    let id = r.grant().await;
    assert!(!r.cluster.objects().is_empty());
    r.clock.advance(Duration::from_secs(5));
    let read = r.call("rachel", "get", "secrets", 403);
    r.pass(vec![read]).await;
    assert_eq!(r.state(id), State::Revoked);
    assert!(r.cluster.objects().is_empty(), "bindings deleted");
    let req = r.store.get(id).unwrap().unwrap().value;
    assert_eq!(req.revoked_by_rule.as_deref(), Some("secrets"));
    let outbox: Vec<OutboxMessage> = r
        .store
        .outbox_all()
        .unwrap()
        .into_iter()
        .map(|e| e.item.message)
        .collect();
    assert!(
        outbox.contains(&OutboxMessage::Alert { request_id: id }),
        "{outbox:?}"
    );
    assert!(
        outbox
            .iter()
            .any(|m| matches!(m, OutboxMessage::Notify { notice, .. }
        if matches!(notice, crate::domain::request::Notice::RevokedByRule { .. })))
    );
    let audit = r.store.audit_from(1, 100).unwrap();
    let revoked = audit.iter().find(|a| a.action == "revoked").unwrap();
    assert_eq!(revoked.details["rule"], "secrets");
    assert!(revoked.details["evidence"].contains("403 get secrets shop/db"));
    assert!(revoked.line().starts_with("ALERT "), "{}", revoked.line());
    assert_eq!(r.intake.stats().evaluated.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn ordinary_calls_and_calls_of_other_users_revoke_nothing() {
    let mut r = rig();
    let id = r.grant().await;
    let batch = vec![
        r.call("rachel", "get", "services", 200),
        r.call("rachel", "list", "endpoints", 200),
        r.call("carol", "get", "secrets", 403),
    ];
    r.pass(batch).await;
    assert_eq!(r.state(id), State::Active);
}

#[tokio::test]
async fn a_revocation_that_fails_is_retried_until_it_succeeds() {
    let mut r = rig();
    let id = r.grant().await;
    r.cluster
        .fail_delete(Some(ClusterError::Unavailable("apiserver down".into())));
    r.pass(vec![r.call("rachel", "get", "secrets", 403)]).await;
    assert_eq!(
        r.state(id),
        State::Active,
        "the record never says revoked before the delete"
    );
    r.cluster.fail_delete(None);
    r.watch.work().await.unwrap();
    assert_eq!(r.state(id), State::Revoked);
    assert!(r.cluster.objects().is_empty());
}

#[tokio::test]
async fn the_use_report_is_written_a_grace_period_after_the_grant_ended() {
    let mut r = rig();
    let id = r.grant().await;
    r.pass(vec![
        r.call("rachel", "get", "services", 200),
        r.call("rachel", "get", "services", 200),
        r.call("rachel", "list", "configmaps", 403),
    ])
    .await;
    let revoke = Event::Revoke {
        by: approver(),
        reason: "done".into(),
    };
    r.svc.apply(id, revoke).await.unwrap();
    r.watch.work().await.unwrap();
    assert_eq!(r.watch.ledger.tracked(), (0, 1));
    // A call made before the end that arrives late still counts.
    r.clock.advance(Duration::from_secs(2));
    let mut late = r.call("rachel", "get", "pods", 200);
    if let Observation::Call(c) = &mut late {
        c.at = r.store.get(id).unwrap().unwrap().value.ended_at.unwrap();
    }
    r.pass(vec![late]).await;
    assert!(
        r.store.get(id).unwrap().unwrap().value.usage.is_none(),
        "waits for late batches"
    );
    r.clock.advance(usage::REPORT_GRACE);
    r.watch.work().await.unwrap();
    let req = r.store.get(id).unwrap().unwrap().value;
    let usage = req.usage.expect("reported");
    assert_eq!((usage.requests, usage.forbidden), (4, 1));
    assert_eq!(usage.by_kind["get services"], 2);
    let audit = r.store.audit_from(1, 100).unwrap();
    let report = audit.iter().find(|a| a.action == "usage_report").unwrap();
    assert!(
        report.details["summary"].starts_with("4 API requests"),
        "{report:?}"
    );
    assert_eq!(r.watch.ledger.tracked(), (0, 0));
}
