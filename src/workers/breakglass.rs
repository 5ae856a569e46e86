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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{POLICY, t0};
    use crate::domain::ids::RequestId;
    use crate::domain::policy::{Policy, RawPolicy};
    use crate::ports::Store;
    use crate::service::ChatTargets;
    use crate::store::breakglass::Note;
    use crate::store::memory::MemStore;
    use crate::testing::{FakeCluster, ManualClock};

    fn service(store: Arc<MemStore>) -> Service {
        let raw: RawPolicy = toml::from_str(POLICY).unwrap();
        Service::new(
            store,
            Arc::new(FakeCluster::default()),
            Arc::new(ManualClock::at(t0())),
            Arc::new(Policy::try_from(raw).unwrap()),
            ChatTargets::default(),
        )
    }

    /// A note for a request that does not exist still names the operator and the reason in the
    /// log; a file that is not a note is audited and set aside; neither is read twice.
    #[tokio::test]
    async fn a_note_for_no_request_and_a_garbage_file_are_audited_once_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let note = Note {
            request_id: RequestId(99),
            operator: "carol".into(),
            reason: "INC-5 break glass".into(),
            at: t0(),
        };
        breakglass::write(dir.path(), &note).unwrap();
        let spool_dir = breakglass::spool_dir(dir.path());
        std::fs::write(spool_dir.join("9-9-9.json"), b"not json").unwrap();
        let store = Arc::new(MemStore::new());
        let svc = service(store.clone());
        let spool = Spool::new(dir.path().to_path_buf());

        assert_eq!(spool.drain(&svc).await.unwrap(), 2);
        let audit = store.audit_from(1, 100).unwrap();
        let actions: Vec<_> = audit.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["break_glass_revoke", "break_glass_note_rejected"]);
        assert_eq!(audit[0].actor.to_string(), "cli:carol");
        assert_eq!(audit[0].details["reason"], "INC-5 break glass");
        assert!(
            audit[0].details["outcome"].contains("no request #99"),
            "{audit:?}"
        );
        assert_eq!(spool.drain(&svc).await.unwrap(), 0);
        assert!(spool_dir.join("9-9-9.json.rejected").exists());
    }
}
