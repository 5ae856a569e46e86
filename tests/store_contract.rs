//! The one contract suite of the `Store` port, run against every adapter (`MemStore` and
//! `SledStore` in a temporary directory), in the manner of garage's `src/db/test.rs`.
//! Restart, locking and tampering checks that only make sense on disk are in `sled_store.rs`.

#[macro_use]
mod store_fixtures;

use jitpe::domain::audit::verify;
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::ports::{CardRef, Store, StoreError};
use std::sync::{Arc, Barrier};
use store_fixtures::{activated, create, draft, ended, pending, post_card, ts};

contract_suite!(
    ids_are_sequential_from_one_and_never_reused,
    a_created_request_reads_back_at_version_one_and_is_listed_by_id,
    creating_a_taken_id_fails_and_writes_nothing,
    an_update_bumps_the_version_and_chains_an_audit_record_with_its_outbox_items,
    an_update_with_a_stale_version_conflicts_and_changes_nothing,
    an_update_of_a_missing_request_is_refused,
    racing_updates_of_one_version_let_exactly_one_win,
    due_lists_deadlines_up_to_now_earliest_first_within_the_limit,
    the_deadline_entry_moves_when_the_request_is_updated,
    a_final_request_leaves_the_deadline_index,
    list_open_holds_exactly_the_requests_that_are_not_final,
    the_audit_chain_verifies_after_many_writes,
    concurrent_writers_still_produce_one_gapless_chain,
    append_audit_chains_after_transition_records,
    audit_from_pages_through_the_log_in_order,
    the_outbox_is_fifo_and_new_items_are_due_at_once,
    outbox_retry_postpones_an_entry_and_counts_the_attempt,
    outbox_done_removes_only_that_entry,
    outbox_from_pages_in_fifo_order,
    cards_are_kept_one_per_platform_and_per_request,
    seen_once_is_true_from_the_second_call_until_the_key_is_forgotten,
    cursors_start_at_zero_and_keep_the_last_value,
);

type S = Arc<dyn Store>;

/// Everything a failed write must leave untouched.
fn snapshot(s: &S) -> impl PartialEq + std::fmt::Debug {
    (
        s.list().expect("list"),
        s.audit_from(1, usize::MAX).expect("audit"),
        s.audit_head().expect("head"),
        s.outbox_all().expect("outbox"),
        s.next_deadline().expect("next deadline"),
    )
}

fn ids_are_sequential_from_one_and_never_reused(s: &S) {
    let ids: Vec<_> = (0..3).map(|_| s.next_id().expect("next id")).collect();
    assert_eq!(ids, [RequestId(1), RequestId(2), RequestId(3)]);
    // An id allocated but never created is still not handed out again.
    create(&**s, 2, 60);
    assert_eq!(s.next_id().expect("next id"), RequestId(4));
    // An id stored directly (import, tests) pushes the counter past it.
    create(&**s, 10, 60);
    assert_eq!(s.next_id().expect("next id"), RequestId(11));
}

fn a_created_request_reads_back_at_version_one_and_is_listed_by_id(s: &S) {
    let b = create(&**s, 2, 60);
    let a = create(&**s, 1, 60);
    let got = s.get(RequestId(2)).expect("get").expect("request 2 exists");
    assert_eq!((got.version, &got.value), (1, &b));
    assert_eq!(s.get(RequestId(3)).expect("get"), None);
    let listed: Vec<_> = s
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.value)
        .collect();
    assert_eq!(listed, [a, b]);
}

fn creating_a_taken_id_fails_and_writes_nothing(s: &S) {
    create(&**s, 1, 60);
    let before = snapshot(s);
    let again = pending(1, 999);
    let err = s
        .create(&again, draft("requested", 1), ts(1), &[post_card(1)])
        .expect_err("the id is taken");
    assert!(matches!(err, StoreError::Exists(RequestId(1))), "{err}");
    assert_eq!(snapshot(s), before);
}

fn an_update_bumps_the_version_and_chains_an_audit_record_with_its_outbox_items(s: &S) {
    let req = create(&**s, 1, 60);
    let active = activated(req, 900);
    let c = s
        .update(
            1,
            &active,
            draft("activated", 1),
            ts(2),
            &[post_card(1), post_card(1)],
        )
        .expect("update at the current version");
    assert_eq!(c.version, 2);
    assert_eq!((c.audit.seq, c.audit.action.as_str()), (2, "activated"));
    let got = s.get(RequestId(1)).expect("get").expect("exists");
    assert_eq!((got.version, got.value), (2, active));
    assert_eq!(s.audit_head().expect("head"), Some((2, c.audit.hash)));
    assert_eq!(s.outbox_all().expect("outbox").len(), 3);
}

