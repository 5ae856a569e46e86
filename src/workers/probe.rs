//! The store probe: reads the store's gauges now and then on the store threads and keeps the
//! last answer, so `/readyz` and `/metrics` answer at once from memory and never wait behind
//! store work (a busy store shows up as a stale or failed probe, not as a hanging health check).

use super::{Worker, WorkerError, WorkerState};
use crate::domain::request::State;
use crate::metrics::{Metrics, StoreFigures};
use crate::service::{Gauges, Service};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the store is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

/// A probe that takes longer than this counts as a store that does not answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The last probe's result: the gauges, or why the store did not answer.
#[derive(Debug, Default)]
pub struct StoreStatus {
    last: Mutex<Option<Result<Gauges, String>>>,
}

impl StoreStatus {
    /// The last result; `None` before the first probe finished.
    pub fn last(&self) -> Option<Result<Gauges, String>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the gauges of `service`'s store now (within [`PROBE_TIMEOUT`]) and keeps them.
    pub async fn probe(&self, service: &Service) {
        let result = match tokio::time::timeout(PROBE_TIMEOUT, service.gauges()).await {
            Ok(Ok(gauges)) => Ok(gauges),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the store did not answer within {}s",
                PROBE_TIMEOUT.as_secs()
            )),
        };
        show(service.metrics(), &result);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// Puts a probe's figures into the metrics (a failed probe shows as an unreadable store).
fn show(metrics: &Metrics, result: &Result<Gauges, String>) {
    let Ok(gauges) = result else {
        metrics.store(None);
        return;
    };
    let open = [State::Pending, State::Approved, State::Active]
        .map(|s| (s.as_str(), gauges.open.get(&s).copied().unwrap_or(0)));
    metrics.store(Some(StoreFigures {
        open: &open,
        outbox_depth: gauges.outbox_backlog,
        audit_records: gauges.audit_records,
    }));
}

/// Probes the store of `service` into `status`.
pub struct Probe {
    service: Service,
    status: Arc<StoreStatus>,
}

impl Probe {
    /// A probe of `service`'s store that reports into `status`.
    pub fn new(service: Service, status: Arc<StoreStatus>) -> Self {
        Self { service, status }
    }
}

#[async_trait]
impl Worker for Probe {
    fn name(&self) -> &'static str {
        "store-probe"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        self.status.probe(&self.service).await;
        Ok(WorkerState::Idle { until: PROBE_EVERY })
    }
}
