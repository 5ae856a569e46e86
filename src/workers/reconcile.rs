//! The reconcile worker: runs the sweep at start and then every interval, so access ends even
//! if the store was lost or jitpe was down at expiry time, tells `/readyz` whether the last
//! sweep reached the cluster (and if not, why), and times each sweep for `/metrics`.

use super::breakglass::Spool;
use super::{Worker, WorkerError, WorkerState};
use crate::service::Service;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the last sweep found of the cluster, for `/readyz`.
#[derive(Debug, Default)]
pub struct ClusterStatus {
    last: Mutex<Option<Result<(), String>>>,
}

impl ClusterStatus {
    /// The last sweep's result: `None` before the first finished, else why it failed.
    pub fn last(&self) -> Option<Result<(), String>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A status whose last sweep reached the cluster (for tests and benchmarks that have no
    /// reconcile worker).
    pub fn reached() -> Self {
        Self {
            last: Mutex::new(Some(Ok(()))),
        }
    }

    /// Keeps a sweep's result.
    pub fn set(&self, result: Result<(), String>) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// The periodic reconcile sweep.
pub struct Reconcile {
    service: Service,
    interval: Duration,
    cluster: Arc<ClusterStatus>,
    spool: Option<Spool>,
}

impl Reconcile {
    /// Sweeps every `interval`; `cluster` keeps each sweep's result.
    pub fn new(service: Service, interval: Duration, cluster: Arc<ClusterStatus>) -> Self {
        Self {
            service,
            interval,
            cluster,
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
        let started = Instant::now();
        let result = self.service.reconcile(false).await;
        let now = self.service.clock().now().as_millisecond() as f64 / 1000.0;
        let metrics = self.service.metrics();
        metrics.reconcile(started.elapsed(), result.is_ok(), now);
        self.cluster.set(match &result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        });
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
