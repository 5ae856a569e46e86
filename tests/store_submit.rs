//! The contract of `Store::submit`, the one durable commit of a new request (de-duplication,
//! auto-approval tally, id, request, audit record and outbox together), on every adapter; and on
//! sled, that an acknowledged submit survives the process being killed right after the ack.

#[macro_use]
mod store_fixtures;

use jitpe::domain::DomainError;
use jitpe::domain::ids::RequestId;
use jitpe::ports::{NewRecord, Store, Submission, SubmitOutcome};
use jitpe::store::sled::SledStore;
use std::sync::{Arc, Barrier};
use store_fixtures::{draft, pending, post_card, ts};

type S = Arc<dyn Store>;

contract_suite!(
    a_submit_allocates_the_next_id_and_stores_request_audit_and_outbox,
    a_repeated_key_is_a_duplicate_and_stores_nothing,
    a_refusal_stores_nothing_and_uses_no_id,
    the_tally_counts_only_auto_approved_requests_per_key,
    racing_submits_get_distinct_ids_and_never_pass_a_tally_limit,
);

/// A submission at `at` seconds with `key` and `tally`.
fn submission<'a>(key: Option<&'a str>, tally: &'a str, at: i64) -> Submission<'a> {
    Submission {
        dedupe: key,
        forget_before: ts(at - 300),
        tally,
        at: ts(at),
    }
}

/// Builds a pending request as the id the store hands out, auto-approved if `auto`.
fn record(id: RequestId, auto: bool) -> NewRecord {
    let mut request = pending(id.0, 3600);
    request.auto_approved = auto;
    NewRecord {
        request,
        audit: draft("requested", id.0),
        outbox: vec![post_card(id.0)],
    }
}

fn stored_id(outcome: SubmitOutcome) -> RequestId {
    match outcome {
        SubmitOutcome::Stored { record, committed } => {
            assert_eq!(committed.version, 1);
            record.request.id
        }
        other => panic!("expected a stored request, got {other:?}"),
    }
}

fn a_submit_allocates_the_next_id_and_stores_request_audit_and_outbox(s: &S) {
    let sub = submission(None, "t", 0);
    let first = stored_id(s.submit(&sub, &|id, _| Ok(record(id, false))).unwrap());
    let second = stored_id(s.submit(&sub, &|id, _| Ok(record(id, false))).unwrap());
    assert_eq!((first, second), (RequestId(1), RequestId(2)));
    assert_eq!(s.get(RequestId(2)).unwrap().unwrap().value.id, RequestId(2));
    assert_eq!(s.audit_head().unwrap().unwrap().0, 2);
    assert_eq!(s.outbox_all().unwrap().len(), 2);
    assert_eq!(s.next_id().unwrap(), RequestId(3), "ids are never reused");
}

fn a_repeated_key_is_a_duplicate_and_stores_nothing(s: &S) {
    let sub = submission(Some("slack:trigger-1"), "t", 0);
    stored_id(s.submit(&sub, &|id, _| Ok(record(id, false))).unwrap());
    let again = s.submit(&sub, &|id, _| Ok(record(id, false))).unwrap();
    assert!(matches!(again, SubmitOutcome::Duplicate), "{again:?}");
    assert_eq!(s.list().unwrap().len(), 1);
    assert_eq!(s.audit_head().unwrap().unwrap().0, 1);
    // Once the key is older than the window, the same key is a new request again.
    let later = submission(Some("slack:trigger-1"), "t", 400);
    assert_eq!(
        stored_id(s.submit(&later, &|id, _| Ok(record(id, false))).unwrap()),
        RequestId(2)
    );
}

fn a_refusal_stores_nothing_and_uses_no_id(s: &S) {
    let sub = submission(Some("slack:trigger-2"), "t", 0);
    let refused = s
        .submit(&sub, &|id, _| Err(DomainError::NotFound(id)))
        .unwrap();
    assert!(matches!(refused, SubmitOutcome::Refused(_)), "{refused:?}");
    assert!(s.list().unwrap().is_empty());
    assert_eq!(s.audit_head().unwrap(), None);
    // The key was not used up either: the corrected command with the same key goes through.
    let id = stored_id(s.submit(&sub, &|id, _| Ok(record(id, false))).unwrap());
    assert_eq!(id, RequestId(1));
}

fn the_tally_counts_only_auto_approved_requests_per_key(s: &S) {
    let seen = std::sync::Mutex::new(Vec::new());
    let submit = |tally: &str, auto: bool| {
        let sub = submission(None, tally, 0);
        let build = |id, today| {
            seen.lock().unwrap().push(today);
            Ok(record(id, auto))
        };
        stored_id(s.submit(&sub, &build).unwrap());
    };
    submit("alice|debug|2026-12-02", true);
    submit("alice|debug|2026-12-02", false);
    submit("alice|debug|2026-12-02", true);
    submit("alice|debug|2026-12-03", true);
    submit("alice|debug|2026-12-02", true);
    assert_eq!(*seen.lock().unwrap(), [0, 1, 1, 0, 2]);
}

fn racing_submits_get_distinct_ids_and_never_pass_a_tally_limit(s: &S) {
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let sub = submission(None, "bob|debug|2026-12-02", 0);
                // The policy's limit: at most 3 automatic approvals on this tally.
                let outcome = s.submit(&sub, &|id, today| Ok(record(id, today < 3)));
                stored_id(outcome.unwrap())
            })
        })
        .collect();
    let mut ids: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=8).map(RequestId).collect::<Vec<_>>());
    let auto = s.list().unwrap();
    let auto = auto.iter().filter(|r| r.value.auto_approved).count();
    assert_eq!(auto, 3, "the tally is read and written in the same commit");
}

/// The child half of the crash test: submits one request into the store at
/// `JITPE_CRASH_DIR`, prints the id once `submit` has returned, and kills itself at once.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("JITPE_CRASH_DIR") else {
        return;
    };
    let store = SledStore::open(std::path::Path::new(&dir)).unwrap();
    let sub = submission(Some("slack:crash"), "t", 0);
    let id = stored_id(store.submit(&sub, &|id, _| Ok(record(id, false))).unwrap());
    println!("acknowledged {id}");
    // SIGKILL: no destructor runs, so sled's own flush on drop cannot save the write.
    let _ = std::process::Command::new("kill")
        .args(["-9", &std::process::id().to_string()])
        .status();
    std::thread::sleep(std::time::Duration::from_secs(10));
    panic!("still alive after kill -9");
}

#[test]
fn an_acknowledged_submit_survives_kill_9_right_after_the_ack() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("JITPE_CRASH_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acknowledged 1"), "{stdout}");
    assert!(!out.status.success(), "the child was killed");
    let store = SledStore::open(dir.path()).unwrap();
    let req = store.get(RequestId(1)).unwrap();
    assert!(req.is_some(), "the acknowledged request is on disk");
    assert_eq!(store.audit_head().unwrap().unwrap().0, 1);
}
