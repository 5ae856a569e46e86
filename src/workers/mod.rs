//! Background work, after garage's `Worker`: each background job is a [`Worker`] that does one
//! unit of work per call and says when it wants to run again; one runner ([`run`], [`spawn`])
//! drives every worker the same way. The runner owns the loop: it sleeps while a worker is idle,
//! wakes early when the worker's [`Notify`] fires, backs off exponentially while it fails, logs
//! errors instead of unwrapping, catches a panicking unit of work as an error (an expiry worker
//! that ended quietly would leave access in place) and stops on the shutdown signal.
//!
//! The workers: [`expiry`] (ends access on time), [`reconcile`] (the periodic sweep),
//! [`outbox`] (chat delivery), [`audit_feed`] (the audit channels), [`probe`] (the store
//! figures behind `/readyz` and `/metrics`), [`breakglass`] (records `jitpe revoke` run while
//! `serve` holds the store) and [`role_check`] (whether what each role binds
//! exists in the cluster, for `/readyz` and the log), [`ingress_feed`] (audits each Ingress
//! change in namespaces with an Active grant), [`cert_reload`] (the https listener's certificate,
//! re-read when its files change).

pub mod audit_feed;
pub mod breakglass;
pub mod cert_reload;
pub mod expiry;
pub mod ingress_feed;
pub mod outbox;
pub mod probe;
pub mod reconcile;
pub mod role_check;
pub mod watch;

use crate::ports::StoreError;
use async_trait::async_trait;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
// `watch` is also the name of the watch worker module below.
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info_span, warn};

/// Longest sleep between passes, so a clock jump or a missed wake-up costs at most this much.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Backoff after `failures` consecutive failed passes: 1.5^n seconds, capped at 30 s.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1.5f64.powi(failures.min(10) as i32);
    Duration::from_secs_f64(secs).min(MAX_SLEEP)
}

/// What a worker wants after a successful unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// More work is waiting: run again at once (after yielding to the runtime).
    Busy,
    /// Nothing to do for now: sleep at most `until`, less if the worker is woken.
    Idle {
        /// The longest sleep before the next unit of work.
        until: Duration,
    },
}

/// Why a unit of work failed; the runner logs it and backs off.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A use case failed.
    #[error(transparent)]
    Service(#[from] crate::service::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Some due deadlines could not be handled; they stay due.
    #[error("{failed} due deadline(s) not handled; they stay due")]
    DueFailed {
        /// How many failed.
        failed: usize,
    },
    /// The cluster could not be asked.
    #[error(transparent)]
    Cluster(#[from] crate::ports::ClusterError),
    /// The unit of work panicked. The runner catches it, so one bad record or bug cannot end a
    /// worker (an expiry worker that stopped quietly would leave access in place): it is logged
    /// and the worker runs again after the backoff, from the state in the store.
    #[error("the worker panicked: {0}")]
    Panicked(String),
    /// The break-glass spool could not be read or tidied.
    #[error("break-glass spool: {0}")]
    Spool(std::io::Error),
}

/// One background job. `work` does one unit of work and never loops itself: the runner decides
/// when it runs again, so sleeping, waking, backoff and shutdown are the same for every worker.
#[async_trait]
pub trait Worker: Send + 'static {
    /// The worker's name, for its tracing span and logs.
    fn name(&self) -> &'static str;

    /// Does one unit of work and says when to run again.
    async fn work(&mut self) -> Result<WorkerState, WorkerError>;

    /// A signal that ends an idle (or backoff) sleep early: new work has arrived.
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }

    /// The longest backoff after failures (a periodic worker should not fail less often than
    /// it runs).
    fn max_backoff(&self) -> Duration {
        MAX_SLEEP
    }
}

/// Runs `worker` on its own task until shutdown; see [`run`].
pub fn spawn(worker: impl Worker, shutdown: signal::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(run(worker, shutdown))
}

/// Runs `worker` until `shutdown` turns true (or its sender is dropped), in a span named after
/// it. A unit of work in progress is finished, never cancelled: the service is crash-safe, but
/// finishing is cheaper than redoing it after the restart.
pub async fn run(mut worker: impl Worker, mut shutdown: signal::Receiver<bool>) {
    let span = info_span!("worker", name = worker.name());
    async move {
        let wake = worker.wake();
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let pause = match guarded(worker.work()).await {
                Ok(WorkerState::Busy) => {
                    failures = 0;
                    // NB: yield, or a worker with a backlog would starve the other tasks.
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(WorkerState::Idle { until }) => {
                    failures = 0;
                    until
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = backoff(failures).min(worker.max_backoff());
                    warn!(error = %e, failures, retry_in = ?pause, "worker failed");
                    pause
                }
            };
            if !sleep(pause, wake.as_deref(), &mut shutdown).await {
                break;
            }
        }
    }
    .instrument(span)
    .await
}

/// Runs one unit of work, turning a panic into [`WorkerError::Panicked`].
async fn guarded(
    work: impl Future<Output = Result<WorkerState, WorkerError>>,
) -> Result<WorkerState, WorkerError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            error!(panic = %what, "worker panicked; it runs again after the backoff");
            Err(WorkerError::Panicked(what))
        }
    }
}

/// Sleeps for `pause` or until woken; false when the runner must stop.
async fn sleep(
    pause: Duration,
    wake: Option<&Notify>,
    shutdown: &mut signal::Receiver<bool>,
) -> bool {
    let woken = async {
        match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(pause) => true,
        _ = woken => true,
        // An error means the sender is gone: nobody could ever stop this worker, so stop now.
        changed = shutdown.changed() => changed.is_ok() && !*shutdown.borrow(),
    }
}

#[cfg(test)]
mod tests;
