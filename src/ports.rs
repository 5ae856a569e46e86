//! The ports: the few traits through which the service reaches the outside world. Adapters
//! implement them one file each (`crate::chat`, `crate::kube`, `crate::store`, `crate::clock`);
//! tests use the in-memory ones (`crate::store::memory`, `crate::testing`).

use crate::domain::audit::{AuditDraft, AuditRecord};
use crate::domain::grant::PlannedBinding;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::{InstanceId, RequestId};
use crate::domain::request::AccessRequest;
use crate::domain::text::Text;
use crate::domain::view::RequestView;
use async_trait::async_trait;
use jiff::Timestamp;
use std::path::PathBuf;
use std::time::Duration;

mod ingress;
mod outbox;
mod tokens;
pub use ingress::{IngressEvent, IngressSink, IngressWatch, SinkClosed};
pub use outbox::{CardRef, OutboxEntry, OutboxItem, OutboxMessage};
pub use tokens::{DEFAULT_AUDIENCE, Reviewed, TokenError, TokenReviewer};

/// A value with the version it was stored at; updates compare-and-swap on the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// Starts at 1 on create and grows by one per update.
    pub version: u64,
    /// The stored value.
    pub value: T,
}

/// What a committed write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The request's new version (0 for an audit-only append).
    pub version: u64,
    /// The chained audit record written in the same transaction.
    pub audit: AuditRecord,
}

/// The failure of an adapter's database, boxed so the port does not depend on the adapter's crate.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read: reload and decide again.
    #[error("request #{0} was changed concurrently; reload it and try again")]
    Conflict(RequestId),
    /// `create` found the id taken.
    #[error("request #{0} already exists")]
    Exists(RequestId),
    /// There is no such request.
    #[error("request #{0} does not exist")]
    Missing(RequestId),
    /// Another process holds the store's directory. Only one jitpe may use a data directory.
    #[error(
        "the store at {} is locked by another process: jitpe serve may be running and holding \
         it. Only one jitpe may use a data directory at a time: run this where the store is not \
         in use (scale jitpe to 0, or use a copy of the data directory), and deploy jitpe with \
         strategy: Recreate",
        path.display()
    )]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// The database failed. The message repeats the cause because logs print errors with
    /// `Display` only; `source` keeps it reachable for callers that inspect the chain.
    #[error("store failure: {context}: {source}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The database's own error.
        #[source]
        source: BoxError,
    },
    /// A stored value could not be decoded (corruption or an incompatible version). Never a
    /// lock: a damaged store is not fixed by stopping another jitpe.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A [`StoreError::Backend`] for `source` while doing `context`.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// How [`Store::submit`] stores a new request: its idempotency key and the auto-approval tally it
/// counts toward, checked and written in the same transaction as the request.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The platform's id of this invocation (e.g. a Slack `trigger_id`); a repeat stores nothing.
    pub dedupe: Option<&'a str>,
    /// Idempotency keys first seen before this may be forgotten.
    pub forget_before: Timestamp,
    /// The tally of automatic approvals this request counts toward when the policy approves it
    /// by itself: one key per requester, role and UTC day.
    pub tally: &'a str,
    /// The commit time.
    pub at: Timestamp,
}

/// A new request with what is written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The request, with the id it was built for.
    pub request: AccessRequest,
    /// Its audit event.
    pub audit: AuditDraft,
    /// Its chat messages.
    pub outbox: Vec<OutboxItem>,
}

/// Builds a new request as id `RequestId` given the tally so far, or refuses it. Pure: sled may
/// run it again when the transaction conflicts.
pub type BuildRecord<'a> =
    &'a (dyn Fn(RequestId, u32) -> Result<NewRecord, crate::domain::DomainError> + Sync);

/// One page of the audit log (`Store::audit_page`).
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    /// The records, in storage order.
    pub records: Vec<AuditRecord>,
    /// The position to read from next; `None` when the log has no more records.
    pub next: Option<u64>,
}

