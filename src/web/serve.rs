//! The HTTP server loop, in place of `axum::serve`, which has no read timeouts and accepts
//! connections without limit, so slow or idle clients could hold every file descriptor:
//!
//! - **header read timeout**: a connection that has not sent a whole request head within
//!   `header_read_timeout` of connecting (or of its previous answer) is closed, so it also bounds
//!   how long an idle keep-alive connection is kept;
//! - **connection limit**: at most `max_connections` are open at once. When all are taken, the
//!   oldest connection with no request in progress (idle, or still sending its head) is closed
//!   to make room, so a flood of half-sent requests cannot keep `/healthz` or a signed command
//!   out; only when every connection is in the middle of a request is the newcomer closed;
//! - the **body read timeout** is applied where bodies are read, by the chat routes
//!   ([`crate::chat::inbound::Inbound::read_body`]), which answer 408 and audit it;
//! - on the https listener, the **TLS handshake** must also finish within
//!   `header_read_timeout`, and a connection still in its handshake counts as idle.

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// Default `server.header_read_timeout`: chat platforms send a request head in milliseconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `server.body_read_timeout`: chat bodies are a few KiB.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `server.max_connections`: well under the common 1,024 file descriptor limit, and far
/// above what two chat platforms and a health checker open.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long open connections may finish their request after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long the loop waits for an evicted connection to let go of its place.
const EVICTION_WAIT: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The server's limits on slow and idle clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Longest time to receive a request head.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes; then stops accepting
/// and gives open connections [`SHUTDOWN_GRACE`] to finish. With `tls`, every connection is
/// https.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let conns = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let Some(place) = make_room(&places, &conns).await else {
            debug!("every connection is in a request; closed a new one");
            continue;
        };
        let conn = Connection {
            app: app.clone(),
            limits,
            tls: tls.clone(),
            conns: conns.clone(),
            stop: stop_rx.clone(),
        };
        tasks.spawn(conn.run(stream, place));
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tasks.join_all()).await;
}

/// A free place, after closing the oldest connection with no request in progress if none is
/// free; `None` if every connection is in the middle of a request.
async fn make_room(places: &Arc<Semaphore>, conns: &Registry) -> Option<OwnedSemaphorePermit> {
    if let Ok(place) = places.clone().try_acquire_owned() {
        return Some(place);
    }
    if !conns.evict_oldest_idle() {
        return None;
    }
    let place = places.clone().acquire_owned();
    tokio::time::timeout(EVICTION_WAIT, place).await.ok()?.ok()
}

/// The connections being served, oldest first, so one without a request can be closed.
#[derive(Default)]
struct Registry {
    live: Mutex<(u64, BTreeMap<u64, Arc<ConnState>>)>,
}

/// What the loop and the connection share: requests in progress, and the order to close.
#[derive(Default)]
struct ConnState {
    in_request: AtomicUsize,
    evict: Notify,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, Arc<ConnState>>)> {
        // A panic elsewhere while holding it leaves a plain map; use it anyway.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self) -> (u64, Arc<ConnState>) {
        let mut live = self.lock();
        live.0 += 1;
        let (id, state) = (live.0, Arc::new(ConnState::default()));
        live.1.insert(id, state.clone());
        (id, state)
    }

    fn remove(&self, id: u64) {
        self.lock().1.remove(&id);
    }

    /// Tells the oldest connection with no request in progress to close; false if there is none.
    fn evict_oldest_idle(&self) -> bool {
        let mut live = self.lock();
        let idle = live
            .1
            .iter()
            .find(|(_, c)| c.in_request.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        let Some(state) = idle.and_then(|id| live.1.remove(&id)) else {
            return false;
        };
        state.evict.notify_one();
        true
    }
}

/// Completes when the server stops (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Marks its connection as in a request while it lives.
struct InRequest(Arc<ConnState>);

impl InRequest {
    fn new(state: &Arc<ConnState>) -> Self {
        state.in_request.fetch_add(1, Ordering::AcqRel);
        Self(state.clone())
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection and what it needs.
struct Connection {
    app: Router,
    limits: ServerLimits,
    tls: Option<TlsAcceptor>,
    conns: Arc<Registry>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// Serves HTTP/1.1 on `stream` (after a TLS handshake on the https listener) until the
    /// client is done, a timeout closes it, it is evicted, or the server stops; `place` is given
    /// back when it ends.
    async fn run(mut self, stream: TcpStream, place: OwnedSemaphorePermit) {
        let _place = place;
        let (id, state) = self.conns.add();
        match self.tls.clone() {
            None => self.http(stream, &state).await,
            Some(tls) => {
                let handshake =
                    tokio::time::timeout(self.limits.header_read_timeout, tls.accept(stream));
                let secured = tokio::select! {
                    done = handshake => match done {
                        Ok(Ok(secured)) => Some(secured),
                        Ok(Err(e)) => {
                            debug!(error = %e, "TLS handshake failed");
                            None
                        }
                        Err(_) => {
                            debug!("TLS handshake timed out");
                            None
                        }
                    },
                    () = state.evict.notified() => None,
                    () = stopped(&mut self.stop) => None,
                };
                if let Some(secured) = secured {
                    self.http(secured, &state).await;
                }
            }
        }
        self.conns.remove(id);
    }

    /// HTTP/1.1 on `io`, marking `state` as in a request while one is answered.
    async fn http<I>(&mut self, io: I, state: &Arc<ConnState>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = TowerToHyperService::new(self.app.clone());
        let marked = state.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = InRequest::new(&marked);
            let answer = hyper::service::Service::call(&app, req);
            async move {
                let answer = answer.await;
                drop(busy);
                answer
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    debug!(error = %e, "connection ended with an error");
                }
            }
            () = state.evict.notified() => debug!("closed an idle connection to make room"),
            () = stopped(&mut self.stop) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_connection_without_a_request_is_the_one_closed() {
        let conns = Registry::default();
        let (_, oldest) = conns.add();
        let (_, idle) = conns.add();
        let busy = InRequest::new(&oldest);
        assert!(conns.evict_oldest_idle());
        assert_eq!(conns.lock().1.len(), 1, "the idle one went");
        assert!(Arc::ptr_eq(
            conns.lock().1.values().next().unwrap(),
            &oldest
        ));
        assert!(
            !conns.evict_oldest_idle(),
            "only a connection in a request is left"
        );
        drop(busy);
        assert!(conns.evict_oldest_idle());
        drop(idle);
    }
}
