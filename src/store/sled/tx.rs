//! The transaction bodies of [`super::SledStore`].
//!
//! sled re-runs a transaction closure when it conflicts with another, so these functions only read
//! and write through the transactional views and never have side effects of their own. Domain
//! failures (`Conflict`, `Exists`, `Missing`, `Corrupt`) abort the transaction, so nothing is
//! written when one occurs.

use super::keys::{
    Head, META_AUDIT_HEAD, META_LAST_ID, META_OUTBOX_LAST, SEEN_KEY_PREFIX, SEEN_TIME_PREFIX,
    StoredRequest, StoredRequestRef, backend, deadline_key, decode, encode, read_u64, seen_key,
    seen_time_key, tally_key, time_key, u64_key,
};
use crate::domain::audit::{AuditDraft, AuditRecord, GENESIS_HASH};
use crate::domain::ids::RequestId;
use crate::domain::request::AccessRequest;
use crate::ports::{
    BuildRecord, Committed, OutboxEntry, OutboxItem, StoreError, Submission, SubmitOutcome,
    Versioned,
};
use jiff::Timestamp;
use serde::Deserialize;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};

/// The trees of the store.
pub(super) struct Trees {
    pub requests: sled::Tree,
    pub deadlines: sled::Tree,
    pub audit: sled::Tree,
    pub meta: sled::Tree,
    pub outbox: sled::Tree,
    pub cards: sled::Tree,
    pub seen: sled::Tree,
}

/// A transaction step's result: a [`StoreError`] aborts the whole transaction.
type Tx<T> = ConflictableTransactionResult<T, StoreError>;

/// Turns a store error into a transaction abort.
fn abort<T>(r: Result<T, StoreError>) -> Tx<T> {
    r.map_err(ConflictableTransactionError::Abort)
}

/// Unwraps a finished transaction's error: an abort carries our own error, anything else is sled.
pub(super) fn unwrap_tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend("commit a transaction")(e),
    }
}

/// Decodes a `requests` value.
pub(super) fn decode_request(bytes: &[u8]) -> Result<Versioned<AccessRequest>, StoreError> {
    let stored: StoredRequest = decode(bytes, "request")?;
    Ok(Versioned {
        version: stored.version,
        value: stored.request,
    })
}

/// What a write needs of the stored request: enough for the CAS and the index move, without
/// decoding the whole request.
#[derive(Deserialize)]
struct StoredHeader {
    version: u64,
    #[serde(default)]
    deadline: Option<Timestamp>,
}

/// Reads a u64 from `meta`, 0 when unset.
fn meta_u64(meta: &TransactionalTree, key: &[u8], what: &str) -> Tx<u64> {
    match meta.get(key)? {
        Some(bytes) => abort(read_u64(&bytes, what)),
        None => Ok(0),
    }
}

/// The transactional views `submit` writes through.
pub(super) type SubmitViews = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// The body of `Store::submit`: de-duplication, tally, id, request, audit, outbox in one
/// transaction. A duplicate or a refusal writes nothing.
pub(super) fn submit(
    (requests, deadlines, log, meta, out, seen): &SubmitViews,
    s: &Submission<'_>,
    build: BuildRecord<'_>,
) -> Tx<SubmitOutcome> {
    if let Some(key) = s.dedupe
        && seen.get(seen_key(key))?.is_some()
    {
        return Ok(SubmitOutcome::Duplicate);
    }
    let tally = tally_key(s.tally);
    let today = meta_u64(meta, &tally, "auto-approval tally")?;
    let id = RequestId(meta_u64(meta, META_LAST_ID, "last request id")? + 1);
    let record = match build(id, u32::try_from(today).unwrap_or(u32::MAX)) {
        Ok(record) => record,
        Err(e) => return Ok(SubmitOutcome::Refused(e)),
    };
    if record.request.id != id {
        return abort(Err(StoreError::Corrupt(format!(
            "a new request was built as #{} instead of #{id}",
            record.request.id
        ))));
    }
    let version = put_request(requests, deadlines, meta, None, &record.request)?;
    let audit = chain_audit(log, meta, record.audit.clone(), s.at)?;
    push_outbox(out, meta, &record.outbox, s.at)?;
    if let Some(key) = s.dedupe {
        mark_seen(seen, key, s.at)?;
    }
    if record.request.auto_approved {
        meta.insert(tally, &u64_key(today + 1))?;
    }
    Ok(SubmitOutcome::Stored {
        record: Box::new(record),
        committed: Committed { version, audit },
    })
}

/// Hands out the next request id; ids are never reused because `last_id` only grows.
pub(super) fn allocate_id(meta: &TransactionalTree) -> Tx<RequestId> {
    let next = meta_u64(meta, META_LAST_ID, "last request id")? + 1;
    meta.insert(META_LAST_ID, &u64_key(next))?;
    Ok(RequestId(next))
}

