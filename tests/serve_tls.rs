//! The https listener (`[server.tls]`) as `jitpe serve` runs it: the same routes as the plain
//! listener with the configured certificate, nothing for a client that does not speak TLS or
//! does not trust it, and a stalled handshake closed after `header_read_timeout`.

mod common;

use common::audit_direct::{SERVER_NAME, issue};
use jitpe::app::Listeners;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// jitpe serving plain and https on loopback with a test CA's certificate for [`SERVER_NAME`];
/// returns the https address, the CA's PEM and what stops it.
async fn serve(dir: &std::path::Path) -> (SocketAddr, SocketAddr, Vec<u8>, Stop) {
    let (ca, cert, key) = issue(dir).expect("certificates");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml");
    let example = std::fs::read_to_string(example).unwrap();
    let toml = format!(
        "{example}\n[server.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        cert.display(),
        key.display(),
    );
    let toml = toml.replace(
        "header_read_timeout = \"10s\"",
        "header_read_timeout = \"1s\"",
    );
    let store = dir.join("store").display().to_string();
    let kubeconfig = dir.join("missing-kubeconfig").display().to_string();
    let env = |k: &str| match k {
        "JITPE_STORE_PATH" => Some(store.clone()),
        "JITPE_KUBECONFIG" => Some(kubeconfig.clone()),
        "JITPE_AUDIT_K8S_AUDIT_TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    };
    let settings = jitpe::config::parse(&toml, &env).expect("the config is valid");
    assert_eq!(settings.server.header_read_timeout, Duration::from_secs(1));
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (http.local_addr().unwrap(), https.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        http,
        https: Some(https),
        metrics: None,
    };
    let task = tokio::spawn(jitpe::app::run(settings, listeners, async move {
        let _ = rx.await;
    }));
    let ca = std::fs::read(ca).unwrap();
    (addrs.0, addrs.1, ca, Stop(Some(tx), Some(task)))
}

const TOKEN: &str = "tls-test-audit-token";

/// Stops the served jitpe and checks it stopped without error.
struct Stop(
    Option<tokio::sync::oneshot::Sender<()>>,
    Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
);

impl Stop {
    async fn stop(mut self) {
        let _ = self.0.take().unwrap().send(());
        let task = self.1.take().unwrap();
        let done = tokio::time::timeout(Duration::from_secs(30), task).await;
        done.expect("stops in time")
            .unwrap()
            .expect("served without error");
    }
}

/// A client that trusts `ca` and finds [`SERVER_NAME`] at `addr`.
fn trusting(ca: &[u8], addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .resolve(SERVER_NAME, addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_https_listener_serves_the_same_routes_with_its_certificate() {
    let dir = tempfile::TempDir::new().unwrap();
    let (http, https, ca, stop) = serve(dir.path()).await;
    let client = trusting(&ca, https);
    let base = format!("https://{SERVER_NAME}:{}", https.port());
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "https never answered: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);
    // The audit webhook's route with its token, as the apiserver sends it.
    let batch = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#;
    let posted = client
        .post(format!("{base}/k8s/audit"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let forged = client
        .post(format!("{base}/k8s/audit"))
        .bearer_auth("not-the-token")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // The plain listener still answers.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let plain = plain.get(format!("http://{http}/healthz")).send().await;
    assert_eq!(plain.unwrap().status(), 200);
    stop.stop().await;
}

#[tokio::test]
async fn clients_that_do_not_trust_it_or_do_not_speak_tls_get_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let (_, https, _ca, stop) = serve(dir.path()).await;
    let stranger = reqwest::Client::builder()
        .no_proxy()
        .resolve(SERVER_NAME, https)
        .build()
        .unwrap();
    let url = format!("https://{SERVER_NAME}:{}/healthz", https.port());
    // The port is bound before jitpe starts, so this waits for it rather than failing to connect.
    let refused = stranger.get(&url).send().await;
    let e = refused.expect_err("an untrusted certificate is refused by the client");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");

    // Plain HTTP on the https port gets no HTTP answer, and the connection is closed.
    let mut plain = TcpStream::connect(https).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(!String::from_utf8_lossy(&got).contains("200"), "{got:?}");

    // A client that connects and never starts the handshake is closed after the 1 s head timeout.
    let mut silent = TcpStream::connect(https).await.unwrap();
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "a stalled handshake was kept open");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    stop.stop().await;
}
