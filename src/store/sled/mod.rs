//! [`SledStore`]: the production [`Store`] on an embedded sled 0.34 database.
//!
//! Trees (key layouts in `keys.rs`, transaction bodies in `tx.rs`):
//!
//! | tree        | key                         | value                              |
//! |-------------|-----------------------------|------------------------------------|
//! | `requests`  | id (u64 BE)                 | JSON `{version, deadline, request}` |
//! | `deadlines` | deadline (sortable) ++ id   | empty                              |
//! | `audit`     | seq (u64 BE)                | JSON [`AuditRecord`]               |
//! | `meta`      | `last_id`, `audit_head`, `outbox_last`, `cursor/<name>` | u64 BE or JSON |
//! | `outbox`    | key (u64 BE, FIFO)          | JSON [`OutboxEntry`]               |
//! | `cards`     | id ++ platform              | JSON [`CardRef`]                   |
//! | `seen`      | `k/<key>` and `t/<time><key>` | first-seen time / empty          |
//!
//! Every write that touches several trees is one sled transaction, and the database is flushed
//! before a write returns `Ok`, so a caller that was told "stored" can rely on it after a crash.
//! Concurrent writers share flushes (group commit, `flush.rs`): one fsync covers every write
//! that finished while the previous one ran.
//! The audit head lives in `meta`, apart from the log, so deleting the newest records is caught by
//! [`crate::domain::audit::verify`].

mod flush;
mod keys;
mod lock;
mod tx;

use crate::domain::audit::{AuditDraft, AuditRecord};
use crate::domain::ids::RequestId;
use crate::domain::request::AccessRequest;
use crate::ports::{
    AuditPage, BuildRecord, CardRef, Committed, OutboxEntry, OutboxItem, Store, StoreError,
    Submission, SubmitOutcome, Versioned,
};
use flush::GroupFlush;
use jiff::Timestamp;
use keys::{
    META_AUDIT_HEAD, backend, card_key, cursor_key, deadline_key, decode, encode,
    read_deadline_key, read_u64, u64_key,
};
use sled::Transactional;
use std::path::Path;
use tx::Trees;

/// The sled-backed store. Cheap to share behind an `Arc`; sled handles concurrency.
pub struct SledStore {
    db: sled::Db,
    trees: Trees,
    group: GroupFlush,
}

/// sled's page cache when none is configured: enough for the working set (open requests, the
/// newest audit records, indexes), far below sled's own 1 GiB default.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl SledStore {
    /// Opens (or creates) the store in directory `path`.
    ///
    /// sled locks the directory, so a second process (or a second `open` in this one) fails with
    /// [`StoreError::Locked`] instead of corrupting it; other failures name the path.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`SledStore::open`] with a page cache of `cache_bytes` (`store.cache_mb`).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        if !lock::wait_until_free(path) {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
            });
        }
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => Self::from_db(db),
            // Another process took the lock between the check and sled's own attempt.
            Err(_) if lock::is_held(path) => Err(StoreError::Locked {
                path: path.to_path_buf(),
            }),
            // Not a lock (checked above), so stopping `serve` would not help: say what might.
            Err(e) => Err(StoreError::backend(
                format!(
                    "cannot open the store at {} (no other process holds it): check that it is \
                     a jitpe data directory this user may read and write, or restore it from a \
                     backup",
                    path.display()
                ),
                e,
            )),
        }
    }

    /// Whether another handle (another process: `jitpe serve`) holds the store in directory
    /// `path` right now, without waiting for it to be let go as [`SledStore::open`] does.
    pub fn in_use(path: &Path) -> bool {
        lock::is_held(path)
    }

    /// A store in a temporary directory that is deleted on drop, for benchmarks and experiments.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(backend("open a temporary database"))?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(backend("open a tree"));
        let trees = Trees {
            requests: tree("requests")?,
            deadlines: tree("deadlines")?,
            audit: tree("audit")?,
            meta: tree("meta")?,
            outbox: tree("outbox")?,
            cards: tree("cards")?,
            seen: tree("seen")?,
        };
        Ok(Self {
            db,
            trees,
            group: GroupFlush::default(),
        })
    }

    /// The raw database, for offline tools (`jitpe audit verify|export`) and tests (for example
    /// tampering with the `audit` tree to check that verification notices). The service itself
    /// never uses it: writing here bypasses every invariant of [`Store`].
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Makes committed writes durable before the caller is told they succeeded.
    fn flush(&self) -> Result<(), StoreError> {
        self.group
            .wait_durable(|| self.db.flush().map(|_| ()).map_err(backend("flush")))
    }

    /// The shared body of `create` (`expected == None`) and `update`.
    fn write(
        &self,
        expected: Option<u64>,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        let t = &self.trees;
        let committed = (&t.requests, &t.deadlines, &t.audit, &t.meta, &t.outbox)
            .transaction(|(requests, deadlines, log, meta, out)| {
                let version = tx::put_request(requests, deadlines, meta, expected, req)?;
                let record = tx::chain_audit(log, meta, audit.clone(), at)?;
                tx::push_outbox(out, meta, outbox, at)?;
                Ok(Committed {
                    version,
                    audit: record,
                })
            })
            .map_err(tx::unwrap_tx_error)?;
        self.flush()?;
        Ok(committed)
    }
}

