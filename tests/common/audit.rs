//! The test apiserver's own audit webhook, relayed to the jitpe of each test.
//!
//! One kube-apiserver serves a whole test binary, but every `#[tokio::test]` has its own runtime
//! and starts its own jitpe on its own port. So the apiserver's `--audit-webhook-config-file`
//! points at a **relay** on loopback, bound before the apiserver starts, on a thread of its own
//! with its own runtime. It serves https with the apiserver's own serving certificate, since
//! client-go sends a webhook kubeconfig's token to an https server only. The relay forwards each batch unchanged, with its `Authorization` and
//! `Content-Type` headers, to every registered target (a test registers its jitpe's
//! `POST /k8s/audit` with [`Relay::register`]) and answers the apiserver with the targets' status
//! (200 when there is none). Tests may also read the raw batches ([`Relay::subscribe`]).
//!
//! The apiserver runs with the shipped `manifests/audit/audit-policy.yaml` and a webhook
//! kubeconfig made from the shipped `manifests/audit/webhook-kubeconfig.yaml`, with the flags
//! docs/audit.md recommends, so these tests prove the shipped files.
//!
//! A test binary that uses this module must get its cluster from [`cluster`] only: the first
//! call in a binary decides how the apiserver is started.
#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::kube::{self, Cluster};

/// The shipped audit policy the test apiserver runs with.
pub const AUDIT_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/manifests/audit/audit-policy.yaml"
);
/// The shipped webhook kubeconfig the test apiserver's configuration is made from.
pub const WEBHOOK_KUBECONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/manifests/audit/webhook-kubeconfig.yaml"
);
/// The path the relay serves, the same as jitpe's route.
pub const RELAY_PATH: &str = "/k8s/audit";
/// `--audit-webhook-batch-max-wait`, as docs/audit.md recommends.
pub const BATCH_MAX_WAIT: Duration = Duration::from_secs(1);
/// How long the relay waits for one target.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake with the relay may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

static RELAY: OnceLock<Result<Relay, String>> = OnceLock::new();

/// The cluster of this test binary, its apiserver sending its audit events to the relay.
pub fn cluster() -> &'static Cluster {
    kube::cluster_with(|dir| {
        let start = || Relay::start(&dir.join("pki")).map_err(|e| format!("{e:#}"));
        let relay = match RELAY.get_or_init(start) {
            Ok(relay) => relay,
            Err(message) => panic!("the audit relay did not start: {message}"),
        };
        let webhook = Webhook {
            server: &relay.url,
            // In the apiserver's own certificate, like jitpe.jitpe-system.svc in jitpe's.
            tls_server_name: "kubernetes.default.svc",
            certificate_authority: &relay.pki.join("apiserver.crt"),
            token: &relay.token,
        };
        webhook_flags(dir, &webhook)
            .unwrap_or_else(|e| panic!("writing the audit webhook configuration: {e:#}"))
    })
}

/// The relay of this test binary's apiserver (started with it by [`cluster`]).
pub fn relay() -> &'static Relay {
    cluster();
    match RELAY.get() {
        Some(Ok(relay)) => relay,
        Some(Err(message)) => panic!("the audit relay did not start: {message}"),
        None => panic!(
            "this test binary's apiserver runs without the audit webhook: a test called \
             common::kube::cluster() before common::audit::cluster(), or {} names an existing \
             cluster (the audit tests need the test apiserver)",
            kube::KUBECONFIG_ENV
        ),
    }
}

/// The audit flags of the test apiserver, sending to `webhook`; writes the webhook kubeconfig
/// into `dir`.
pub fn webhook_flags(dir: &Path, webhook: &Webhook) -> Result<Vec<String>> {
    let kubeconfig = dir.join("audit-webhook.kubeconfig");
    let config = webhook_kubeconfig(webhook)?;
    std::fs::write(&kubeconfig, serde_json::to_vec_pretty(&config)?)?;
    Ok(vec![
        format!("--audit-policy-file={AUDIT_POLICY}"),
        format!("--audit-webhook-config-file={}", kubeconfig.display()),
        "--audit-webhook-mode=batch".into(),
        format!(
            "--audit-webhook-batch-max-wait={}s",
            BATCH_MAX_WAIT.as_secs()
        ),
        "--audit-webhook-truncate-enabled=true".into(),
    ])
}

