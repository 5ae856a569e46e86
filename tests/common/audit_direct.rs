//! The test apiserver's audit webhook pointed straight at jitpe's own https listener
//! (`[server.tls]`), as docs/audit.md sets it up in a cluster: no relay, no TLS front.
//!
//! The apiserver must know where to send before it starts, so the https port is bound first
//! (and kept, then handed to the one jitpe of the test binary with [`Direct::take_listener`]),
//! and a test CA issues jitpe's certificate for `jitpe.jitpe-system.svc`, the shipped
//! webhook kubeconfig's `tls-server-name`. The webhook kubeconfig is the shipped one with its
//! placeholders filled, so this proves the shipped file, jitpe's TLS and its token check
//! together.
//!
//! A test binary that uses this module must get its cluster from [`cluster`] only.
#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use super::audit::{Webhook, random_hex, webhook_flags};
use super::kube::{self, Cluster};

/// The name in jitpe's certificate and the shipped kubeconfig's `tls-server-name`.
pub const SERVER_NAME: &str = "jitpe.jitpe-system.svc";

static DIRECT: OnceLock<Result<Direct, String>> = OnceLock::new();

/// The cluster of this test binary, its apiserver sending its audit events to jitpe's https
/// listener.
pub fn cluster() -> &'static Cluster {
    kube::cluster_with(|dir| {
        let direct = DIRECT.get_or_init(|| Direct::prepare(dir).map_err(|e| format!("{e:#}")));
        let direct = match direct {
            Ok(direct) => direct,
            Err(message) => panic!("the direct audit webhook could not be prepared: {message}"),
        };
        let webhook = Webhook {
            server: &direct.url,
            tls_server_name: SERVER_NAME,
            certificate_authority: &direct.ca,
            token: &direct.token,
        };
        webhook_flags(dir, &webhook)
            .unwrap_or_else(|e| panic!("writing the audit webhook configuration: {e:#}"))
    })
}

/// What the apiserver was told, for the jitpe it sends to.
pub fn direct() -> &'static Direct {
    cluster();
    match DIRECT.get() {
        Some(Ok(direct)) => direct,
        Some(Err(message)) => panic!("the direct audit webhook could not be prepared: {message}"),
        None => panic!(
            "this test binary's apiserver runs without the direct audit webhook: another \
             fixture started it first, or {} names an existing cluster",
            kube::KUBECONFIG_ENV
        ),
    }
}

/// jitpe's https port, certificate and token, as the apiserver's webhook kubeconfig names them.
pub struct Direct {
    /// `https://127.0.0.1:PORT/k8s/audit`.
    pub url: String,
    /// The token the apiserver sends.
    pub token: String,
    /// The test CA's certificate (the kubeconfig's `certificate-authority`).
    pub ca: PathBuf,
    /// jitpe's certificate, issued by the test CA.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    listener: Mutex<Option<std::net::TcpListener>>,
}

impl Direct {
    /// Binds the port and issues the certificates into `dir/jitpe-tls`.
    fn prepare(dir: &Path) -> Result<Direct> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding jitpe's port")?;
        listener.set_nonblocking(true)?;
        let url = format!("https://{}/k8s/audit", listener.local_addr()?);
        let tls = dir.join("jitpe-tls");
        std::fs::create_dir_all(&tls)?;
        let (ca, cert, key) = issue(&tls)?;
        Ok(Direct {
            url,
            token: random_hex(32)?,
            ca,
            cert,
            key,
            listener: Mutex::new(Some(listener)),
        })
    }

    /// The https port the apiserver sends to, for the jitpe under test (once per binary).
    pub fn take_listener(&self) -> tokio::net::TcpListener {
        let taken = self.listener.lock().expect("listener lock").take();
        let listener = taken.expect("the https port was already handed to a jitpe");
        tokio::net::TcpListener::from_std(listener).expect("a tokio listener")
    }

    /// The `[server.tls]` section serving jitpe's certificate.
    pub fn tls_toml(&self) -> String {
        format!(
            "[server.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// A test CA and a certificate for [`SERVER_NAME`] it issued, written to `dir`: the paths of
/// the CA certificate, jitpe's certificate and its key.
pub fn issue(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "jitpe test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, SERVER_NAME);
    let cert = params.signed_by(&key, &ca)?;
    let paths = (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&paths.0, ca.pem())?;
    std::fs::write(&paths.1, cert.pem())?;
    std::fs::write(&paths.2, key.serialize_pem())?;
    Ok(paths)
}
