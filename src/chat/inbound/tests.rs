//! The pipeline over a store in memory and clusters that hang or wait for the test.

use super::*;
use crate::domain::fixtures::{POLICY, approver, requester, t0};
use crate::domain::grant::PlannedBinding;
use crate::domain::identity::Platform;
use crate::domain::ids::InstanceId;
use crate::domain::policy::Policy;
use crate::domain::policy_config::RawPolicy;
use crate::domain::request::State;
use crate::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef};
use crate::service::ChatTargets;
use crate::store::memory::MemStore;
use crate::testing::ManualClock;

/// A cluster whose API never answers.
struct Hanging;

#[async_trait::async_trait]
impl Cluster for Hanging {
    async fn apply(&self, _: &[PlannedBinding]) -> Result<(), ClusterError> {
        std::future::pending().await
    }
    async fn delete_objects(&self, _: &[ObjectRef]) -> Result<usize, ClusterError> {
        std::future::pending().await
    }
    async fn list_managed(
        &self,
        _: &InstanceId,
        _: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        std::future::pending().await
    }
    async fn exists(&self, _: &ClusterObject) -> Result<bool, ClusterError> {
        std::future::pending().await
    }
}

/// A cluster whose `apply` waits until the test opens the gate.
struct Gated {
    gate: Semaphore,
}

impl Default for Gated {
    fn default() -> Self {
        Self {
            gate: Semaphore::new(0),
        }
    }
}

#[async_trait::async_trait]
impl Cluster for Gated {
    async fn apply(&self, _: &[PlannedBinding]) -> Result<(), ClusterError> {
        let _open = self.gate.acquire().await;
        Ok(())
    }
    async fn delete_objects(&self, _: &[ObjectRef]) -> Result<usize, ClusterError> {
        Ok(0)
    }
    async fn list_managed(
        &self,
        _: &InstanceId,
        _: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        Ok(Vec::new())
    }
    async fn exists(&self, _: &ClusterObject) -> Result<bool, ClusterError> {
        Ok(true)
    }
}

fn inbound() -> Inbound {
    inbound_over(Arc::new(Hanging))
}

fn inbound_over(cluster: Arc<dyn Cluster>) -> Inbound {
    let raw: RawPolicy = toml::from_str(POLICY).expect("fixture policy");
    let policy = Arc::new(Policy::try_from(raw).expect("valid fixture policy"));
    let clock = Arc::new(ManualClock::at(t0()));
    let store = Arc::new(MemStore::new());
    let service = Service::new(store, cluster, clock, policy, ChatTargets::default());
    Inbound::new(service, Arc::new(Metrics::default()))
}

fn card(id: RequestId) -> CardRef {
    CardRef {
        platform: Platform::Slack,
        channel: "CAPPROVERS".into(),
        message_id: format!("1.{id}"),
    }
}

/// A shorter deadline than Slack's, so the test takes a fraction of a second.
const DEADLINE: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_click_that_outlasts_the_deadline_is_answered_in_time_and_still_finishes_its_work() {
    let inbound = inbound().with_ack_deadline(DEADLINE);
    let reply = inbound
        .command("/t", requester(), "request debug shop 15m INC-1 x", None)
        .await
        .to_string();
    assert!(reply.starts_with("Request #1"), "{reply}");
    let id = RequestId(1);
    inbound.service.store().put_card(id, &card(id)).unwrap();
    let started = tokio::time::Instant::now();
    let answer = inbound
        .click("/t", approver(), id, CardAction::Approve, card(id))
        .await
        .to_string();
    assert_eq!(
        answer,
        "Working on #1; the card will update when it is done."
    );
    let waited = started.elapsed();
    assert!(waited >= DEADLINE && waited < ACK_DEADLINE, "{waited:?}");
    // The approval was committed before the cluster call that hangs.
    assert_eq!(
        inbound.service.get(id).await.unwrap().state,
        State::Approved
    );
}

#[tokio::test]
async fn the_same_invocation_delivered_twice_is_one_request() {
    let inbound = inbound();
    let mut replies = Vec::new();
    for _ in 0..2 {
        let key = Some("trigger-1".to_string());
        let text = "request debug shop 15m INC-1 x";
        replies.push(
            inbound
                .command("/t", requester(), text, key)
                .await
                .to_string(),
        );
    }
    assert!(replies[0].starts_with("Request #1"), "{}", replies[0]);
    assert!(replies[1].contains("already received"), "{}", replies[1]);
    let fresh = inbound
        .command("/t", requester(), "request debug shop 15m INC-1 x", None)
        .await
        .to_string();
    assert!(fresh.starts_with("Request #2"), "{fresh}");
}

#[tokio::test]
async fn when_every_place_is_taken_a_command_is_shed_at_once_and_can_be_retried() {
    let cluster = Arc::new(Gated::default());
    let inbound = inbound_over(cluster.clone())
        .with_max_in_flight(1)
        .with_ack_deadline(DEADLINE);
    let text = "request debug shop 15m INC-1 x";
    let first = inbound
        .command("/t", requester(), text, None)
        .await
        .to_string();
    assert!(first.starts_with("Request #1"), "{first}");
    let id = RequestId(1);
    inbound.service.store().put_card(id, &card(id)).unwrap();
    // The approval's activation waits on the cluster and keeps the only place.
    let click = inbound.click("/t", approver(), id, CardAction::Approve, card(id));
    assert!(click.await.to_string().starts_with("Working on #1"));
    let started = std::time::Instant::now();
    let shed = inbound
        .command("/t", requester(), text, None)
        .await
        .to_string();
    assert_eq!(shed, BUSY);
    assert!(started.elapsed() < DEADLINE, "shed without waiting");
    assert_eq!(
        inbound.service.store().list().unwrap().len(),
        1,
        "nothing stored"
    );
    let shed_click = inbound.click("/t", approver(), id, CardAction::Deny, card(id));
    assert_eq!(shed_click.await.to_string(), BUSY);
    // Once the cluster answers, the place is free and the same command goes through.
    cluster.gate.add_permits(1);
    let mut retried = String::new();
    for _ in 0..100 {
        retried = inbound
            .command("/t", requester(), text, None)
            .await
            .to_string();
        if retried != BUSY {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(retried.starts_with("Request #2"), "{retried}");
    assert_eq!(inbound.service.get(id).await.unwrap().state, State::Active);
}
