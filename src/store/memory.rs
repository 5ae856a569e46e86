//! [`MemStore`]: the [`Store`] contract in memory, for service and web tests.
//!
//! One mutex around plain maps makes every method atomic, which gives the same guarantees as the
//! sled transactions: a failed compare-and-swap writes nothing, and racing writers serialize.

use crate::domain::audit::{AuditDraft, AuditRecord, GENESIS_HASH};
use crate::domain::ids::RequestId;
use crate::domain::request::AccessRequest;
use crate::ports::{
    AuditPage, BuildRecord, CardRef, Committed, OutboxEntry, OutboxItem, Store, StoreError,
    Submission, SubmitOutcome, Versioned,
};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

/// An in-memory store with the same semantics as [`super::sled::SledStore`].
#[derive(Default)]
pub struct MemStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    last_id: u64,
    /// Each request with its version and the deadline it is indexed under.
    requests: BTreeMap<RequestId, (u64, Option<Timestamp>, AccessRequest)>,
    deadlines: BTreeSet<(Timestamp, RequestId)>,
    audit: BTreeMap<u64, AuditRecord>,
    /// Kept apart from `audit`, as in sled.
    head: Option<(u64, String)>,
    outbox_last: u64,
    outbox: BTreeMap<u64, OutboxEntry>,
    /// Keyed by platform name, so cards come out in the same order as from sled.
    cards: BTreeMap<(RequestId, &'static str), CardRef>,
    seen: BTreeMap<String, Timestamp>,
    cursors: BTreeMap<String, u64>,
    tallies: BTreeMap<String, u32>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the state. A poisoned lock means a panic mid-write, so the state is not trusted.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::backend("in-memory store", "its lock is poisoned"))
    }
}

impl Inner {
    /// Checks a create (`expected == None`) or CAS update and returns the new version, writing
    /// nothing; `put` writes once every check has passed.
    fn check(&self, expected: Option<u64>, id: RequestId) -> Result<u64, StoreError> {
        match (expected, self.requests.get(&id)) {
            (None, Some(_)) => Err(StoreError::Exists(id)),
            (None, None) => Ok(1),
            (Some(_), None) => Err(StoreError::Missing(id)),
            (Some(want), Some((have, _, _))) if *have != want => Err(StoreError::Conflict(id)),
            (Some(_), Some((have, _, _))) => Ok(have + 1),
        }
    }

    fn put(&mut self, version: u64, req: &AccessRequest) {
        let deadline = req.next_deadline();
        let old = self
            .requests
            .insert(req.id, (version, deadline, req.clone()));
        if let Some((_, Some(at), _)) = old {
            self.deadlines.remove(&(at, req.id));
        }
        if let Some(at) = deadline {
            self.deadlines.insert((at, req.id));
        }
        self.last_id = self.last_id.max(req.id.0);
    }

    fn chain(&mut self, draft: AuditDraft, at: Timestamp) -> AuditRecord {
        let (seq, prev) = match &self.head {
            Some((seq, hash)) => (seq + 1, hash.clone()),
            None => (1, GENESIS_HASH.to_string()),
        };
        let record = AuditRecord::chain(draft, seq, at, &prev);
        self.audit.insert(seq, record.clone());
        self.head = Some((seq, record.hash.clone()));
        record
    }

    fn push_outbox(&mut self, items: &[OutboxItem], at: Timestamp) {
        for item in items {
            self.outbox_last += 1;
            let entry = OutboxEntry::new(self.outbox_last, item.clone(), at);
            self.outbox.insert(entry.key, entry);
        }
    }

    fn write(
        &mut self,
        expected: Option<u64>,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        let version = self.check(expected, req.id)?;
        self.put(version, req);
        let audit = self.chain(audit, at);
        self.push_outbox(outbox, at);
        Ok(Committed { version, audit })
    }
}

impl Store for MemStore {
    fn next_id(&self) -> Result<RequestId, StoreError> {
        let mut inner = self.lock()?;
        inner.last_id += 1;
        Ok(RequestId(inner.last_id))
    }

    fn submit(
        &self,
        s: &Submission<'_>,
        build: BuildRecord<'_>,
    ) -> Result<SubmitOutcome, StoreError> {
        let mut inner = self.lock()?;
        inner.seen.retain(|_, at| *at >= s.forget_before);
        if s.dedupe.is_some_and(|k| inner.seen.contains_key(k)) {
            return Ok(SubmitOutcome::Duplicate);
        }
        let today = inner.tallies.get(s.tally).copied().unwrap_or(0);
        let id = RequestId(inner.last_id + 1);
        let record = match build(id, today) {
            Ok(record) if record.request.id == id => record,
            Ok(record) => {
                return Err(StoreError::Corrupt(format!(
                    "a new request was built as #{} instead of #{id}",
                    record.request.id
                )));
            }
            Err(e) => return Ok(SubmitOutcome::Refused(e)),
        };
        let committed = inner.write(
            None,
            &record.request,
            record.audit.clone(),
            s.at,
            &record.outbox,
        )?;
        if let Some(key) = s.dedupe {
            inner.seen.insert(key.to_string(), s.at);
        }
        if record.request.auto_approved {
            inner.tallies.insert(s.tally.to_string(), today + 1);
        }
        Ok(SubmitOutcome::Stored {
            record: Box::new(record),
            committed,
        })
    }

