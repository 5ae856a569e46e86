//! The admin socket's listener: created with mode 0600 (a stale one left by a stopped jitpe is
//! replaced, a live one or any other file is not), each connection admitted by the peer's
//! credentials, served HTTP/1.1 until `serve` stops, the socket file removed at the end.
//!
//! The mode is set right after `bind`, so for a moment the file has the process umask's mode;
//! a connection made in that moment still has to pass the credentials check, which is what
//! keeps other users out (the mode is the second lock).

use crate::store::threads::StoreThreads;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// Connections served at once; more wait in the listen queue. Each export keeps one store
/// thread busy for a page at a time, so a few are plenty and the server's own work goes first.
const MAX_CONNECTIONS: usize = 4;
/// Longest wait for a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an answer in progress (a long export) may go on after `serve` is told to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the admin socket could not be set up. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Creating, checking or securing the socket file failed.
    #[error(
        "cannot {action} the admin socket {}: {source} (set server.admin_socket or \
         JITPE_ADMIN_SOCKET to another path, or \"off\")",
        path.display()
    )]
    Io {
        /// What was being done.
        action: &'static str,
        /// The socket's path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Something other than a socket is at the path: it is not jitpe's to remove.
    #[error(
        "{} exists and is not a socket, so jitpe leaves it alone: move it, or set \
         server.admin_socket to another path",
        .0.display()
    )]
    NotASocket(PathBuf),
    /// Another process answers on the socket (another jitpe configured with the same path).
    #[error(
        "another process answers on the admin socket {}: give each jitpe its own \
         server.admin_socket (the default, in its store directory, is always its own)",
        .0.display()
    )]
    InUse(PathBuf),
}

/// Whether a peer running as `peer` may use the admin socket of a server running as `server`:
/// the same user, or root.
pub fn admits(server: u32, peer: u32) -> bool {
    peer == server || peer == 0
}

/// The bound admin socket, not yet serving.
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
    uid: u32,
}

impl AdminSocket {
    /// Creates the socket at `path` with mode 0600, replacing a stale socket file.
    pub async fn bind(path: &Path) -> Result<Self, AdminError> {
        let io = |action| {
            let path = path.to_path_buf();
            move |source| AdminError::Io {
                action,
                path,
                source,
            }
        };
        clear_stale(path).await?;
        let listener = UnixListener::bind(path).map_err(io("create"))?;
        let mode = std::fs::Permissions::from_mode(0o600);
        tokio::fs::set_permissions(path, mode)
            .await
            .map_err(io("restrict"))?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            uid: rustix::process::geteuid().as_raw(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves the read-only routes over `threads` until `stop` turns true; then gives answers in
    /// progress [`SHUTDOWN_GRACE`] and removes the socket file.
    pub async fn serve(self, threads: StoreThreads, mut stop: watch::Receiver<bool>) {
        let app = super::routes::router(threads);
        let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut tasks = JoinSet::new();
        info!(path = %self.path.display(), "admin socket serving");
        loop {
            let accepted = tokio::select! {
                accepted = accept(&self.listener, &places) => accepted,
                () = stopped(&mut stop) => break,
            };
            while tasks.try_join_next().is_some() {}
            let Some((stream, place)) = accepted else {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            };
            let Some(peer) = self.admit(&stream) else {
                continue;
            };
            let (app, stop) = (app.clone(), stop.clone());
            tasks.spawn(async move {
                let _place = place;
                connection(stream, app, peer, stop).await;
            });
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            warn!("admin socket: an answer was still being sent at shutdown and was cut off");
        }
        if let Err(e) = tokio::fs::remove_file(&self.path).await {
            debug!(error = %e, "admin socket: could not remove the socket file");
        }
    }

    /// The peer's `(uid, pid)` if its credentials let it in; else logs the refusal.
    fn admit(&self, stream: &UnixStream) -> Option<(u32, Option<i32>)> {
        let cred = match stream.peer_cred() {
            Ok(cred) => cred,
            Err(e) => {
                warn!(error = %e, "admin socket: refused a connection whose credentials are unknown");
                return None;
            }
        };
        if !admits(self.uid, cred.uid()) {
            warn!(
                uid = cred.uid(),
                pid = cred.pid(),
                "admin socket: refused a connection from another user (only the user jitpe \
                 runs as, and root, may read the store through it)"
            );
            return None;
        }
        Some((cred.uid(), cred.pid()))
    }
}

/// Completes when `serve` stops (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The next connection once a place is free; `None` if accepting failed.
async fn accept(
    listener: &UnixListener,
    places: &Arc<Semaphore>,
) -> Option<(UnixStream, tokio::sync::OwnedSemaphorePermit)> {
    let place = places.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, place)),
        Err(e) => {
            warn!(error = %e, "admin socket: accepting a connection failed");
            None
        }
    }
}

/// Removes a socket file nobody answers on (left by a jitpe that stopped without removing it);
/// refuses to touch anything else.
async fn clear_stale(path: &Path) -> Result<(), AdminError> {
    let found = match tokio::fs::symlink_metadata(path).await {
        Ok(found) => found,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(AdminError::Io {
                action: "check",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !found.file_type().is_socket() {
        return Err(AdminError::NotASocket(path.to_path_buf()));
    }
    if UnixStream::connect(path).await.is_ok() {
        return Err(AdminError::InUse(path.to_path_buf()));
    }
    tokio::fs::remove_file(path)
        .await
        .map_err(|source| AdminError::Io {
            action: "replace the stale",
            path: path.to_path_buf(),
            source,
        })
}

/// HTTP/1.1 on one admitted connection, each request logged with who asked.
async fn connection(
    stream: UnixStream,
    app: axum::Router,
    (uid, pid): (u32, Option<i32>),
    mut stop: watch::Receiver<bool>,
) {
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        info!(uid, pid, path = %req.uri().path(), "admin socket: read");
        hyper::service::Service::call(&app, req)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => {
            if let Err(e) = done {
                debug!(error = %e, "admin socket: connection ended with an error");
            }
        }
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_user_and_root_are_admitted() {
        assert!(admits(1000, 1000));
        assert!(admits(1000, 0));
        assert!(admits(0, 0));
        assert!(!admits(1000, 1001));
        assert!(!admits(1000, 65534));
        assert!(!admits(0, 65534));
    }

    #[tokio::test]
    async fn the_socket_is_private_a_stale_one_is_replaced_and_nothing_else_is_touched() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("admin.sock");
        let first = AdminSocket::bind(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let taken = AdminSocket::bind(&path).await.err().unwrap();
        assert!(matches!(taken, AdminError::InUse(_)), "{taken}");
        drop(first);
        assert!(path.exists(), "a socket file outlives its listener");
        let again = AdminSocket::bind(&path).await.unwrap();
        assert_eq!(again.path(), path);
        drop(again);
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "keep me").unwrap();
        let refused = AdminSocket::bind(&file).await.err().unwrap();
        assert!(matches!(refused, AdminError::NotASocket(_)), "{refused}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }
}