/// What fills the placeholders of the shipped webhook kubeconfig.
pub struct Webhook<'a> {
    pub server: &'a str,
    pub tls_server_name: &'a str,
    pub certificate_authority: &'a Path,
    pub token: &'a str,
}

/// The shipped webhook kubeconfig with its placeholders filled. Fails if the shipped file no
/// longer has the shape docs/audit.md describes.
pub fn webhook_kubeconfig(fill: &Webhook) -> Result<Value> {
    let text = std::fs::read_to_string(WEBHOOK_KUBECONFIG).context(WEBHOOK_KUBECONFIG)?;
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).context(WEBHOOK_KUBECONFIG)?;
    let mut config = serde_json::to_value(yaml)?;
    let ca = fill.certificate_authority.display().to_string();
    for (pointer, value) in [
        ("/clusters/0/cluster/server", fill.server),
        ("/clusters/0/cluster/tls-server-name", fill.tls_server_name),
        ("/clusters/0/cluster/certificate-authority", &ca),
        ("/users/0/user/token", fill.token),
    ] {
        *config.pointer_mut(pointer).context(pointer)? = Value::from(value);
    }
    Ok(config)
}

/// The registered targets and the subscribers, shared with the relay's thread.
#[derive(Default)]
struct Shared {
    targets: Mutex<Vec<(u64, String)>>,
    subscribers: Mutex<Vec<UnboundedSender<Value>>>,
    next_id: AtomicU64,
    batches: AtomicU64,
}

impl Shared {
    fn targets(&self) -> Vec<String> {
        let targets = self.targets.lock().expect("targets lock");
        targets.iter().map(|(_, url)| url.clone()).collect()
    }

    /// Sends `batch` to every subscriber still listening.
    fn publish(&self, batch: &Value) {
        let mut subscribers = self.subscribers.lock().expect("subscribers lock");
        subscribers.retain(|tx| tx.send(batch.clone()).is_ok());
    }
}

/// The relay between the apiserver's audit webhook and the tests' jitpe instances.
pub struct Relay {
    /// Where the apiserver posts: `https://127.0.0.1:PORT/k8s/audit`.
    url: String,
    /// The bearer token the apiserver sends (from the webhook kubeconfig).
    token: String,
    /// The apiserver's certificate directory, whose serving certificate the relay serves.
    pki: PathBuf,
    shared: Arc<Shared>,
}

impl Relay {
    /// Binds on loopback, then serves on a thread of its own with its own runtime (each test's
    /// runtime ends with its test; this one lives as long as the apiserver). `pki` is where the
    /// apiserver is about to write its serving certificate.
    fn start(pki: &Path) -> Result<Relay> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the relay")?;
        listener.set_nonblocking(true)?;
        let url = format!("https://{}{RELAY_PATH}", listener.local_addr()?);
        let tls_pki = pki.to_path_buf();
        let shared = Arc::new(Shared::default());
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(FORWARD_TIMEOUT)
            .build()?;
        let app = Router::new()
            .route(RELAY_PATH, post(relay_batch))
            .layer(DefaultBodyLimit::disable())
            .with_state((shared.clone(), http));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        std::thread::Builder::new()
            .name("audit-relay".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(ready_tx.send(Err(e.into()))),
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(tcp) => TlsListener {
                            tcp,
                            pki: tls_pki,
                            acceptor: None,
                        },
                        Err(e) => return drop(ready_tx.send(Err(e.into()))),
                    };
                    let _ = ready_tx.send(Ok(()));
                    if let Err(e) = axum::serve(listener, app).await {
                        // The apiserver's log shows the failed deliveries that follow.
                        eprintln!("audit relay stopped: {e:#}");
                    }
                });
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the relay thread did not start")??;
        Ok(Relay {
            url,
            token: random_hex(32)?,
            pki: pki.to_path_buf(),
            shared,
        })
    }

    /// The address the apiserver posts its batches to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token the apiserver sends: configure the jitpe under test with it
    /// (`audit.k8s_audit_token_file`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// How many batches the relay has received so far.
    pub fn batches_received(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    /// Forwards every later batch to `url` (a jitpe's `http://127.0.0.1:PORT/k8s/audit`) until
    /// the returned guard is dropped. Drop it before stopping that jitpe, or the relay answers
    /// the apiserver 502 and the apiserver sends the batch again (to every target).
    pub fn register(&self, url: impl Into<String>) -> Registration {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut targets = self.shared.targets.lock().expect("targets lock");
        targets.push((id, url.into()));
        Registration {
            shared: self.shared.clone(),
            id,
        }
    }

    /// Every later batch, as the apiserver sent it (every test's events: filter by namespace),
    /// once every registered target has answered it.
    pub fn subscribe(&self) -> Batches {
        let (tx, rx) = unbounded_channel();
        self.shared
            .subscribers
            .lock()
            .expect("subscribers lock")
            .push(tx);
        Batches { rx }
    }
}

