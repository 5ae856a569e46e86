//! The sockets `serve` answers on and the loops that serve them: the plain listener, the https
//! one of `[server.tls]`, and the metrics listener of `server.metrics_listen`, all stopped by one
//! shutdown signal.

use crate::config::Settings;
use crate::web::serve::{ServerLimits, serve as serve_loop};
use crate::web::tls::{self, ServedCert};
use crate::workers::cert_reload::CertReload;
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::info;

/// The sockets `serve` answers on: the plain listener and, with `[server.tls]`, the https one,
/// both serving the same routes; with `server.metrics_listen`, a third one for `/metrics`.
pub struct Listeners {
    /// `server.listen`.
    pub http: TcpListener,
    /// `server.tls.listen`, already bound (tests bind port 0); `None` binds it from the settings.
    pub https: Option<TcpListener>,
    /// `server.metrics_listen`, already bound; `None` binds it from the settings.
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(http: TcpListener) -> Self {
        Self {
            http,
            https: None,
            metrics: None,
        }
    }
}

/// The https listener ready to serve, and the worker that keeps its certificate current.
pub(super) struct Https {
    pub(super) listener: TcpListener,
    pub(super) acceptor: TlsAcceptor,
    pub(super) reload: CertReload,
}

/// One listener with what it serves.
pub(super) struct Served {
    pub(super) listener: TcpListener,
    pub(super) app: axum::Router,
    pub(super) tls: Option<TlsAcceptor>,
    /// For the log line: `http`, `https`, `metrics`.
    pub(super) name: &'static str,
}

/// The https listener of `[server.tls]` (bound here unless `bound`), its certificate loaded.
pub(super) async fn https(
    settings: &Settings,
    bound: Option<TcpListener>,
) -> anyhow::Result<Option<Https>> {
    let Some(tls) = settings.server.tls.clone() else {
        anyhow::ensure!(
            bound.is_none(),
            "an https listener was given but [server.tls] is not set"
        );
        return Ok(None);
    };
    let files = tls.files.clone();
    let loaded = tokio::task::spawn_blocking(move || tls::load(&files))
        .await
        .context("loading the TLS certificate failed")??;
    let served = Arc::new(ServedCert::new(loaded.key.clone()));
    let acceptor = tls::acceptor(served.clone()).context("building the TLS configuration")?;
    let listener = match bound {
        Some(listener) => listener,
        None => TcpListener::bind(tls.listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.tls.listen)", tls.listen))?,
    };
    let reload = CertReload::new(tls.files, served, &loaded);
    Ok(Some(Https {
        listener,
        acceptor,
        reload,
    }))
}

/// The metrics listener of `server.metrics_listen` (bound here unless `bound`), if any.
pub(super) async fn metrics(
    settings: &Settings,
    bound: Option<TcpListener>,
) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = settings.server.metrics_listen else {
        anyhow::ensure!(
            bound.is_none(),
            "a metrics listener was given but server.metrics_listen is not set"
        );
        return Ok(None);
    };
    Ok(Some(match bound {
        Some(listener) => listener,
        None => TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.metrics_listen)"))?,
    }))
}

/// Serves every listener until `shutdown` completes; each loop then lets its open connections
/// finish within its grace period.
pub(super) async fn serve_all(
    served: Vec<Served>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // One shutdown signal, one loop per listener: each waits for the flag.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = Vec::new();
    for s in served {
        info!(addr = %s.listener.local_addr()?, "jitpe serving {}", s.name);
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        loops.push(serve_loop(s.listener, s.app, limits, s.tls, stopped));
    }
    let relay = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    futures::future::join_all(loops).await;
    relay.abort();
    Ok(())
}