/// What [`Store::submit`] did.
#[derive(Debug)]
pub enum SubmitOutcome {
    /// Stored durably as `record`.
    Stored {
        /// What was stored.
        record: Box<NewRecord>,
        /// Its version and audit record.
        committed: Committed,
    },
    /// The idempotency key was seen before: nothing was stored.
    Duplicate,
    /// The builder refused: nothing was stored.
    Refused(crate::domain::DomainError),
}

/// The persistent state: versioned requests with a deadline index, the hash-chained audit log,
/// the outbox, card references and small cursors. Synchronous, like sled; every write commits
/// in one transaction and is flushed before it returns.
pub trait Store: Send + Sync {
    /// Allocates the next request id (1, 2, 3, … never reused).
    fn next_id(&self) -> Result<RequestId, StoreError>;
    /// Stores a new request in one durable commit: checks the idempotency key, reads the tally,
    /// allocates the id, builds the record with `build`, and writes the request, its deadline,
    /// audit record, outbox items, the key and (if auto-approved) the tally increment together.
    fn submit(
        &self,
        submission: &Submission<'_>,
        build: BuildRecord<'_>,
    ) -> Result<SubmitOutcome, StoreError>;
    /// Stores a new request (version 1) with its audit event and outbox items.
    fn create(
        &self,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError>;
    /// Replaces a request if it is still at `expected_version` (compare-and-swap), with its audit
    /// event and outbox items, and moves its deadline index entry.
    fn update(
        &self,
        expected_version: u64,
        req: &AccessRequest,
        audit: AuditDraft,
        at: Timestamp,
        outbox: &[OutboxItem],
    ) -> Result<Committed, StoreError>;
    /// One request.
    fn get(&self, id: RequestId) -> Result<Option<Versioned<AccessRequest>>, StoreError>;
    /// Every request, by id (finished ones included: grows with history).
    fn list(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError>;
    /// The requests that are not final (pending, approved, active), by id. Read through the
    /// deadline index, which holds exactly these, so its cost does not grow with history.
    fn list_open(&self) -> Result<Vec<Versioned<AccessRequest>>, StoreError>;
    /// Ids whose next deadline is at or before `now`, earliest first, at most `limit`.
    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError>;
    /// The earliest deadline in the index, without scanning the requests.
    fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Appends an audit event that belongs to no transition (refusals, auth failures, reconcile).
    fn append_audit(&self, audit: AuditDraft, at: Timestamp) -> Result<AuditRecord, StoreError>;
    /// Audit records with `seq >= from`, in order, at most `limit`.
    fn audit_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// Up to `limit` audit records stored at positions `>= from`, in storage order, and the
    /// position to read next (`None` at the end). Positions are the store's keys, not the
    /// records' own `seq`, so a reader paging through a tampered log never skips a record.
    fn audit_page(&self, from: u64, limit: usize) -> Result<AuditPage, StoreError>;
    /// The audit records stored at positions in `from..to`, in storage order, and the first
    /// position at or after `to` that holds one (`None`: nothing is stored from `to` on).
    /// Disjoint ranges can be read by several threads at once.
    fn audit_range(&self, from: u64, to: u64) -> Result<AuditPage, StoreError>;
    /// `(seq, hash)` of the newest audit record, kept apart from the log so truncation shows.
    fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// Every outbox entry in FIFO order (operators and tests; the worker pages).
    fn outbox_all(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// How many outbox entries wait, without decoding them.
    fn outbox_len(&self) -> Result<usize, StoreError>;
    /// Up to `limit` outbox entries with `key >= from`, in FIFO order. Keys only grow, so a
    /// reader that resumes after the last key it saw misses nothing.
    fn outbox_from(&self, from: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Stores a rescheduled entry (its `not_before` and delivery bookkeeping, under its key) if
    /// it still waits; one already removed stays removed.
    fn outbox_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError>;
    /// Removes a delivered entry.
    fn outbox_done(&self, key: u64) -> Result<(), StoreError>;
    /// Remembers where a request's card was posted (one per platform).
    fn put_card(&self, id: RequestId, card: &CardRef) -> Result<(), StoreError>;
    /// The cards of a request.
    fn cards(&self, id: RequestId) -> Result<Vec<CardRef>, StoreError>;
    /// Records `key` (e.g. a Slack `trigger_id`) as seen; returns `true` if it was seen before.
    /// Keys older than `forget_before` may be dropped.
    fn seen_once(
        &self,
        key: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, StoreError>;
    /// A named cursor (e.g. the last audit seq posted to a channel); 0 if unset.
    fn cursor(&self, name: &str) -> Result<u64, StoreError>;
    /// Sets a named cursor.
    fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError>;
}

/// The time source; tests use a manual clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

pub use crate::domain::grant::{ObjectKind, ObjectRef};
pub use crate::domain::policy::ClusterObject;

/// A jitpe-managed object found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedObject {
    /// RoleBinding or Role.
    pub kind: ObjectKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// From the `jitpe.io/request-id` label; `None` if missing or unreadable.
    pub request_id: Option<RequestId>,
    /// From the `jitpe.io/expires-at` annotation; `None` if missing or unreadable.
    pub expires_at: Option<Timestamp>,
}

impl ManagedObject {
    /// Which object this is, for deleting it.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Cluster failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The apiserver refused (403): jitpe's own RBAC does not allow it. Permanent.
    #[error("Kubernetes refused: {0}")]
    Forbidden(String),
    /// The object is invalid (422, 400) or refers to something missing. Permanent.
    #[error("Kubernetes rejected the object: {0}")]
    Invalid(String),
    /// The apiserver could not be reached or failed (5xx, timeouts). Retried.
    #[error("Kubernetes is unavailable: {0}")]
    Unavailable(String),
}

impl ClusterError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClusterError::Unavailable(_))
    }
}

/// The Kubernetes side: creating and deleting the objects of grants, and looking up what the
/// roles need.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Creates or updates (server-side apply) the planned objects; harmless to repeat.
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError>;
    /// Deletes the named objects in the order given (bindings before their Roles); an object
    /// already gone counts as deleted. Returns how many still existed.
    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError>;
    /// The objects of `instance` in all namespaces: labelled managed-by jitpe and with the
    /// instance label, and only those of `request` when it is given. Never another instance's.
    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError>;
    /// Whether a ClusterRole or Namespace a role needs exists (a GET by name: 404 is `false`).
    /// `Forbidden` means jitpe's RBAC does not let it read that object.
    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError>;
}

