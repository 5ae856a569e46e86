//! Deadline handling: pending timeouts, activation retries, expiry warnings, extension timeouts
//! and expiries, driven by the store's deadline index.

use super::{Error, Result, Service};
use crate::domain::DomainError;
use crate::domain::ids::RequestId;
use crate::domain::request::{Event, State};
use futures::StreamExt;
use tracing::{instrument, warn};

/// What one pass over due deadlines did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DueReport {
    /// Deadlines handled.
    pub handled: usize,
    /// Deadlines that failed and stay due (retried with backoff).
    pub failed: usize,
    /// The pass read a full batch: more may be due already.
    pub more: bool,
}

/// How many due deadlines one pass reads.
pub const DUE_BATCH: usize = 1024;

/// How many deadlines are handled at once unless configured otherwise.
pub const DEFAULT_IN_FLIGHT: usize = 32;

impl Service {
    /// Handles every deadline due now. Failures are logged and left due, so the next pass retries
    /// them; an expiry is never marked done before its bindings are deleted.
    ///
    /// Up to [`DUE_BATCH`] deadlines are read at a time and handled concurrently, at most
    /// `in_flight` at once (`kubernetes.max_in_flight`), so a thousand grants ending in the same
    /// minute end within that minute instead of queueing behind each other's API calls.
    pub async fn run_due(&self) -> Result<DueReport> {
        let mut report = DueReport::default();
        let now = self.clock.now();
        let ids = self.db.run(move |s| s.due(now, DUE_BATCH)).await?;
        report.more = ids.len() == DUE_BATCH;
        let results: Vec<_> = futures::stream::iter(ids)
            .map(|id| async move { (id, self.handle_due(id).await) })
            .buffer_unordered(self.in_flight)
            .collect()
            .await;
        for (id, result) in results {
            match result {
                Ok(()) => report.handled += 1,
                Err(e) => {
                    report.failed += 1;
                    warn!(request_id = %id, error = %e, "deadline not handled; will retry");
                }
            }
        }
        Ok(report)
    }

    /// Handles the due deadline of one request.
    #[instrument(skip_all, fields(request_id = %id))]
    pub async fn handle_due(&self, id: RequestId) -> Result<()> {
        let req = self.load(id).await?.value;
        let now = self.clock.now();
        let past = |t: Option<jiff::Timestamp>| t.is_some_and(|t| now >= t);
        let event = match req.state {
            State::Pending if now >= req.pending_until => Event::PendingTimeout,
            State::Approved => return self.activate(id).await,
            State::Active if past(req.expires_at) => Event::Expire,
            State::Active if past(req.extension.as_ref().map(|e| e.pending_until)) => {
                Event::ExtensionTimeout
            }
            State::Active if !req.warned && past(req.warn_at) => Event::WarnExpiry,
            _ => return Ok(()),
        };
        match self.apply(id, event).await {
            // Another writer (an overlapping pass, a revoke, a click) moved the request on
            // since it was read: this deadline no longer applies, and nothing is left to do.
            Err(Error::Domain(DomainError::AlreadyDecided { .. } | DomainError::NotDue(_))) => {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}
