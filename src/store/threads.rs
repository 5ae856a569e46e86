//! [`StoreThreads`]: runs the synchronous [`Store`] on a few dedicated OS threads, so that no
//! sled read, transaction or fsync ever runs on (and stalls) a tokio worker thread.
//!
//! The store port stays synchronous, like sled itself; async callers hand it a closure and await
//! the answer. The threads are few and fixed: with the store's group commit (one flush shared by
//! the writes that arrived while the previous flush ran) a handful of writers keep the disk busy,
//! and a fixed number means overload shows up as a queue here (bounded in front by the inbound
//! pipeline's in-flight limit) rather than as hundreds of blocked threads.

use crate::ports::{Store, StoreError};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use tracing::error;

/// A unit of store work.
type Job = Box<dyn FnOnce(&dyn Store) + Send>;

/// How many threads run store work unless configured otherwise.
pub const DEFAULT_THREADS: usize = 4;

/// A handle to the store threads; cheap to clone. The threads end when the last handle is dropped.
#[derive(Clone)]
pub struct StoreThreads {
    store: Arc<dyn Store>,
    jobs: Sender<Job>,
}

impl StoreThreads {
    /// Starts `threads` (at least one) threads that run work against `store`.
    pub fn start(store: Arc<dyn Store>, threads: usize) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let store = store.clone();
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("jitpe-store-{n}"))
                .spawn(move || serve(store.as_ref(), &queue));
            if let Err(e) = spawned {
                // Fewer threads is slower, not wrong; with none at all every call fails below.
                error!(error = %e, "could not start a store thread");
            }
        }
        Self { store, jobs }
    }

    /// Runs `work` on a store thread and returns its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            // The caller may have given up (its request timed out); the result is then dropped.
            let _ = tx.send(work(store));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::backend("queue store work", "the store threads have ended"))?;
        rx.await.map_err(|_| {
            StoreError::backend("run store work", "the store thread failed; see the log")
        })?
    }

    /// The store itself, for synchronous callers that are not on the async runtime (the CLI,
    /// tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

impl From<Arc<dyn Store>> for StoreThreads {
    /// One thread of its own for `store`, for a worker built on its own (tests, tools).
    fn from(store: Arc<dyn Store>) -> Self {
        Self::start(store, 1)
    }
}

/// One thread's loop: take the next job, run it, until every handle is gone.
fn serve(store: &dyn Store, queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking job must not take the thread with it: its caller sees "the store thread
        // failed" and the next job runs as usual.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(store))).is_err() {
            error!("store work panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemStore;

    #[tokio::test]
    async fn work_runs_off_the_runtime_and_a_panic_does_not_stop_the_threads() {
        let threads = StoreThreads::start(Arc::new(MemStore::new()), 1);
        let name = threads
            .run(|_| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("jitpe-store-0"));
        let failed = threads.run::<(), _>(|_| panic!("boom")).await;
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("store thread failed")
        );
        let id = threads.run(|s| s.next_id()).await.unwrap();
        assert_eq!(id.0, 1);
    }
}
