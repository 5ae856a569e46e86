//! The use cases: load → decide (pure) → carry out effects in a crash-safe order → commit by
//! compare-and-swap → queue chat messages. Every entry point ends in exactly one audit event per
//! transition.
//!
//! Ordering rules, so that a crash at any point never leaves access behind a record that says
//! it has ended (the deadline worker and the reconcile sweep resume from what is stored):
//! - approval: persist `Approved` → create bindings → persist `Active`;
//! - expiry, revoke, failure: delete bindings (404 is success) → persist the final state.
//!
//! `transitions.rs` commits one transition at a time; `effects.rs` carries out what follows.

mod api;
mod breakglass;
mod commands;
mod counted;
mod counting;
mod effects;
pub mod limit;
mod reconcile;
mod timers;
pub mod tokens;
mod transitions;
mod watch;

pub use commands::Reply;
pub use counted::CountedReviewer;
pub use reconcile::{ReconcileAction, ReconcileReport};
pub use timers::{DUE_BATCH, DueReport};

use crate::domain::DomainError;
use crate::domain::identity::Platform;
use crate::domain::ids::{InstanceId, RequestId};
use crate::domain::policy::Policy;
use crate::domain::request::{AccessRequest, State};
use crate::metrics::Metrics;
use crate::ports::{Clock, Cluster, ClusterError, Store, StoreError};
use crate::store::threads::{DEFAULT_THREADS, StoreThreads};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Service failures: an expected refusal, or an adapter failing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain refused (policy, state, permissions). Shown to the user as is.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kubernetes failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A compare-and-swap kept losing against concurrent writers.
    #[error("request #{0} is changing too fast; try again in a moment")]
    Contended(crate::domain::ids::RequestId),
}

/// Result alias for the service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where each platform posts approval cards by default (a role may override it).
#[derive(Debug, Clone, Default)]
pub struct ChatTargets {
    /// Platform → default approvers channel id.
    pub approvers_channels: BTreeMap<Platform, String>,
}

/// Store figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open (pending, approved, active) requests by state.
    pub open: BTreeMap<State, i64>,
    /// Messages waiting in the outbox.
    pub outbox_backlog: usize,
    /// Records in the audit chain.
    pub audit_records: u64,
}

/// The jitpe use cases, over the ports. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    /// The store, reached only through its own threads (never on the async runtime).
    pub(crate) db: StoreThreads,
    pub(crate) cluster: Arc<dyn Cluster>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) chat: ChatTargets,
    /// Which installation this is: in the names and labels of every object it manages.
    pub(crate) instance: InstanceId,
    /// Wakes the expiry worker when a new deadline may be earlier than the one it sleeps on.
    pub(crate) wake: Arc<Notify>,
    /// Wakes the outbox worker when a commit queued chat messages.
    pub(crate) outbox_wake: Arc<Notify>,
    /// How many due deadlines are handled at once.
    pub(crate) in_flight: usize,
    /// Caps the refusals this service audits (refused commands, events and clicks of people
    /// jitpe knows), as the inbound pipeline caps the ones it refuses itself.
    pub(crate) refusals: Arc<limit::RefusalLimiter>,
    /// Bumped after every commit that may have changed which grants are active, so the watch
    /// and Ingress feed workers reload [`Service::active_grants`] only when it moved.
    pub(crate) grants_generation: Arc<AtomicU64>,
    /// The lifecycle counters and expiry lateness (`/metrics`), shared with the rest of the
    /// process through [`Service::metrics`].
    pub(crate) metrics: Arc<Metrics>,
}

impl Service {
    /// Builds the service. `chat` lists the enabled chat platforms and their channels; messages
    /// for other platforms are not queued.
    pub fn new(
        store: Arc<dyn Store>,
        cluster: Arc<dyn Cluster>,
        clock: Arc<dyn Clock>,
        policy: Arc<Policy>,
        chat: ChatTargets,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        Self {
            db: StoreThreads::start(store, DEFAULT_THREADS),
            cluster: Arc::new(counted::CountedCluster::new(cluster, metrics.clone())),
            clock,
            policy,
            chat,
            instance: InstanceId::default(),
            wake: Arc::new(Notify::new()),
            outbox_wake: Arc::new(Notify::new()),
            in_flight: timers::DEFAULT_IN_FLIGHT,
            refusals: Arc::default(),
            grants_generation: Arc::default(),
            metrics,
        }
    }

    /// The metrics this service counts into; the wiring hands the same to every other part.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The same service ending at most `n` due deadlines at once (`kubernetes.max_in_flight`).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// The same service as installation `instance` (default `jitpe`): it creates, deletes and
    /// reconciles only objects labelled with it.
    pub fn with_instance(mut self, instance: InstanceId) -> Self {
        self.instance = instance;
        self
    }

    /// The same service with `threads` store threads (`store.threads`).
    pub fn with_store_threads(mut self, threads: usize) -> Self {
        self.db = StoreThreads::start(self.db.store().clone(), threads);
        self
    }

    /// The installation this service manages objects for.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The store, for tests and benchmarks only: everything else goes through the use cases.
    #[cfg(any(test, feature = "testing"))]
    pub fn store(&self) -> &Arc<dyn Store> {
        self.db.store()
    }

    /// The store threads, for the workers and the wiring inside the crate.
    pub(crate) fn store_threads(&self) -> &StoreThreads {
        &self.db
    }

    /// One request as stored now.
    pub async fn get(&self, id: RequestId) -> Result<AccessRequest> {
        Ok(self.load(id).await?.value)
    }

    /// The earliest deadline any request waits for, read from the deadline index.
    pub async fn next_deadline(&self) -> Result<Option<jiff::Timestamp>> {
        Ok(self.db.run(|s| s.next_deadline()).await?)
    }

    /// What `/metrics` shows of the store. Reads the open requests (through the deadline index,
    /// so history does not count) and the outbox: the health worker calls it now and then and
    /// `/metrics` shows the last result, so scrapes never wait for the store.
    pub async fn gauges(&self) -> Result<Gauges> {
        let gauges = self
            .db
            .run(|s| {
                let mut open = BTreeMap::new();
                for r in s.list_open()? {
                    *open.entry(r.value.state).or_default() += 1;
                }
                Ok(Gauges {
                    open,
                    outbox_backlog: s.outbox_len()?,
                    audit_records: s.audit_head()?.map_or(0, |(seq, _)| seq),
                })
            })
            .await?;
        Ok(gauges)
    }

    /// The Active requests, read through the deadline index (history does not count). Pair it
    /// with [`Service::grants_generation`]: read the generation first, then the grants, and
    /// read again once the generation moved.
    pub async fn active_grants(&self) -> Result<Vec<AccessRequest>> {
        let open = self.db.run(|s| s.list_open()).await?;
        Ok(open
            .into_iter()
            .map(|v| v.value)
            .filter(|r| r.state == State::Active)
            .collect())
    }

    /// A number that changes after every commit that may have activated or ended a grant.
    pub fn grants_generation(&self) -> u64 {
        self.grants_generation.load(Ordering::Acquire)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The signal the expiry worker waits on besides its timer.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The signal the outbox worker waits on besides its timer: notified after every commit
    /// that queued chat messages.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod effects_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod refusal_tests;
#[cfg(test)]
mod tier_tests;
