//! The reconcile worker: runs the sweep at start and then every interval, so access ends even
//! if the store was lost or jitpe was down at expiry time, and tells `/readyz` whether the last
//! sweep reached the cluster.

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
}

impl Reconcile {
    /// Sweeps every `interval`; `cluster_ok` is set after each sweep (true when it succeeded).
    pub fn new(service: Service, interval: Duration, cluster_ok: Arc<AtomicBool>) -> Self {
        Self {
            service,
            interval,
            cluster_ok,
        }
    }
}

#[async_trait]
impl Worker for Reconcile {
    fn name(&self) -> &'static str {
        "reconcile"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
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
