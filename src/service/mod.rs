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

mod commands;
mod effects;
mod reconcile;
mod timers;
mod transitions;

pub use commands::Reply;
pub use reconcile::{ReconcileAction, ReconcileReport};
pub use timers::DueReport;

use crate::domain::DomainError;
use crate::domain::identity::Platform;
use crate::domain::ids::InstanceId;
use crate::domain::policy::Policy;
use crate::ports::{Clock, Cluster, ClusterError, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
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

/// The jitpe use cases, over the ports. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cluster: Arc<dyn Cluster>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) chat: ChatTargets,
    /// Which installation this is: in the names and labels of every object it manages.
    pub(crate) instance: InstanceId,
    /// Wakes the expiry worker when a new deadline may be earlier than the one it sleeps on.
    pub(crate) wake: Arc<Notify>,
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
        Self {
            store,
            cluster,
            clock,
            policy,
            chat,
            instance: InstanceId::default(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The same service as installation `instance` (default `jitpe`): it creates, deletes and
    /// reconciles only objects labelled with it.
    pub fn with_instance(mut self, instance: InstanceId) -> Self {
        self.instance = instance;
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

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The signal the expiry worker waits on besides its timer.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod effects_tests;
