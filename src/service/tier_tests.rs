//! A risk tier through the service, as chat drives it: a prod request is refused a duration the
//! role alone allows, its card shows the tier, and it needs two clicks to become active.

use super::*;
use crate::domain::command::Command;
use crate::domain::fixtures::{approver, approver2, policy_of, requester, t0, tiered_text};
use crate::domain::ids::{Namespace, RoleName};
use crate::domain::request::State;
use crate::domain::view::{CardAction, RequestView};
use crate::ports::CardRef;
use crate::store::memory::MemStore;
use crate::testing::{FakeCluster, ManualClock};
use std::time::Duration;

/// The fixture policy (with a fourth approver, so every role can collect one more approval, and
/// `auto` approved by the group) and tier `prod` on `payments`.
fn tiered() -> Policy {
    policy_of(&tiered_text(
        "[tiers.prod]\nnamespaces = [\"payments\"]\nextra_approvals = 1\nmax_duration = \"30m\"\n\
         description = \"production\"\n",
    ))
}

fn request(minutes: u64) -> Command {
    Command::Request {
        role: RoleName::parse("debug").unwrap(),
        namespace: Namespace::parse("payments").unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(minutes * 60)),
        reason: "INC-1 checkout 502s".into(),
    }
}

fn card(id: crate::domain::ids::RequestId) -> CardRef {
    CardRef {
        platform: Platform::Slack,
        channel: "CAPPROVERS".into(),
        message_id: format!("1700000000.{id}"),
    }
}

#[tokio::test]
async fn a_prod_request_shows_its_tier_on_the_card_and_needs_two_clicks() {
    let store = Arc::new(MemStore::new());
    let chat = ChatTargets {
        approvers_channels: [(Platform::Slack, "CAPPROVERS".to_string())].into(),
    };
    let svc = Service::new(
        store.clone(),
        Arc::new(FakeCluster::default()),
        Arc::new(ManualClock::at(t0())),
        Arc::new(tiered()),
        chat,
    );
    let refused = svc.command(&requester(), request(45), None).await;
    let text = refused.unwrap_err().to_string();
    assert!(
        text.contains("tier `prod`") && text.contains("30m"),
        "{text}"
    );
    assert!(
        store.list().unwrap().is_empty(),
        "a refused request stores nothing"
    );

    svc.command(&requester(), request(15), None).await.unwrap();
    let id = store.list().unwrap().last().unwrap().value.id;
    store.put_card(id, &card(id)).unwrap();
    let stored = || store.get(id).unwrap().unwrap();
    let view = RequestView::of(&stored().value, stored().version);
    let status = view.card_status().to_string();
    assert!(
        status.contains("Tier: prod (production) — 2 approvals, max 30m"),
        "{status}"
    );
    assert!(status.starts_with("PENDING, 0 of 2 approvals"), "{status}");

    svc.click(&approver(), id, CardAction::Approve, &card(id))
        .await
        .unwrap();
    assert_eq!(
        stored().value.state,
        State::Pending,
        "one click is not enough"
    );
    svc.click(&approver2(), id, CardAction::Approve, &card(id))
        .await
        .unwrap();
    assert_eq!(stored().value.state, State::Active);
}
