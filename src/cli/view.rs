//! [`StoreView`], what the read-only commands read, and its implementation for a store that
//! nothing else writes to (the one for a running `serve` is `admin_client.rs`).

use super::pages;
use crate::domain::audit::AuditRecord;
use crate::domain::request::AccessRequest;
use crate::ports::Store;

/// What the read-only commands read.
pub trait StoreView {
    /// Calls `each` on the audit records in storage order, with whether each one's own hash
    /// matches (checked when `hash` is set, else `true`), and returns the stored head
    /// `(seq, hash)` that goes with them: on a store nothing else writes to, every record and
    /// the head; through a running `serve`, the records up to the head it had when asked.
    fn audit_log(
        &self,
        hash: bool,
        each: &mut dyn FnMut(&AuditRecord, bool) -> anyhow::Result<()>,
    ) -> anyhow::Result<Option<(u64, String)>>;

    /// The pending, approved and active requests, by id.
    fn open_requests(&self) -> anyhow::Result<Vec<AccessRequest>>;
}

impl<S: Store + ?Sized> StoreView for S {
    /// Every record, then the head: nothing appends meanwhile, and a record stored past the
    /// head (only tampering puts one there) is read and named too.
    fn audit_log(
        &self,
        hash: bool,
        each: &mut dyn FnMut(&AuditRecord, bool) -> anyhow::Result<()>,
    ) -> anyhow::Result<Option<(u64, String)>> {
        pages::each_record(self, hash, each)?;
        Ok(self.audit_head()?)
    }

    fn open_requests(&self) -> anyhow::Result<Vec<AccessRequest>> {
        Ok(self.list_open()?.into_iter().map(|r| r.value).collect())
    }
}
