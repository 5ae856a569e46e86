//! The bounded queue between the observation routes (`POST /k8s/audit`, `POST /falco`) and
//! the watch worker. A route hands over a whole batch without waiting; a full queue refuses
//! the batch (the route answers 503 so the sender retries) and counts what it refused, so
//! nothing is ever lost without a trace.

use crate::domain::anomaly::Observation;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// The default capacity, in batches (the apiserver sends at most 400 events per batch by
/// default, so this holds about 400,000 events).
pub const DEFAULT_CAPACITY: usize = 1024;

/// A batch as queued: the observations of one inbound request, and when it was received.
#[derive(Debug)]
pub struct Queued {
    /// What the batch held that the rules look at.
    pub observations: Vec<Observation>,
    /// When the route accepted it (monotonic), for the queue latency.
    pub received: std::time::Instant,
}

/// Counters of the queue, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct IntakeStats {
    /// Observations queued.
    pub accepted: AtomicU64,
    /// Observations refused because the queue was full.
    pub refused_full: AtomicU64,
    /// Observations evaluated by the worker.
    pub evaluated: AtomicU64,
}

impl IntakeStats {
    /// The counters by name, for `/metrics` (`jitpe_observations_total{result}`).
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("accepted", self.accepted.load(Ordering::Relaxed)),
            ("refused_full", self.refused_full.load(Ordering::Relaxed)),
            ("evaluated", self.evaluated.load(Ordering::Relaxed)),
        ]
    }
}

/// The queue was full; the batch was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("jitpe's evaluation queue is full ({0} observations refused); send the batch again")]
pub struct QueueFull(pub usize);

/// The sending side, held by the routes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Intake {
    tx: mpsc::Sender<Queued>,
    stats: Arc<IntakeStats>,
}

impl Intake {
    /// A queue of `capacity` batches, and its receiving side for the watch worker.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::default();
        (Self { tx, stats }, rx)
    }

    /// Queues a batch without waiting. An empty batch is accepted and not queued.
    pub fn offer(&self, observations: Vec<Observation>) -> Result<(), QueueFull> {
        let n = observations.len();
        if n == 0 {
            return Ok(());
        }
        let queued = Queued {
            observations,
            received: std::time::Instant::now(),
        };
        match self.tx.try_send(queued) {
            Ok(()) => {
                self.stats.accepted.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            // A closed queue (the worker stopped at shutdown) is refused like a full one: the
            // sender retries against the next replica or after the restart.
            Err(_) => {
                self.stats
                    .refused_full
                    .fetch_add(n as u64, Ordering::Relaxed);
                Err(QueueFull(n))
            }
        }
    }

    /// The queue's counters.
    pub fn stats(&self) -> &Arc<IntakeStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::anomaly::{FalcoAlert, FalcoPriority};

    fn alert() -> Observation {
        Observation::Falco(FalcoAlert {
            rule: "Terminal shell in container".into(),
            priority: FalcoPriority::Notice,
            at: jiff::Timestamp::UNIX_EPOCH,
            user: None,
            namespace: None,
            output: String::new(),
        })
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_counts_what_it_refused() {
        let (intake, mut rx) = Intake::new(1);
        intake.offer(vec![alert(), alert()]).unwrap();
        assert_eq!(intake.offer(vec![alert()]), Err(QueueFull(1)));
        assert_eq!(intake.stats().accepted.load(Ordering::Relaxed), 2);
        assert_eq!(intake.stats().refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(rx.recv().await.unwrap().observations.len(), 2);
        intake.offer(vec![alert()]).unwrap();
    }
}
