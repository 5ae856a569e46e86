//! The Ingress change feed: while any grant is Active in a namespace, jitpe watches the
//! Ingresses there and audits each create, update and delete (`ingress_changed`, so the audit
//! feed posts it to the audit channels) with who made it and what changed
//! (`domain::anomaly::diff_ingress`).
//!
//! One unit of work: reload the Active grants when [`Service::grants_generation`] moved and
//! start or stop one watch per namespace (a watch starts with the namespace's first grant and
//! stops with its last); take what the watches delivered; audit every change whose writer is
//! known or whose wait is over. The writer comes from the audit stream ([`RecentWriters`]);
//! since its batch can arrive after the watch event (batch max wait 1 s), a change waits up to
//! [`WRITER_WAIT`] for it, without holding up changes to other Ingresses, and then falls back to
//! the field manager of the Ingress's newest `managedFields` entry (written `field manager
//! kubectl-edit`, so nobody takes it for a user name). A deletion has no field manager of its
//! own; without the audit stream its writer is `unknown`.

pub mod writers;

use super::{Worker, WorkerError, WorkerState};
use crate::domain::anomaly::{IngressChange, diff_ingress};
use crate::domain::audit::AuditDraft;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::ports::{IngressEvent, IngressSink, IngressWatch};
use crate::service::Service;
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::info;
pub use writers::{RecentWriters, Writer};

/// How often the grants generation is looked at.
pub const POLL: Duration = Duration::from_secs(1);

/// How long a change waits for its writer from the audit stream (the apiserver's batch max
/// wait is 1 s; the rest is delivery and evaluation).
pub const WRITER_WAIT: Duration = Duration::from_secs(3);

/// Changes queued between the watches and the worker; a watch waits while it is full.
const QUEUE: usize = 1024;

/// Changes taken from the queue per unit of work, so the worker yields under a burst.
const BATCH: usize = 256;

/// Changes waiting for their writer at most; beyond it the queue fills and the watches wait,
/// so a flood of changes cannot grow the worker's memory.
const MAX_PENDING: usize = 4096;

/// The grantees of one namespace: (request, Kubernetes user).
type Grantees = Vec<(RequestId, String)>;

/// A change waiting for its writer.
struct Pending {
    event: IngressEvent,
    change: IngressChange,
    until: Instant,
}

/// The change feed worker.
pub struct IngressFeed {
    service: Service,
    watch: Arc<dyn IngressWatch>,
    writers: RecentWriters,
    writer_wait: Duration,
    generation: Option<u64>,
    grantees: BTreeMap<String, Grantees>,
    watches: BTreeMap<String, JoinHandle<()>>,
    sink: IngressSink,
    changes: mpsc::Receiver<IngressEvent>,
    wake: Arc<Notify>,
    pending: VecDeque<Pending>,
}

impl IngressFeed {
    /// A feed over `watch`, naming writers from `writers` (which the watch worker fills).
    pub fn new(service: Service, watch: Arc<dyn IngressWatch>, writers: RecentWriters) -> Self {
        let (sink, changes, wake) = IngressSink::new(QUEUE);
        Self {
            service,
            watch,
            writers,
            writer_wait: WRITER_WAIT,
            generation: None,
            grantees: BTreeMap::new(),
            watches: BTreeMap::new(),
            sink,
            changes,
            wake,
            pending: VecDeque::new(),
        }
    }

    /// The same feed waiting at most `wait` for a writer (default [`WRITER_WAIT`]).
    pub fn with_writer_wait(mut self, wait: Duration) -> Self {
        self.writer_wait = wait;
        self
    }

    /// The namespaces watched now.
    pub fn watched(&self) -> Vec<String> {
        self.watches.keys().cloned().collect()
    }