    fn create(
        &self,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        self.lock()?.write(None, req, audit, at, outbox)
    }

    fn update(
        &self,
        expected_version: u64,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError> {
        self.lock()?
            .write(Some(expected_version), req, audit, at, outbox)
    }

    fn get(&self, id: RequestId) -> Result<Option<Versioned<AccessRequest>>, StoreError> {
        Ok(self
            .lock()?
            .requests
            .get(&id)
            .map(|(version, _, req)| Versioned {
                version: *version,
                value: req.clone(),
            }))
    }

    fn list(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError> {
        let inner = self.lock()?;
        let all = inner.requests.values().map(|(version, _, req)| Versioned {
            version: *version,
            value: req.clone(),
        });
        Ok(all.collect())
    }

    fn list_open(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError> {
        let inner = self.lock()?;
        let mut ids: Vec<RequestId> = inner.deadlines.iter().map(|(_, id)| *id).collect();
        ids.sort();
        let open = ids
            .iter()
            .filter_map(|id| inner.requests.get(id))
            .map(|(version, _, req)| Versioned {
                version: *version,
                value: req.clone(),
            });
        Ok(open.collect())
    }

    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let inner = self.lock()?;
        let due = inner.deadlines.iter().take_while(|(at, _)| *at <= now);
        Ok(due.take(limit).map(|(_, id)| *id).collect())
    }

    fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.lock()?.deadlines.first().map(|(at, _)| *at))
    }

    fn append_audit(&self, audit: AuditDraft, at: Timestamp) -> Result<AuditRecord, StoreError> {
        Ok(self.lock()?.chain(audit, at))
    }

    fn audit_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .audit
            .range(from..)
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn audit_page(&self, from: u64, limit: usize) -> Result<AuditPage, StoreError> {
        let inner = self.lock()?;
        let mut stored = inner.audit.range(from..);
        let records = stored
            .by_ref()
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect();
        let next = stored.next().map(|(seq, _)| *seq);
        Ok(AuditPage { records, next })
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<AuditPage, StoreError> {
        let inner = self.lock()?;
        let records = inner
            .audit
            .range(from..to.max(from))
            .map(|(_, r)| r.clone())
            .collect();
        let next = inner.audit.range(to..).next().map(|(seq, _)| *seq);
        Ok(AuditPage { records, next })
    }

    fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self.lock()?.head.clone())
    }

    fn outbox_all(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.lock()?.outbox.values().cloned().collect())
    }

    fn outbox_len(&self) -> Result<usize, StoreError> {
        Ok(self.lock()?.outbox.len())
    }

    fn outbox_from(&self, from: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .outbox
            .range(from..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn outbox_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        // A missing entry was delivered meanwhile; there is nothing to postpone.
        if let Some(stored) = self.lock()?.outbox.get_mut(&entry.key) {
            *stored = entry.clone();
        }
        Ok(())
    }

    fn outbox_done(&self, key: u64) -> Result<(), StoreError> {
        self.lock()?.outbox.remove(&key);
        Ok(())
    }

    fn put_card(&self, id: RequestId, card: &CardRef) -> Result<(), StoreError> {
        self.lock()?
            .cards
            .insert((id, card.platform.as_str()), card.clone());
        Ok(())
    }

    fn cards(&self, id: RequestId) -> Result<Vec<CardRef>, StoreError> {
        let inner = self.lock()?;
        let of_request = inner.cards.iter().filter(|((rid, _), _)| *rid == id);
        Ok(of_request.map(|(_, card)| card.clone()).collect())
    }

    fn seen_once(
        &self,
        key: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        // Forget first, as the sled store does, so both answer the same for old keys.
        inner.seen.retain(|_, at| *at >= forget_before);
        if inner.seen.contains_key(key) {
            return Ok(true);
        }
        inner.seen.insert(key.to_string(), now);
        Ok(false)
    }

    fn cursor(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.lock()?.cursors.get(name).copied().unwrap_or(0))
    }

    fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.lock()?.cursors.insert(name.to_string(), value);
        Ok(())
    }
}