fn an_update_with_a_stale_version_conflicts_and_changes_nothing(s: &S) {
    let req = create(&**s, 1, 60);
    s.update(1, &req, draft("approved", 1), ts(1), &[])
        .expect("first update");
    let before = snapshot(s);
    let stale = activated(req, 900);
    let err = s
        .update(1, &stale, draft("activated", 1), ts(2), &[post_card(1)])
        .expect_err("version 1 is stale");
    assert!(matches!(err, StoreError::Conflict(RequestId(1))), "{err}");
    assert_eq!(snapshot(s), before);
}

fn an_update_of_a_missing_request_is_refused(s: &S) {
    let before = snapshot(s);
    let err = s
        .update(
            1,
            &pending(7, 60),
            draft("approved", 7),
            ts(1),
            &[post_card(7)],
        )
        .expect_err("request 7 does not exist");
    assert!(matches!(err, StoreError::Missing(RequestId(7))), "{err}");
    assert_eq!(snapshot(s), before);
}

fn racing_updates_of_one_version_let_exactly_one_win(s: &S) {
    let req = create(&**s, 1, 60);
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|n| {
            let (s, barrier, mut req) = (s.clone(), barrier.clone(), req.clone());
            std::thread::spawn(move || {
                req.reason = format!("racer {n}");
                barrier.wait();
                s.update(1, &req, draft("approved", 1), ts(1), &[post_card(1)])
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("racer thread does not panic"))
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict(_))))
    );
    assert_eq!(s.audit_head().expect("head").map(|h| h.0), Some(2));
    assert_eq!(s.outbox_all().expect("outbox").len(), 2);
    assert_eq!(
        s.get(RequestId(1)).expect("get").expect("exists").version,
        2
    );
}

fn due_lists_deadlines_up_to_now_earliest_first_within_the_limit(s: &S) {
    assert_eq!(s.next_deadline().expect("next"), None);
    assert_eq!(s.due(ts(1_000), 10).expect("due"), []);
    create(&**s, 1, 300);
    create(&**s, 2, 100);
    create(&**s, 3, 200);
    create(&**s, 4, 200);
    assert_eq!(s.next_deadline().expect("next"), Some(ts(100)));
    assert_eq!(s.due(ts(99), 10).expect("due"), []);
    let ids = |v: &[u64]| v.iter().map(|n| RequestId(*n)).collect::<Vec<_>>();
    assert_eq!(s.due(ts(100), 10).expect("due"), ids(&[2]));
    assert_eq!(s.due(ts(200), 10).expect("due"), ids(&[2, 3, 4]));
    assert_eq!(s.due(ts(1_000), 2).expect("due"), ids(&[2, 3]));
    assert_eq!(s.due(ts(1_000), 10).expect("due"), ids(&[2, 3, 4, 1]));
}

fn the_deadline_entry_moves_when_the_request_is_updated(s: &S) {
    let req = create(&**s, 1, 100);
    create(&**s, 2, 500);
    s.update(1, &activated(req, 900), draft("activated", 1), ts(2), &[])
        .expect("update");
    assert_eq!(s.next_deadline().expect("next"), Some(ts(500)));
    assert_eq!(s.due(ts(600), 10).expect("due"), [RequestId(2)]);
    assert_eq!(
        s.due(ts(900), 10).expect("due"),
        [RequestId(2), RequestId(1)]
    );
}

fn a_final_request_leaves_the_deadline_index(s: &S) {
    let req = create(&**s, 1, 100);
    let active = activated(req, 900);
    s.update(1, &active, draft("activated", 1), ts(2), &[])
        .expect("activate");
    let expired = ended(active, State::Expired);
    assert_eq!(expired.next_deadline(), None);
    s.update(2, &expired, draft("expired", 1), ts(900), &[])
        .expect("expire");
    assert_eq!(s.next_deadline().expect("next"), None);
    assert_eq!(s.due(ts(10_000), 10).expect("due"), []);
}

fn list_open_holds_exactly_the_requests_that_are_not_final(s: &S) {
    for id in 1..=3 {
        create(&**s, id, 100 * id as i64);
    }
    let two = s.get(RequestId(2)).expect("get").expect("exists").value;
    let active = activated(two, 900);
    s.update(1, &active, draft("activated", 2), ts(2), &[])
        .expect("activate");
    let one = s.get(RequestId(1)).expect("get").expect("exists").value;
    s.update(
        1,
        &ended(one, State::Denied),
        draft("denied", 1),
        ts(3),
        &[],
    )
    .expect("deny");
    let open: Vec<(RequestId, State, u64)> = s
        .list_open()
        .expect("list_open")
        .into_iter()
        .map(|r| (r.value.id, r.value.state, r.version))
        .collect();
    assert_eq!(
        open,
        [
            (RequestId(2), State::Active, 2),
            (RequestId(3), State::Pending, 1)
        ]
    );
    assert_eq!(
        s.list().expect("list").len(),
        3,
        "list still holds finished ones"
    );
}