    /// Reloads the Active grants if the generation moved, and starts and stops watches to match.
    async fn reload(&mut self) -> Result<(), WorkerError> {
        // NB: the generation is read before the grants, so a commit in between reloads again.
        let generation = self.service.grants_generation();
        if self.generation == Some(generation) {
            return Ok(());
        }
        let mut grantees: BTreeMap<String, Grantees> = BTreeMap::new();
        for g in self.service.active_grants().await? {
            let users = grantees.entry(g.namespace.to_string()).or_default();
            users.push((g.id, g.subject.user.clone()));
        }
        self.watches.retain(|ns, task| {
            let keep = grantees.contains_key(ns);
            if !keep {
                info!(namespace = %ns, "no grant left: the Ingress watch stops");
                task.abort();
            }
            keep
        });
        for ns in grantees.keys() {
            if !self.watches.contains_key(ns) {
                info!(namespace = %ns, "a grant is active: the Ingress watch starts");
                let watch = self.watch.watch(ns.clone(), self.sink.clone());
                self.watches.insert(ns.clone(), tokio::spawn(watch));
            }
        }
        self.grantees = grantees;
        self.generation = Some(generation);
        Ok(())
    }

    /// Takes up to [`BATCH`] delivered changes; true if more are waiting and there is room.
    fn take(&mut self) -> bool {
        for _ in 0..BATCH {
            if self.pending.len() >= MAX_PENDING {
                return false;
            }
            let Ok(event) = self.changes.try_recv() else {
                return false;
            };
            let change = diff_ingress(event.before.as_ref(), event.after.as_ref());
            // A status write (the controller's load balancer address) or a new version alone.
            if !change.is_change() {
                continue;
            }
            let wait = if self.writers.listening() {
                self.writer_wait
            } else {
                Duration::ZERO
            };
            self.pending.push_back(Pending {
                event,
                change,
                until: Instant::now() + wait,
            });
        }
        !self.changes.is_empty() && self.pending.len() < MAX_PENDING
    }

    /// Audits every pending change whose writer is known or whose wait is over, in order for
    /// each Ingress; returns when the next waiting one gives up.
    async fn post_ready(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut waiting: Vec<(String, String)> = Vec::new();
        let mut next: Option<Instant> = None;
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.pending[i];
            let key = (p.event.namespace.clone(), p.event.name.clone());
            let writer = match waiting.contains(&key) {
                // NB: a later change to the same Ingress waits behind the earlier one.
                true => None,
                false => self.writers.who(&key.0, &key.1, &p.event.resource_version),
            };
            if writer.is_none() && (waiting.contains(&key) || now < p.until) {
                next = Some(next.map_or(p.until, |n| n.min(p.until)));
                waiting.push(key);
                i += 1;
                continue;
            }
            let Some(p) = self.pending.remove(i) else {
                break;
            };
            self.service.audit(self.draft(&p, writer)).await;
        }
        next
    }

    /// The audit record of one change.
    fn draft(&self, p: &Pending, writer: Option<Writer>) -> AuditDraft {
        let e = &p.event;
        let (by, request) = match &writer {
            Some(w) => (w.to_string(), self.grant_of(&e.namespace, w)),
            None => {
                let manager = e.after.as_ref().and_then(|a| a.field_manager.as_deref());
                let by = manager.map_or("unknown".to_string(), |m| format!("field manager {m}"));
                (by, None)
            }
        };
        AuditDraft::new(Actor::system(), "ingress_changed", request)
            .with("namespace", &e.namespace)
            .with("ingress", &e.name)
            .with("change", p.change.kind)
            .with("by", by)
            .with("summary", &p.change.summary)
    }

    /// The Active grant of `writer` in `namespace`, if the writer is a grantee there.
    fn grant_of(&self, namespace: &str, writer: &Writer) -> Option<RequestId> {
        let grantees = self.grantees.get(namespace)?;
        grantees
            .iter()
            .find(|(_, user)| writer.is(user))
            .map(|(id, _)| *id)
    }
}

impl Drop for IngressFeed {
    fn drop(&mut self) {
        // The watches are tasks of their own; without this they would outlive the worker.
        for task in self.watches.values() {
            task.abort();
        }
    }
}

#[async_trait]
impl Worker for IngressFeed {
    fn name(&self) -> &'static str {
        "ingress_feed"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        self.reload().await?;
        let more = self.take();
        let next = self.post_ready().await;
        if more {
            return Ok(WorkerState::Busy);
        }
        let until = next.map_or(POLL, |n| {
            n.saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(10), POLL)
        });
        Ok(WorkerState::Idle { until })
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }

    fn max_backoff(&self) -> Duration {
        // The grants are re-read after a store failure; a watch keeps running meanwhile.
        Duration::from_secs(10)
    }
}

#[cfg(test)]
mod tests;
