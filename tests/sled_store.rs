//! Checks that only make sense for the on-disk store: restarts keep everything, the directory
//! lock gives a clear error, and tampering with the raw audit tree is caught by `verify`.
//! The shared behaviour is in `store_contract.rs`.

mod store_fixtures;

use jitpe::domain::audit::{AuditRecord, ChainError, verify};
use jitpe::domain::ids::RequestId;
use jitpe::ports::{Store, StoreError};
use jitpe::store::sled::SledStore;
use std::path::Path;
use store_fixtures::{activated, create, draft, ts};
use tempfile::TempDir;

fn open(dir: &Path) -> SledStore {
    SledStore::open(dir).expect("the store opens")
}

/// Verifies the stored log against the stored head, as `jitpe audit verify` does.
fn verify_store(s: &SledStore) -> Result<u64, ChainError> {
    let records = s.audit_from(1, usize::MAX).expect("records decode");
    let head = s.audit_head().expect("head decodes");
    verify(
        &records,
        head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    )
}

/// A store with five audit records: three creates and two appends.
fn store_with_five_records(dir: &Path) -> SledStore {
    let s = open(dir);
    for id in 1..=3 {
        create(&s, id, 60);
    }
    s.append_audit(draft("card_posted", 1), ts(1))
        .expect("append");
    s.append_audit(draft("card_posted", 2), ts(2))
        .expect("append");
    assert_eq!(verify_store(&s), Ok(5));
    s
}

fn audit_tree(s: &SledStore) -> sled::Tree {
    s.db().open_tree("audit").expect("the audit tree exists")
}

fn raw_record(s: &SledStore, seq: u64) -> sled::IVec {
    let tree = audit_tree(s);
    tree.get(seq.to_be_bytes())
        .expect("read")
        .expect("record exists")
}

#[test]
fn reopening_keeps_requests_versions_audit_outbox_cursors_and_ids() {
    let dir = TempDir::new().expect("temp dir");
    let before = {
        let s = open(dir.path());
        assert_eq!(s.next_id().expect("id"), RequestId(1));
        let req = create(&s, 1, 100);
        s.update(1, &activated(req, 900), draft("activated", 1), ts(2), &[])
            .expect("update");
        create(&s, 2, 300);
        s.set_cursor("audit/slack", 3).expect("cursor");
        let mut retried = s.outbox_all().expect("outbox")[0].clone();
        (retried.not_before, retried.attempts) = (ts(50), 1);
        retried.last_error = Some("timeout".into());
        s.outbox_retry(&retried).expect("retry");
        (
            s.list().expect("list"),
            s.audit_from(1, 100).expect("audit"),
            s.audit_head().expect("head"),
            s.outbox_all().expect("outbox"),
        )
    }; // dropped: sled releases its lock
    let s = open(dir.path());
    let after = (
        s.list().expect("list"),
        s.audit_from(1, 100).expect("audit"),
        s.audit_head().expect("head"),
        s.outbox_all().expect("outbox"),
    );
    assert_eq!(after, before);
    assert_eq!(
        s.get(RequestId(1)).expect("get").expect("exists").version,
        2
    );
    assert_eq!(s.cursor("audit/slack").expect("cursor"), 3);
    assert_eq!(
        s.next_id().expect("id"),
        RequestId(3),
        "ids are never reused"
    );
    assert_eq!(s.next_deadline().expect("next"), Some(ts(300)));
    assert_eq!(verify_store(&s), Ok(3));
    let next = s.append_audit(draft("reopened", 0), ts(9)).expect("append");
    assert_eq!(next.seq, 4, "the chain continues after the stored head");
    let outbox = s.outbox_all().expect("outbox");
    let due: Vec<_> = outbox.iter().filter(|e| e.not_before <= ts(0)).collect();
    assert_eq!(due.len(), 1, "the postponed entry stays postponed");
}

#[test]
fn opening_a_locked_directory_names_the_path_and_the_cause() {
    let dir = TempDir::new().expect("temp dir");
    let _first = open(dir.path());
    let err = SledStore::open(dir.path())
        .err()
        .expect("a second open of a locked directory fails");
    assert!(
        matches!(&err, StoreError::Locked { path } if path == dir.path()),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("locked by another process"), "{err}");
    assert!(err.contains("jitpe serve may be running"), "{err}");
}

#[test]
fn opening_a_path_that_is_not_a_directory_names_the_path() {
    let dir = TempDir::new().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write a file");
    let err = SledStore::open(&file)
        .err()
        .expect("a file is not a store directory");
    assert!(
        matches!(&err, StoreError::Backend { .. }),
        "not a lock: {err:?}"
    );
    let err = err.to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn editing_a_records_details_is_named_by_verify() {
    let dir = TempDir::new().expect("temp dir");
    let s = store_with_five_records(dir.path());
    let mut rec: AuditRecord = serde_json::from_slice(&raw_record(&s, 3)).expect("json");
    rec.details.insert("role".into(), "cluster-admin".into());
    let edited = serde_json::to_vec(&rec).expect("json");
    audit_tree(&s)
        .insert(3u64.to_be_bytes(), edited)
        .expect("write");
    assert_eq!(verify_store(&s), Err(ChainError::Edited { seq: 3 }));
}

#[test]
fn deleting_a_middle_record_is_named_by_verify() {
    let dir = TempDir::new().expect("temp dir");
    let s = store_with_five_records(dir.path());
    audit_tree(&s).remove(3u64.to_be_bytes()).expect("remove");
    let err = verify_store(&s).expect_err("a gap is detected");
    assert_eq!(
        err,
        ChainError::Missing {
            expected: 3,
            found: 4
        }
    );
    assert!(err.to_string().contains("3 to 3 are missing"), "{err}");
}

#[test]
fn swapping_two_records_is_named_by_verify() {
    let dir = TempDir::new().expect("temp dir");
    let s = store_with_five_records(dir.path());
    let (two, three) = (raw_record(&s, 2), raw_record(&s, 3));
    let tree = audit_tree(&s);
    tree.insert(2u64.to_be_bytes(), three).expect("write");
    tree.insert(3u64.to_be_bytes(), two).expect("write");
    assert_eq!(
        verify_store(&s),
        Err(ChainError::Reordered {
            expected: 2,
            found: 3
        })
    );
}

#[test]
fn deleting_the_newest_record_is_caught_by_the_separate_head() {
    let dir = TempDir::new().expect("temp dir");
    let s = store_with_five_records(dir.path());
    audit_tree(&s).remove(5u64.to_be_bytes()).expect("remove");
    assert_eq!(
        verify_store(&s),
        Err(ChainError::Truncated { last: 4, head: 5 })
    );
}

#[test]
fn a_temporary_store_works_without_a_path() {
    let s = SledStore::temporary().expect("temporary store");
    create(&s, 1, 60);
    assert_eq!(verify_store(&s), Ok(1));
}
