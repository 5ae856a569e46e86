//! Filling a store before a benchmark, off the async runtime: history (finished requests) through
//! [`Store::submit`], active grants through [`Store::create`], and extra audit records. Writers
//! run on several threads so the store's group commit shares the flushes.

use jiff::{SignedDuration, Timestamp};
use jitpe::domain::DomainError;
use jitpe::domain::audit::AuditDraft;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::{Namespace, RequestId, RoleName};
use jitpe::domain::lifecycle::{self, NewRequest};
use jitpe::domain::policy::Policy;
use jitpe::domain::request::{AccessRequest, Event};
use jitpe::ports::{NewRecord, Store, Submission, SubmitOutcome};
use std::time::{Duration, Instant};

/// Threads that write at once while filling.
pub const WRITERS: usize = 8;

/// The policy of the bench config (`server::policy_toml`).
pub fn policy() -> Policy {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        policy: jitpe::domain::policy::RawPolicy,
    }
    let w: Wrapper = toml::from_str(&super::server::policy_toml()).expect("policy TOML");
    Policy::try_from(w.policy).expect("valid policy")
}

/// Request `i` as typed by requester `i` (modulo the mapped users), with a reason of its own.
pub fn new_request(i: usize) -> NewRequest {
    NewRequest {
        requester: Actor::new(Platform::Slack, super::server::user(i)),
        role: RoleName::parse("debug").expect("role"),
        namespace: Namespace::parse("shop").expect("namespace"),
        resource: None,
        duration: Some(Duration::from_secs(15 * 60)),
        reason: format!("prefilled history INC-{i}"),
        labels: Default::default(),
    }
}

/// Request `i` as `id` after `lifecycle` took it through approval and activation at `at`, with
/// its expiry at `expires_at` (pending → approved → active, as the service would).
pub fn active(
    policy: &Policy,
    id: RequestId,
    i: usize,
    at: Timestamp,
    expires_at: Timestamp,
) -> Result<AccessRequest, DomainError> {
    let pending = lifecycle::submit(id, new_request(i), policy, at, 0)?.request;
    let approver = Actor::new(Platform::Slack, "UAPP1");
    let approved = lifecycle::decide(&pending, &Event::Approve { by: approver }, policy, at)?;
    let activated = Event::Activated { expires_at };
    Ok(lifecycle::decide(&approved.request, &activated, policy, at)?.request)
}

/// Request `i` as `id`, a day old and long expired: what most of a store's history looks like.
fn ended(policy: &Policy, id: RequestId, i: usize) -> Result<NewRecord, DomainError> {
    let at = Timestamp::now() - SignedDuration::from_hours(24);
    let expires_at = at + SignedDuration::from_mins(15);
    let active = active(policy, id, i, at, expires_at)?;
    let t = lifecycle::decide(&active, &Event::Expire, policy, expires_at)?;
    let audit = lifecycle::submit(id, new_request(i), policy, at, 0)?.audit;
    Ok(NewRecord {
        request: t.request,
        audit,
        outbox: Vec::new(),
    })
}

/// Runs `write(i)` for every `i` in `0..n` on [`WRITERS`] threads; returns the time taken.
fn on_writers(n: usize, write: impl Fn(usize) + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let write = &write;
            s.spawn(move || (w..n).step_by(WRITERS).for_each(write));
        }
    });
    started.elapsed()
}

/// Stores `n` finished requests through [`Store::submit`] (ids allocated by the store, so later
/// requests continue after them); returns the time taken.
pub fn history(store: &dyn Store, policy: &Policy, n: usize) -> Duration {
    on_writers(n, |i| {
        let submission = Submission {
            dedupe: None,
            forget_before: Timestamp::UNIX_EPOCH,
            tally: "",
            at: Timestamp::now(),
        };
        let outcome = store
            .submit(&submission, &|id, _| ended(policy, id, i))
            .expect("prefill submit");
        assert!(matches!(outcome, SubmitOutcome::Stored { .. }), "stored");
    })
}

/// Appends `n` audit records that belong to no request (as refusals do); returns the time taken.
pub fn audit(store: &dyn Store, n: usize) -> Duration {
    on_writers(n, |i| {
        let draft = AuditDraft::new(
            Actor::new(Platform::Slack, super::server::user(i)),
            "refused",
            None,
        )
        .with("command", "request")
        .with("reason", format!("prefilled audit record {i}"));
        store
            .append_audit(draft, Timestamp::now())
            .expect("prefill audit");
    })
}

/// Stores `n` Active grants built by `grant(i)` through [`Store::create`]; returns the time taken.
pub fn grants(
    store: &dyn Store,
    n: usize,
    grant: impl Fn(usize) -> AccessRequest + Sync,
) -> Duration {
    on_writers(n, |i| {
        let req = grant(i);
        let audit = AuditDraft::new(Actor::system(), "activated", Some(req.id));
        store
            .create(&req, audit, Timestamp::now(), &[])
            .expect("prefill grant");
    })
}