impl Store for SledStore {
    fn next_id(&self) -> Result<RequestId, StoreError> {
        let id = self
            .trees
            .meta
            .transaction(tx::allocate_id)
            .map_err(tx::unwrap_tx_error)?;
        self.flush()?;
        Ok(id)
    }

    fn submit(
        &self,
        submission: &Submission<'_>,
        build: BuildRecord<'_>,
    ) -> Result<SubmitOutcome, StoreError> {
        tx::forget_seen(&self.trees.seen, submission.forget_before)?;
        let t = &self.trees;
        let outcome = (
            &t.requests,
            &t.deadlines,
            &t.audit,
            &t.meta,
            &t.outbox,
            &t.seen,
        )
            .transaction(|views| tx::submit(views, submission, build))
            .map_err(tx::unwrap_tx_error)?;
        if let SubmitOutcome::Stored { .. } = outcome {
            self.flush()?;
        }
        Ok(outcome)
    }

    fn create(
        &self,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        self.write(None, req, audit, at, outbox)
    }

    fn update(
        &self,
        expected_version: u64,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        self.write(Some(expected_version), req, audit, at, outbox)
    }

    fn get(&self, id: RequestId) -> Result<Option<Versioned<AccessRequest>>, StoreError> {
        let Some(bytes) = self
            .trees
            .requests
            .get(u64_key(id.0))
            .map_err(backend("read a request"))?
        else {
            return Ok(None);
        };
        tx::decode_request(&bytes).map(Some)
    }

    fn list(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError> {
        self.trees
            .requests
            .iter()
            .map(|kv| tx::decode_request(&kv.map_err(backend("list requests"))?.1))
            .collect()
    }

    fn list_open(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError> {
        let mut ids = Vec::new();
        for kv in self.trees.deadlines.iter() {
            ids.push(read_deadline_key(&kv.map_err(backend("scan the deadline index"))?.0)?.1);
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get(id)?);
        }
        Ok(out)
    }

    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        // Everything up to (now, largest id) inclusive: all entries whose deadline is <= now.
        let end = deadline_key(now, RequestId(u64::MAX));
        self.trees
            .deadlines
            .range(..=end)
            .take(limit)
            .map(|kv| Ok(read_deadline_key(&kv.map_err(backend("scan the deadline index"))?.0)?.1))
            .collect()
    }

    fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        match self
            .trees
            .deadlines
            .first()
            .map_err(backend("read the deadline index"))?
        {
            Some((key, _)) => Ok(Some(read_deadline_key(&key)?.0)),
            None => Ok(None),
        }
    }

    fn append_audit(&self, audit: AuditDraft, at: Timestamp) -> Result<AuditRecord, StoreError> {
        let t = &self.trees;
        let record = (&t.audit, &t.meta)
            .transaction(|(log, meta)| tx::chain_audit(log, meta, audit.clone(), at))
            .map_err(tx::unwrap_tx_error)?;
        self.flush()?;
        Ok(record)
    }

    fn audit_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.trees
            .audit
            .range(u64_key(from)..)
            .take(limit)
            .map(|kv| {
                decode(
                    &kv.map_err(backend("read the audit log"))?.1,
                    "audit record",
                )
            })
            .collect()
    }

    fn audit_page(&self, from: u64, limit: usize) -> Result<AuditPage, StoreError> {
        let mut page = AuditPage::default();
        for kv in self.trees.audit.range(u64_key(from)..) {
            let (key, value) = kv.map_err(backend("read the audit log"))?;
            if page.records.len() == limit {
                page.next = Some(keys::read_u64(&key, "audit key")?);
                break;
            }
            page.records.push(decode(&value, "audit record")?);
        }
        Ok(page)
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<AuditPage, StoreError> {
        let mut page = AuditPage::default();
        for kv in self.trees.audit.range(u64_key(from)..u64_key(to.max(from))) {
            let value = kv.map_err(backend("read the audit log"))?.1;
            page.records.push(decode(&value, "audit record")?);
        }
        if let Some(kv) = self.trees.audit.range(u64_key(to)..).next() {
            let key = kv.map_err(backend("read the audit log"))?.0;
            page.next = Some(keys::read_u64(&key, "audit key")?);
        }
        Ok(page)
    }

    fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        let Some(bytes) = self
            .trees
            .meta
            .get(META_AUDIT_HEAD)
            .map_err(backend("read the audit head"))?
        else {
            return Ok(None);
        };
        let head: keys::Head = decode(&bytes, "audit head")?;
        Ok(Some((head.seq, head.hash)))
    }

    fn outbox_all(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.trees
            .outbox
            .iter()
            .map(|kv| decode(&kv.map_err(backend("read the outbox"))?.1, "outbox entry"))
            .collect()
    }

    fn outbox_len(&self) -> Result<usize, StoreError> {
        Ok(self.trees.outbox.len())
    }

    fn outbox_from(&self, from: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.trees
            .outbox
            .range(u64_key(from)..)
            .take(limit)
            .map(|kv| decode(&kv.map_err(backend("read the outbox"))?.1, "outbox entry"))
            .collect()
    }

    fn outbox_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.trees
            .outbox
            .transaction(|out| tx::retry_outbox(out, entry))
            .map_err(tx::unwrap_tx_error)?;
        self.flush()
    }

    fn outbox_done(&self, key: u64) -> Result<(), StoreError> {
        // A transaction, like `outbox_retry`, so a concurrent retry cannot resurrect the entry.
        self.trees
            .outbox
            .transaction(|out| out.remove(&u64_key(key)).map(|_| ()).map_err(Into::into))
            .map_err(tx::unwrap_tx_error)?;
        self.flush()
    }

    fn put_card(&self, id: RequestId, card: &CardRef) -> Result<(), StoreError> {
        let key = card_key(id, card.platform.as_str());
        self.trees
            .cards
            .insert(key, encode(card)?)
            .map_err(backend("store a card"))?;
        self.flush()
    }

    fn cards(&self, id: RequestId) -> Result<Vec<CardRef>, StoreError> {
        self.trees
            .cards
            .scan_prefix(u64_key(id.0))
            .map(|kv| decode(&kv.map_err(backend("read cards"))?.1, "card"))
            .collect()
    }

    fn seen_once(
        &self,
        key: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, StoreError> {
        tx::forget_seen(&self.trees.seen, forget_before)?;
        let seen = self
            .trees
            .seen
            .transaction(|seen| tx::mark_seen(seen, key, now))
            .map_err(tx::unwrap_tx_error)?;
        self.flush()?;
        Ok(seen)
    }

    fn cursor(&self, name: &str) -> Result<u64, StoreError> {
        match self
            .trees
            .meta
            .get(cursor_key(name))
            .map_err(backend("read a cursor"))?
        {
            Some(bytes) => read_u64(&bytes, "cursor"),
            None => Ok(0),
        }
    }

    fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError> {
        let key = cursor_key(name);
        self.trees
            .meta
            .insert(key, &u64_key(value))
            .map_err(backend("store a cursor"))?;
        self.flush()
    }
}