fn the_audit_chain_verifies_after_many_writes(s: &S) {
    for id in 1..=20 {
        let req = create(&**s, id, 100 + id as i64);
        s.update(1, &activated(req, 900), draft("activated", id), ts(2), &[])
            .expect("activate");
        s.append_audit(draft("card_posted", id), ts(3))
            .expect("append");
    }
    let records = s.audit_from(1, usize::MAX).expect("audit");
    let head = s.audit_head().expect("head").expect("a head after writes");
    assert_eq!(verify(&records, Some((head.0, &head.1))), Ok(60));
}

fn concurrent_writers_still_produce_one_gapless_chain(s: &S) {
    let writers: Vec<_> = (1..=4u64)
        .map(|id| {
            let s = s.clone();
            std::thread::spawn(move || {
                create(&*s, id, 60);
                for _ in 0..10 {
                    s.append_audit(draft("refused", id), ts(1)).expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread does not panic");
    }
    let records = s.audit_from(1, usize::MAX).expect("audit");
    let head = s.audit_head().expect("head").expect("a head after writes");
    assert_eq!(verify(&records, Some((head.0, &head.1))), Ok(44));
    assert_eq!(s.outbox_all().expect("outbox").len(), 4);
}

fn append_audit_chains_after_transition_records(s: &S) {
    assert_eq!(s.audit_head().expect("head"), None);
    let first = s
        .append_audit(draft("auth_failed", 0), ts(1))
        .expect("append");
    assert_eq!(first.seq, 1);
    create(&**s, 1, 60);
    let third = s.append_audit(draft("refused", 0), ts(2)).expect("append");
    let created = s.audit_from(2, 1).expect("audit").remove(0);
    assert_eq!((third.seq, &third.prev_hash), (3, &created.hash));
    assert_eq!(s.audit_head().expect("head"), Some((3, third.hash)));
}

fn audit_from_pages_through_the_log_in_order(s: &S) {
    for n in 0..7 {
        s.append_audit(draft("refused", n), ts(n as i64))
            .expect("append");
    }
    let seqs = |from, limit| -> Vec<u64> {
        let page = s.audit_from(from, limit).expect("audit");
        page.iter().map(|r| r.seq).collect()
    };
    assert_eq!(seqs(1, 3), [1, 2, 3]);
    assert_eq!(seqs(4, 3), [4, 5, 6]);
    assert_eq!(seqs(7, 3), [7]);
    assert_eq!(seqs(8, 3), Vec::<u64>::new());
    let page = |from, limit| {
        let p = s.audit_page(from, limit).expect("audit page");
        let seqs: Vec<u64> = p.records.iter().map(|r| r.seq).collect();
        (seqs, p.next)
    };
    assert_eq!(page(1, 3), (vec![1, 2, 3], Some(4)));
    assert_eq!(page(4, 3), (vec![4, 5, 6], Some(7)));
    assert_eq!(page(7, 3), (vec![7], None));
    assert_eq!(page(5, 3), (vec![5, 6, 7], None));
    assert_eq!(page(8, 3), (vec![], None));
    let range = |from, to| {
        let p = s.audit_range(from, to).expect("audit range");
        let seqs: Vec<u64> = p.records.iter().map(|r| r.seq).collect();
        (seqs, p.next)
    };
    assert_eq!(range(1, 4), (vec![1, 2, 3], Some(4)));
    assert_eq!(range(5, 8), (vec![5, 6, 7], None));
    assert_eq!(range(8, 20), (vec![], None));
    assert_eq!(range(4, 4), (vec![], Some(4)));
}

/// The entries due at `now`, as the outbox worker picks them from `outbox_all`.
fn due_at(s: &S, now: i64) -> Vec<jitpe::ports::OutboxEntry> {
    let all = s.outbox_all().expect("outbox");
    all.into_iter()
        .filter(|e| e.not_before <= ts(now))
        .collect()
}

fn the_outbox_is_fifo_and_new_items_are_due_at_once(s: &S) {
    for id in [3, 1, 2] {
        create(&**s, id, 60);
    }
    let due = due_at(s, 0);
    let order: Vec<_> = due.iter().map(|e| e.item.clone()).collect();
    assert_eq!(order, [post_card(3), post_card(1), post_card(2)]);
    assert!(due.windows(2).all(|w| w[0].key < w[1].key));
    assert!(
        due.iter()
            .all(|e| e.attempts == 0 && e.last_error.is_none())
    );
    assert_eq!(due, s.outbox_all().expect("outbox"), "all of them, at once");
    assert_eq!(due_at(s, -1), [], "not before the commit that queued them");
}

fn outbox_retry_postpones_an_entry_and_counts_the_attempt(s: &S) {
    create(&**s, 1, 60);
    create(&**s, 2, 60);
    let mut retried = s.outbox_all().expect("outbox")[0].clone();
    retried.not_before = ts(30);
    retried.attempts = 1;
    retried.unanswered = 1;
    retried.failing_since = Some(ts(0));
    retried.last_error = Some("slack timed out".into());
    s.outbox_retry(&retried).expect("retry");
    let due_now = due_at(s, 29);
    assert_eq!(
        due_now.iter().map(|e| e.item.clone()).collect::<Vec<_>>(),
        [post_card(2)]
    );
    let later = due_at(s, 30);
    assert_eq!(later.len(), 2);
    assert_eq!(
        later[0], retried,
        "a retried entry keeps its place in the queue, with its bookkeeping"
    );
    let mut gone = retried.clone();
    gone.key = 999;
    s.outbox_retry(&gone)
        .expect("retrying a delivered entry is a no-op");
    assert_eq!(s.outbox_all().expect("outbox").len(), 2);
}

fn outbox_from_pages_in_fifo_order(s: &S) {
    for id in 1..=3 {
        create(&**s, id, 60);
    }
    let all: Vec<u64> = s
        .outbox_all()
        .expect("outbox")
        .iter()
        .map(|e| e.key)
        .collect();
    assert!(all.len() >= 3, "every create queues a card: {all:?}");
    let keys = |from, limit| -> Vec<u64> {
        let page = s.outbox_from(from, limit).expect("outbox page");
        page.iter().map(|e| e.key).collect()
    };
    assert_eq!(s.outbox_len().expect("len"), all.len());
    assert_eq!(keys(0, 2), all[..2]);
    assert_eq!(keys(all[1] + 1, 100), all[2..]);
    s.outbox_done(all[0]).expect("done");
    assert_eq!(keys(0, 1), [all[1]]);
    assert_eq!(keys(all[all.len() - 1] + 1, 10), Vec::<u64>::new());
}

fn outbox_done_removes_only_that_entry(s: &S) {
    create(&**s, 1, 60);
    create(&**s, 2, 60);
    let first = s.outbox_all().expect("outbox")[0].key;
    s.outbox_done(first).expect("done");
    s.outbox_done(first).expect("done twice is harmless");
    let left = s.outbox_all().expect("outbox");
    assert_eq!(
        left.iter().map(|e| e.item.clone()).collect::<Vec<_>>(),
        [post_card(2)]
    );
}

fn cards_are_kept_one_per_platform_and_per_request(s: &S) {
    use jitpe::domain::identity::Platform;
    let card = |platform, message_id: &str| CardRef {
        platform,
        channel: "C1".into(),
        message_id: message_id.into(),
    };
    assert_eq!(s.cards(RequestId(1)).expect("cards"), []);
    s.put_card(RequestId(1), &card(Platform::Slack, "1.0"))
        .expect("put");
    s.put_card(RequestId(1), &card(Platform::Mattermost, "p1"))
        .expect("put");
    s.put_card(RequestId(1), &card(Platform::Slack, "1.5"))
        .expect("put");
    s.put_card(RequestId(2), &card(Platform::Slack, "2.0"))
        .expect("put");
    let mut got = s.cards(RequestId(1)).expect("cards");
    got.sort_by_key(|c| c.platform);
    assert_eq!(
        got,
        [
            card(Platform::Slack, "1.5"),
            card(Platform::Mattermost, "p1")
        ]
    );
    assert_eq!(
        s.cards(RequestId(2)).expect("cards"),
        [card(Platform::Slack, "2.0")]
    );
}

fn seen_once_is_true_from_the_second_call_until_the_key_is_forgotten(s: &S) {
    let seen = |key, now| s.seen_once(key, ts(now), ts(now - 300)).expect("seen");
    assert!(!seen("trigger-1", 0));
    assert!(seen("trigger-1", 10));
    assert!(!seen("trigger-2", 10));
    assert!(
        seen("trigger-1", 300),
        "still remembered at the edge of the window"
    );
    assert!(
        !seen("trigger-1", 301),
        "forgotten once older than forget_before"
    );
    assert!(seen("trigger-1", 302));
}

fn cursors_start_at_zero_and_keep_the_last_value(s: &S) {
    assert_eq!(s.cursor("audit/slack").expect("cursor"), 0);
    s.set_cursor("audit/slack", 5).expect("set");
    s.set_cursor("audit/slack", 7).expect("set");
    s.set_cursor("audit/mattermost", 1).expect("set");
    assert_eq!(s.cursor("audit/slack").expect("cursor"), 7);
    assert_eq!(s.cursor("audit/mattermost").expect("cursor"), 1);
}