/// Writes `req` as a create (`expected == None`) or a compare-and-swap update, moves its deadline
/// index entry, and returns the new version.
pub(super) fn put_request(
    requests: &TransactionalTree,
    deadlines: &TransactionalTree,
    meta: &TransactionalTree,
    expected: Option<u64>,
    req: &AccessRequest,
) -> Tx<u64> {
    let id = req.id;
    let key = u64_key(id.0);
    let old = match requests.get(key)? {
        Some(bytes) => Some(abort(decode::<StoredHeader>(&bytes, "request"))?),
        None => None,
    };
    let version = match (expected, old) {
        (None, Some(_)) => return abort(Err(StoreError::Exists(id))),
        (None, None) => {
            // An id stored without `next_id` (imports, tests) must still never be handed out.
            let last = meta_u64(meta, META_LAST_ID, "last request id")?;
            meta.insert(META_LAST_ID, &u64_key(last.max(id.0)))?;
            1
        }
        (Some(_), None) => return abort(Err(StoreError::Missing(id))),
        (Some(want), Some(old)) if old.version != want => {
            return abort(Err(StoreError::Conflict(id)));
        }
        (Some(_), Some(old)) => {
            if let Some(at) = old.deadline {
                deadlines.remove(&deadline_key(at, id))?;
            }
            old.version + 1
        }
    };
    let deadline = req.next_deadline();
    if let Some(at) = deadline {
        deadlines.insert(&deadline_key(at, id), &[])?;
    }
    let value = StoredRequestRef {
        version,
        deadline,
        request: req,
    };
    requests.insert(&key, abort(encode(&value))?)?;
    Ok(version)
}

/// Numbers and chains `draft` after the stored head, stores it and moves the head.
pub(super) fn chain_audit(
    log: &TransactionalTree,
    meta: &TransactionalTree,
    draft: AuditDraft,
    at: Timestamp,
) -> Tx<AuditRecord> {
    let head: Option<Head> = match meta.get(META_AUDIT_HEAD)? {
        Some(bytes) => Some(abort(decode(&bytes, "audit head"))?),
        None => None,
    };
    let (seq, prev) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    let record = AuditRecord::chain(draft, seq, at, &prev);
    log.insert(&u64_key(seq), abort(encode(&record))?)?;
    let head = Head {
        seq,
        hash: record.hash.clone(),
    };
    meta.insert(META_AUDIT_HEAD, abort(encode(&head))?)?;
    Ok(record)
}

/// Appends outbox items, due at once, under keys that keep FIFO order.
pub(super) fn push_outbox(
    out: &TransactionalTree,
    meta: &TransactionalTree,
    items: &[OutboxItem],
    at: Timestamp,
) -> Tx<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut key = meta_u64(meta, META_OUTBOX_LAST, "last outbox key")?;
    for item in items {
        key += 1;
        let entry = OutboxEntry::new(key, item.clone(), at);
        out.insert(&u64_key(key), abort(encode(&entry))?)?;
    }
    meta.insert(META_OUTBOX_LAST, &u64_key(key))?;
    Ok(())
}

/// Stores a rescheduled outbox entry. A missing entry was delivered meanwhile (or removed by an
/// operator), so there is nothing to postpone.
pub(super) fn retry_outbox(out: &TransactionalTree, entry: &OutboxEntry) -> Tx<()> {
    let key = u64_key(entry.key);
    if out.get(key)?.is_none() {
        return Ok(());
    }
    out.insert(&key, abort(encode(entry))?)?;
    Ok(())
}

/// Records an idempotency key; returns whether it had been seen already.
pub(super) fn mark_seen(seen: &TransactionalTree, key: &str, now: Timestamp) -> Tx<bool> {
    if seen.get(seen_key(key))?.is_some() {
        return Ok(true);
    }
    seen.insert(seen_key(key), &time_key(now))?;
    seen.insert(seen_time_key(now, key), &[])?;
    Ok(false)
}

/// Drops idempotency keys first seen before `forget_before`, oldest first, through the time index
/// so the cost is proportional to what is dropped. Each key's two entries go in one atomic batch.
pub(super) fn forget_seen(seen: &sled::Tree, forget_before: Timestamp) -> Result<(), StoreError> {
    let end = [SEEN_TIME_PREFIX, &time_key(forget_before)].concat();
    let mut batch = sled::Batch::default();
    for kv in seen.range(SEEN_TIME_PREFIX.to_vec()..end) {
        let (time_entry, _) = kv.map_err(backend("scan idempotency keys"))?;
        let key_part = time_entry
            .get(SEEN_TIME_PREFIX.len() + 16..)
            .ok_or_else(|| StoreError::Corrupt("seen time key is too short".into()))?;
        batch.remove([SEEN_KEY_PREFIX, key_part].concat());
        batch.remove(time_entry);
    }
    seen.apply_batch(batch)
        .map_err(backend("forget idempotency keys"))
}
