//! The Ingress watch port: what the Ingress change feed (`workers::ingress_feed`) needs of the
//! cluster, one watch per namespace that reports each change as the Ingress before and after
//! it. `kube::ingress_watch` implements it with kube-runtime's watcher; tests of the worker can
//! feed it by hand.

use crate::domain::anomaly::IngressShape;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// One change to one Ingress, as the watch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressEvent {
    /// The namespace watched.
    pub namespace: String,
    /// The Ingress's name.
    pub name: String,
    /// The Ingress as last seen before the change; `None` when it is new.
    pub before: Option<IngressShape>,
    /// The Ingress after the change; `None` when it was deleted.
    pub after: Option<IngressShape>,
    /// The resourceVersion of the object the event carried (for a deletion, the version of the
    /// deleted object), to find the writer in the audit stream.
    pub resource_version: String,
}

/// Where a watch delivers its changes: a bounded queue (a watch waits while it is full) and
/// the signal that wakes the feed worker.
#[derive(Clone, Debug)]
pub struct IngressSink {
    tx: mpsc::Sender<IngressEvent>,
    wake: Arc<Notify>,
}

/// The feed worker has stopped; the watch should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Ingress change feed has stopped")]
pub struct SinkClosed;

impl IngressSink {
    /// A sink holding at most `capacity` changes, its receiving side, and the signal it fires.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<IngressEvent>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let wake = Arc::new(Notify::new());
        (
            Self {
                tx,
                wake: wake.clone(),
            },
            rx,
            wake,
        )
    }

    /// Delivers one change, waiting while the queue is full.
    pub async fn send(&self, event: IngressEvent) -> Result<(), SinkClosed> {
        self.tx.send(event).await.map_err(|_| SinkClosed)?;
        self.wake.notify_one();
        Ok(())
    }
}

/// Watches the Ingresses of one namespace.
pub trait IngressWatch: Send + Sync {
    /// A future that watches `namespace` until it is dropped (or the sink closes): it lists the
    /// Ingresses first, as the baseline, without sending anything for them; then sends every
    /// create, update and delete to `sink`. A watch that fails is retried with a backoff and,
    /// when it has to list again, the new listing is compared with what was known, so a change
    /// made while it was down is still sent. The future never fails.
    fn watch(&self, namespace: String, sink: IngressSink) -> BoxFuture<'static, ()>;
}
