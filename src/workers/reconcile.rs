//! The reconcile worker: runs the sweep at start and then every interval, so access ends even
//! if the store was lost or jitpe was down at expiry time, and tells `/readyz` whether the last
//! sweep reached the cluster.

use super::breakglass::Spool;
use super::{Worker, WorkerError, WorkerState};
use crate::service::Service;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The periodic reconcile sweep.
pub struct Reconcile {
    service: Service,
    interval: Duration,
    cluster_ok: Arc<AtomicBool>,
    spool: Option<Spool>,
}

impl Reconcile {
    /// Sweeps every `interval`; `cluster_ok` is set after each sweep (true when it succeeded).
    pub fn new(service: Service, interval: Duration, cluster_ok: Arc<AtomicBool>) -> Self {
        Self {
            service,
            interval,
            cluster_ok,
            spool: None,
        }
    }

    /// Drains the break-glass `spool` before each sweep, so bindings a `jitpe revoke` deleted
    /// are recorded as its operator's revocation, not as removed outside jitpe.
    pub fn with_spool(mut self, spool: Spool) -> Self {
        self.spool = Some(spool);
        self
    }
}

#[async_trait]
impl Worker for Reconcile {
    fn name(&self) -> &'static str {
        "reconcile"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        if let Some(spool) = &self.spool {
            spool.drain(&self.service).await?;
        }
        let result = self.service.reconcile(false).await;
        self.cluster_ok.store(result.is_ok(), Ordering::Relaxed);
        result?;
        Ok(WorkerState::Idle {
            until: self.interval,
        })
    }

    /// A failing sweep is retried no later than the next regular one would run.
    fn max_backoff(&self) -> Duration {
        self.interval
    }
}