/// A target registered with [`Relay::register`]; dropping it unregisters the target.
pub struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut targets) = self.shared.targets.lock() {
            targets.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The batches the relay received since [`Relay::subscribe`].
pub struct Batches {
    rx: UnboundedReceiver<Value>,
}

impl Batches {
    /// Collects batches until `done` holds for the events received so far, for at most
    /// `timeout`; panics naming what was received otherwise. Returns the batches.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut batches = Vec::new();
        let mut events: Vec<Value> = Vec::new();
        while !done(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(batch)) => {
                    events.extend(items(&batch).cloned());
                    batches.push(batch);
                }
                Ok(None) => panic!("the audit relay stopped"),
                Err(_) => panic!(
                    "the audit events looked for did not arrive within {timeout:?}; {} batches \
                     with {} events arrived (see apiserver.log in the apiserver's data directory \
                     for \"Error in audit plugin\")",
                    batches.len(),
                    events.len()
                ),
            }
        }
        batches
    }

    /// Every batch that arrives within `window`, for checking that something did NOT arrive.
    pub async fn collect_for(&mut self, window: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + window;
        let mut batches = Vec::new();
        while let Ok(Some(batch)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            batches.push(batch);
        }
        batches
    }
}

/// The events of a batch (`items`; none if it has none).
pub fn items(batch: &Value) -> impl Iterator<Item = &Value> {
    batch["items"].as_array().into_iter().flatten()
}

/// The events of all `batches`.
pub fn events(batches: &[Value]) -> Vec<&Value> {
    batches.iter().flat_map(items).collect()
}

/// Receives one batch, forwards it to every target, then hands it to subscribers; answers with
/// the first failing target's status (or 502 if one cannot be reached), else 200.
async fn relay_batch(
    State((shared, http)): State<(Arc<Shared>, reqwest::Client)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    shared.batches.fetch_add(1, Ordering::Relaxed);
    let sends = shared.targets().into_iter().map(|url| {
        let mut request = http.post(url).body(body.clone());
        for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value.clone());
            }
        }
        request.send()
    });
    let answers = futures::future::join_all(sends).await;
    // After the targets answered: a subscriber that sees a batch knows every target has it.
    if let Ok(batch) = serde_json::from_slice::<Value>(&body) {
        shared.publish(&batch);
    }
    answers
        .into_iter()
        .map(|answer| match answer {
            Ok(response) => {
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            Err(_) => StatusCode::BAD_GATEWAY,
        })
        .find(|status| !status.is_success())
        .unwrap_or(StatusCode::OK)
}

/// The relay's https listener. The certificate is the apiserver's own, loaded at the first
/// connection: the apiserver writes it at start, before it builds its audit backend (which reads
/// it as the webhook's CA) and long before it sends a batch.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    pki: PathBuf,
    acceptor: Option<TlsAcceptor>,
}

impl TlsListener {
    fn acceptor(&mut self) -> Result<TlsAcceptor> {
        if let Some(acceptor) = &self.acceptor {
            return Ok(acceptor.clone());
        }
        let pem = |e| anyhow::anyhow!("reading the apiserver's certificate: {e:?}");
        let certs = CertificateDer::pem_file_iter(self.pki.join("apiserver.crt"))
            .map_err(pem)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem)?;
        let key = PrivateKeyDer::from_pem_file(self.pki.join("apiserver.key")).map_err(pem)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        self.acceptor = Some(acceptor.clone());
        Ok(acceptor)
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    /// The next connection whose TLS handshake succeeds; failures are printed and skipped.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("audit relay: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = match self.acceptor() {
                Ok(acceptor) => acceptor,
                Err(e) => {
                    eprintln!("audit relay: {e:#}");
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => eprintln!("audit relay: TLS handshake: {e}"),
                Err(_) => eprintln!("audit relay: TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// `bytes` random bytes from the OS, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}
