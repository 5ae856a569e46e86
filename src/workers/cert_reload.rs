//! Re-reads the https listener's certificate and key now and then and serves the new pair from
//! the next handshake on, so a renewed Secret (the kubelet swaps a mounted Secret's files within
//! about a minute; cert-manager renews well before expiry) needs no restart. A pair that does
//! not load (half-written, mismatched) is logged once and the old one stays in service.

use super::{Worker, WorkerError, WorkerState};
use crate::web::tls::{self, Loaded, ServedCert, TlsFiles};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How often the files are read.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// Keeps `served` up to date with `files`.
pub struct CertReload {
    files: TlsFiles,
    served: Arc<ServedCert>,
    /// Digest of the pair in service.
    serving: [u8; 32],
    /// The last failure's message, so a lasting one is logged once.
    failing: Option<String>,
}

impl CertReload {
    /// Reloads `files` into `served`, which serves `loaded` now.
    pub fn new(files: TlsFiles, served: Arc<ServedCert>, loaded: &Loaded) -> Self {
        Self {
            files,
            served,
            serving: loaded.digest,
            failing: None,
        }
    }

    /// Reads the files once (on a blocking thread) and swaps in a changed pair that loads.
    pub async fn reload(&mut self) {
        let files = self.files.clone();
        let read = tokio::task::spawn_blocking(move || tls::load(&files)).await;
        let failure = match read {
            Ok(Ok(loaded)) => {
                if loaded.digest != self.serving {
                    self.served.replace(loaded.key);
                    self.serving = loaded.digest;
                    info!(cert = %self.files.cert.display(), "serving a new TLS certificate");
                }
                None
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("the reload task failed: {e}")),
        };
        if failure.is_some() && failure != self.failing {
            warn!(
                error = failure.as_deref().unwrap_or_default(),
                "the TLS certificate files do not load; still serving the previous pair"
            );
        }
        self.failing = failure;
    }
}

#[async_trait]
impl Worker for CertReload {
    fn name(&self) -> &'static str {
        "cert-reload"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        self.reload().await;
        Ok(WorkerState::Idle {
            until: RELOAD_EVERY,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(files: &TlsFiles) {
        let made = rcgen::generate_simple_self_signed(vec!["jitpe".to_string()]).expect("rcgen");
        std::fs::write(&files.cert, made.cert.pem()).unwrap();
        std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
    }

    #[tokio::test]
    async fn a_renewed_pair_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::TempDir::new().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        write_pair(&files);
        let loaded = tls::load(&files).unwrap();
        let served = Arc::new(ServedCert::new(loaded.key.clone()));
        let mut reload = CertReload::new(files.clone(), served.clone(), &loaded);

        reload.reload().await;
        assert!(
            Arc::ptr_eq(&served.current(), &loaded.key),
            "unchanged files"
        );

        write_pair(&files);
        reload.reload().await;
        let renewed = served.current();
        assert!(!Arc::ptr_eq(&renewed, &loaded.key), "the renewed pair");
        assert_eq!(renewed.cert, tls::load(&files).unwrap().key.cert);

        std::fs::write(&files.key, "half-written").unwrap();
        reload.reload().await;
        assert!(
            Arc::ptr_eq(&served.current(), &renewed),
            "the old pair stays"
        );
        assert!(reload.failing.as_deref().unwrap().contains("tls.key"));
    }
}
