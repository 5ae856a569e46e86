//! Refusals the service audits are capped: a person jitpe knows (or a stranger whose command
//! passed the chat checks) repeating a refused command cannot grow the audit log without bound.

use super::*;
use crate::domain::command::Command;
use crate::domain::fixtures::{POLICY, t0};
use crate::domain::identity::Actor;
use crate::domain::ids::{Namespace, RoleName};
use crate::domain::policy::RawPolicy;
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};
use std::time::Duration;

fn refused_request() -> Command {
    Command::Request {
        role: RoleName::parse("debug").unwrap(),
        namespace: Namespace::parse("shop").unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(900)),
        reason: "INC-1".into(),
    }
}

#[tokio::test]
async fn a_flood_of_one_refused_command_is_audited_ten_times_a_minute_then_counted() {
    let raw: RawPolicy = toml::from_str(POLICY).unwrap();
    let store = Arc::new(MemStore::new());
    let clock = Arc::new(ManualClock::at(t0()));
    let svc = Service::new(
        store.clone(),
        Arc::new(FakeCluster::default()),
        clock.clone(),
        Arc::new(Policy::try_from(raw).unwrap()),
        ChatTargets::default(),
    );
    let stranger = Actor::new(Platform::Slack, "U0NOBODY");
    for _ in 0..25 {
        svc.command(&stranger, refused_request(), None)
            .await
            .unwrap_err();
    }
    let audited = |s: &MemStore| s.audit_from(1, 1000).unwrap();
    assert_eq!(audited(&store).len(), limit::PER_KIND_PER_WINDOW as usize);
    clock.advance(Duration::from_secs(limit::WINDOW_SECS as u64));
    svc.command(&stranger, refused_request(), None)
        .await
        .unwrap_err();
    let all = audited(&store);
    let last = all.last().unwrap();
    assert_eq!(last.action, "refused");
    assert_eq!(
        last.details.get("not_audited_before").map(String::as_str),
        Some("15")
    );
}
