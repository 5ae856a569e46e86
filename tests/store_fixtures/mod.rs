//! Fixtures shared by `store_contract.rs` and `sled_store.rs`: request builders, fixed times and
//! store harnesses that keep their temporary directory alive.

#![allow(dead_code)] // each test crate uses a different subset

use jiff::Timestamp;
use jitpe::domain::audit::AuditDraft;
use jitpe::domain::identity::{Actor, KubeSubject, Platform};
use jitpe::domain::ids::{Namespace, RequestId, RoleName};
use jitpe::domain::request::{AccessRequest, State};
use jitpe::ports::{OutboxItem, OutboxMessage, Store};
use jitpe::store::memory::MemStore;
use jitpe::store::sled::SledStore;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// Runs each named contract function once per adapter, as `mem::<name>` and `sled::<name>`.
/// Needs `#[macro_use] mod store_fixtures;`.
#[allow(unused_macros)] // not every test crate that uses the fixtures runs a suite
macro_rules! contract_suite {
    ($($test:ident),+ $(,)?) => {
        mod mem {
            $(#[test] fn $test() { let h = super::store_fixtures::mem(); super::$test(&h.store); })+
        }
        mod sled {
            $(#[test] fn $test() { let h = super::store_fixtures::sled(); super::$test(&h.store); })+
        }
    };
}

/// A store under test, with the directory that must outlive it.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub dir: Option<TempDir>,
}

/// An empty in-memory store.
pub fn mem() -> Harness {
    Harness {
        store: Arc::new(MemStore::new()),
        dir: None,
    }
}

/// An empty sled store in a fresh temporary directory.
pub fn sled() -> Harness {
    let dir = TempDir::new().expect("a temporary directory can be created");
    let store = SledStore::open(dir.path()).expect("a fresh directory opens");
    Harness {
        store: Arc::new(store),
        dir: Some(dir),
    }
}

/// A fixed instant, `secs` after an arbitrary epoch in 2023.
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).expect("fixture times are in range")
}

/// A pending request whose approval round ends at `ts(pending_until)`.
pub fn pending(id: u64, pending_until: i64) -> AccessRequest {
    AccessRequest {
        id: RequestId(id),
        requester: Actor::new(Platform::Slack, "U1"),
        subject: KubeSubject {
            user: "alice".into(),
            groups: vec!["dev".into()],
        },
        role: RoleName::parse("debug").expect("valid role"),
        namespace: Namespace::parse("shop").expect("valid namespace"),
        resource: None,
        duration: Duration::from_secs(900),
        reason: "502s on /checkout INC-4411".into(),
        created_at: ts(0),
        state: State::Pending,
        approvals: vec![],
        approvals_needed: 1,
        auto_approved: false,
        pending_until: ts(pending_until),
        approved_at: None,
        activated_at: None,
        expires_at: None,
        warn_at: None,
        warned: false,
        extension: None,
        ended_at: None,
        ended_by: None,
        end_reason: None,
        revoked_by_rule: None,
        usage: None,
        labels: Default::default(),
        tiers: Vec::new(),
        max_duration: None,
    }
}

/// `req` made active until `ts(expires_at)`.
pub fn activated(mut req: AccessRequest, expires_at: i64) -> AccessRequest {
    req.state = State::Active;
    req.approved_at = Some(ts(1));
    req.activated_at = Some(ts(2));
    req.expires_at = Some(ts(expires_at));
    req
}

/// `req` in the final state `state`.
pub fn ended(mut req: AccessRequest, state: State) -> AccessRequest {
    req.state = state;
    req.ended_at = Some(ts(5));
    req.ended_by = Some(Actor::system());
    req
}

/// An audit draft about request `id`.
pub fn draft(action: &str, id: u64) -> AuditDraft {
    AuditDraft::new(
        Actor::new(Platform::Slack, "U1"),
        action,
        Some(RequestId(id)),
    )
    .with("role", "debug")
}

/// An outbox item that posts the card of request `id`.
pub fn post_card(id: u64) -> OutboxItem {
    OutboxItem {
        platform: Platform::Slack,
        message: OutboxMessage::PostCard {
            request_id: RequestId(id),
        },
    }
}

/// Creates pending request `id` (deadline `ts(pending_until)`) with one audit record and one
/// outbox item, as the service does.
pub fn create(store: &dyn Store, id: u64, pending_until: i64) -> AccessRequest {
    let req = pending(id, pending_until);
    store
        .create(&req, draft("requested", id), ts(0), &[post_card(id)])
        .expect("create succeeds");
    req
}