/// Chat failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// The platform asked us to slow down.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// Network trouble or a 5xx; retried with backoff.
    #[error("chat platform unavailable: {0}")]
    Unavailable(String),
    /// The call went out but no answer came back (a timeout, a dropped connection): the
    /// platform may have carried it out. Retried with backoff, so at-least-once.
    #[error("chat platform did not answer: {0}")]
    NoAnswer(String),
    /// The platform refused the call for good (bad token, unknown channel, invalid blocks).
    #[error("chat platform refused: {0}")]
    Refused(String),
}

/// A chat platform's outgoing side, as the workflow needs it. Rendering of the neutral
/// [`RequestView`] into Block Kit or attachments happens in the adapter.
#[async_trait]
pub trait Chat: Send + Sync {
    /// Which platform this is.
    fn platform(&self) -> Platform;
    /// Where cards go by default, and where a role override applies.
    fn approvers_channel(&self) -> &str;
    /// Where audit lines go.
    fn audit_channel(&self) -> &str;
    /// Posts an approval card; returns where it landed.
    async fn post_card(&self, channel: &str, view: &RequestView) -> Result<CardRef, ChatError>;
    /// Replaces a card in place.
    async fn update_card(&self, card: &CardRef, view: &RequestView) -> Result<(), ChatError>;
    /// Sends a direct message, rendered with the platform's one text function.
    async fn direct_message(&self, user: &Actor, text: &Text) -> Result<(), ChatError>;
    /// Posts one line to a channel (audit lines, chain heads).
    async fn post_line(&self, channel: &str, text: &str) -> Result<(), ChatError>;
}
