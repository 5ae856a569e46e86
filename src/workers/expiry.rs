//! The expiry worker: the one place that ends access on time. Each unit of work handles every
//! deadline due now (pending timeouts, activation retries, warnings, expiries), then sleeps
//! until the earliest deadline in the store, or until the service signals a new one.

use super::{MAX_SLEEP, Worker, WorkerError, WorkerState};
use crate::service::Service;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Handles due deadlines; woken by [`Service::wake_signal`] when a commit may have added an
/// earlier one.
pub struct Expiry {
    service: Service,
}

impl Expiry {
    /// The expiry worker of `service`.
    pub fn new(service: Service) -> Self {
        Self { service }
    }

    /// How long until the earliest deadline, at most [`MAX_SLEEP`] so a clock jump costs little.
    async fn until_next_deadline(&self) -> Result<Duration, WorkerError> {
        let Some(t) = self.service.next_deadline().await? else {
            return Ok(MAX_SLEEP);
        };
        let left = t.duration_since(self.service.clock().now());
        // A deadline in the past converts to an error: it is due now.
        Ok(Duration::try_from(left)
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP))
    }
}

#[async_trait]
impl Worker for Expiry {
    fn name(&self) -> &'static str {
        "expiry"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        let report = self.service.run_due().await?;
        if report.failed > 0 {
            // Each failure was logged with its request id; back off before retrying them.
            return Err(WorkerError::DueFailed {
                failed: report.failed,
            });
        }
        if report.more {
            // A full batch: more deadlines may be due already, so go on without sleeping.
            return Ok(WorkerState::Busy);
        }
        Ok(WorkerState::Idle {
            until: self.until_next_deadline().await?,
        })
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.service.wake_signal())
    }
}
