//! The break-glass worker: applies the notes `jitpe revoke` leaves in the spool while `serve`
//! holds the store (`store::breakglass`), every [`POLL`], and the reconcile worker drains the
//! spool before each sweep, so a revocation is recorded by its operator and never mistaken for
//! bindings "removed outside jitpe".

use super::{Worker, WorkerError, WorkerState};
use crate::service::Service;
use crate::store::breakglass::{self, Spooled};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::warn;

/// How often the spool is looked at: a directory listing, cheap when it is empty.
pub const POLL: Duration = Duration::from_secs(2);

/// The spool of one store, shared by the workers that drain it; the lock keeps two of them
/// from applying the same note twice.
#[derive(Clone)]
pub struct Spool {
    store_dir: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl Spool {
    /// The spool of the store in `store_dir`.
    pub fn new(store_dir: PathBuf) -> Self {
        Self {
            store_dir,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Applies every note waiting, oldest first, and removes each once it is recorded; files
    /// that are not notes are audited and set aside. A note whose revocation failed stays for
    /// the next pass. Returns how many files were handled.
    pub async fn drain(&self, service: &Service) -> Result<usize, WorkerError> {
        let _one_at_a_time = self.lock.lock().await;
        let dir = self.store_dir.clone();
        let files = blocking(move || breakglass::read_all(&dir)).await?;
        let mut handled = 0;
        for Spooled { path, note } in files {
            let done = match note {
                Ok(n) => service
                    .apply_break_glass(n.request_id, &n.operator, &n.reason, n.at)
                    .await
                    .map(|()| path.clone()),
                Err(problem) => {
                    service
                        .reject_break_glass(&path.display().to_string(), &problem)
                        .await;
                    let p = path.clone();
                    blocking(move || breakglass::reject(&p)).await?;
                    handled += 1;
                    continue;
                }
            };
            let path = done?;
            blocking(move || breakglass::remove(&path)).await?;
            handled += 1;
        }
        Ok(handled)
    }
}

/// Runs spool file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, WorkerError> {
    let joined = tokio::task::spawn_blocking(f).await;
    let result = joined.unwrap_or_else(|e| Err(std::io::Error::other(e)));
    result.map_err(|e| {
        warn!(error = %e, "break-glass spool");
        WorkerError::Spool(e)
    })
}

/// Polls the spool.
pub struct BreakGlass {
    service: Service,
    spool: Spool,
}

impl BreakGlass {
    /// Drains `spool` into `service` every [`POLL`].
    pub fn new(service: Service, spool: Spool) -> Self {
        Self { service, spool }
    }
}

#[async_trait]
impl Worker for BreakGlass {
    fn name(&self) -> &'static str {
        "breakglass"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        self.spool.drain(&self.service).await?;
        Ok(WorkerState::Idle { until: POLL })
    }
}
