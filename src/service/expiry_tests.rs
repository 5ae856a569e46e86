//! Expiry at volume: more grants due at once than one pass reads, ended by passes that overlap,
//! each grant exactly once.

use super::*;
use crate::domain::command::Command;
use crate::domain::fixtures::{POLICY, approver, requester, t0};
use crate::domain::ids::{Namespace, RequestId, RoleName};
use crate::domain::policy::RawPolicy;
use crate::domain::request::State;
use crate::domain::view::CardAction;
use crate::ports::CardRef;
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};
use std::collections::BTreeMap;
use std::time::Duration;

/// More than one pass reads (`DUE_BATCH`).
const GRANTS: u64 = timers::DUE_BATCH as u64 + 176;

fn card(id: RequestId) -> CardRef {
    CardRef {
        platform: Platform::Slack,
        channel: "CAPPROVERS".into(),
        message_id: format!("1700000000.{id}"),
    }
}

/// A service with `GRANTS` active 15-minute grants, all granted at the same moment.
async fn active_grants() -> (Service, Arc<MemStore>, Arc<FakeCluster>, Arc<ManualClock>) {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let store = Arc::new(MemStore::new());
    let cluster = Arc::new(FakeCluster::default());
    let clock = Arc::new(ManualClock::at(t0()));
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let policy = Arc::new(Policy::try_from(raw).unwrap());
    let svc = Service::new(store.clone(), cluster.clone(), clock.clone(), policy, chat)
        .with_max_in_flight(8);
    for n in 0..GRANTS {
        let cmd = Command::Request {
            role: RoleName::parse("debug").unwrap(),
            namespace: Namespace::parse("shop").unwrap(),
            resource: None,
            duration: Some(Duration::from_secs(15 * 60)),
            reason: format!("INC-{n} checkout 502s"),
        };
        svc.command(&requester(), cmd, None).await.unwrap();
        let id = RequestId(n + 1);
        store.put_card(id, &card(id)).unwrap();
        svc.click(&approver(), id, CardAction::Approve, &card(id))
            .await
            .unwrap();
    }
    (svc, store, cluster, clock)
}

#[tokio::test]
async fn overlapping_expiry_passes_end_every_grant_exactly_once() {
    let (svc, store, cluster, clock) = active_grants().await;
    assert_eq!(
        cluster.objects().len() as u64,
        2 * GRANTS,
        "two bindings each"
    );
    clock.advance(Duration::from_secs(16 * 60));
    let mut passes = 0;
    loop {
        let (a, b) = tokio::join!(svc.run_due(), svc.run_due());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.failed + b.failed, 0);
        passes += 1;
        if a.handled + b.handled == 0 {
            break;
        }
        assert!(passes < 10, "expiry does not converge");
    }
    let open = store.list_open().unwrap();
    assert!(open.is_empty(), "{} still open", open.len());
    for r in store.list().unwrap() {
        assert_eq!(r.value.state, State::Expired, "request #{}", r.value.id);
    }
    assert!(cluster.objects().is_empty(), "every binding deleted");
    let mut expired: BTreeMap<RequestId, usize> = BTreeMap::new();
    for rec in store.audit_from(1, usize::MAX).unwrap() {
        if rec.action == "expired" {
            *expired.entry(rec.request_id.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(expired.len() as u64, GRANTS, "every grant ended");
    assert!(expired.values().all(|&n| n == 1), "each exactly once");
    // Counted once each too, and each a minute late (the clock moved 16 minutes on 15).
    let text = svc.metrics().render();
    for sample in [
        format!("jitpe_lifecycle_total{{step=\"activated\"}} {GRANTS}"),
        format!("jitpe_lifecycle_total{{step=\"expired\"}} {GRANTS}"),
        format!("jitpe_expiry_lateness_seconds_count {GRANTS}"),
        format!("jitpe_expiry_lateness_seconds_sum {}.0", 60 * GRANTS),
        r#"jitpe_expiry_lateness_seconds_bucket{le="30.0"} 0"#.to_string(),
    ] {
        assert!(text.lines().any(|l| l == sample), "{sample} not in\n{text}");
    }
}
