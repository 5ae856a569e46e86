//! TLS for the server's https listener (`[server.tls]`), from a PEM certificate chain and key on
//! disk. The apiserver's audit webhook needs it: client-go sends a webhook kubeconfig's token only
//! to an https server (docs/audit.md), so without TLS it would reach jitpe with no token at all.
//!
//! The certificate is held in a [`ServedCert`] that the reload worker
//! (`crate::workers::cert_reload`) swaps when the files change, so a rotated Secret (cert-manager
//! renews well before expiry) is served without a restart.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// The PEM files of `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate first, then its intermediates (`tls.crt` of a Kubernetes TLS Secret).
    pub cert: PathBuf,
    /// Its private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (`tls.key`).
    pub key: PathBuf,
}

/// Why the certificate or key cannot be served; each says which file and what to fix.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate.
    #[error(
        "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the server's \
         certificate first, then its intermediates",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable private key.
    #[error(
        "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1) that can sign: {reason}",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the key in {} is not the key of the certificate in {} ({reason}): give the pair from \
         the same Secret",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// A certificate and key read from [`TlsFiles`], with a digest of the files' contents, so a
/// reload can tell whether they changed.
#[derive(Debug)]
pub struct Loaded {
    /// What the server presents.
    pub key: Arc<CertifiedKey>,
    /// SHA-256 of the certificate file's bytes followed by the key file's.
    pub digest: [u8; 32],
}

/// Reads and checks the pair in `files`. Blocking (file reads): call it off the async runtime.
pub fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: files.cert.clone(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let no_key = |reason: String| TlsError::NoKey {
        path: files.key.clone(),
        reason,
    };
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| no_key(e.to_string()))?;
    let signer = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| no_key(e.to_string()))?;
    let key = CertifiedKey::new(chain, signer);
    key.keys_match().map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    })?;
    let digest = Sha256::new()
        .chain_update(&cert_pem)
        .chain_update(&key_pem)
        .finalize()
        .into();
    Ok(Loaded {
        key: Arc::new(key),
        digest,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// ring, as everywhere else in jitpe (kube and reqwest use it too).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The certificate the https listener presents, replaced in place on a reload.
#[derive(Debug)]
pub struct ServedCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServedCert {
    /// Serves `key` until [`ServedCert::replace`].
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: RwLock::new(key),
        }
    }

    /// Serves `key` from the next handshake on; connections already open keep theirs.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
    }

    /// What a handshake gets now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for ServedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A TLS 1.2/1.3 acceptor presenting whatever `cert` holds, offering HTTP/1.1 only (the server
/// loop speaks nothing else), without client certificates.
pub fn acceptor(cert: Arc<ServedCert>) -> Result<TlsAcceptor, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
