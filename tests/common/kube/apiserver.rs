//! Starts the test kube-apiserver (`tests/kube-apiserver/`, built by `.ci/build-apiserver`) as a
//! child process on free loopback ports, and waits until it serves.

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use ::kube::api::Api;
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;

use super::Who;

/// How long the server may take to become ready; about 5-10 s is normal on 2 cores.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running test apiserver: per-identity client configurations and the pipe that keeps it alive.
pub(super) struct Started {
    pub configs: Vec<(Who, Config)>,
    pub dir: PathBuf,
    /// Never written to; the server shuts down (and removes `dir`) when this pipe closes, which
    /// happens when the test process exits, because statics are never dropped.
    pub stdin: ChildStdin,
}

/// Starts the binary at `binary` with `extra_args` (built from the data directory) appended to
/// the kube-apiserver flags, and waits for `/readyz` and namespace `default`.
pub(super) fn start(binary: &Path, extra_args: Vec<String>, dir: PathBuf) -> Result<Started> {
    let [port, etcd_port, etcd_peer_port] = free_ports()?;
    let tokens = write_tokens(&dir)?;
    write_service_account_keys(&dir)?;
    let log_path = dir.join("apiserver.log");
    let log = File::create(&log_path).context("creating the apiserver log")?;
    let mut child = Command::new(binary)
        .arg(format!("--data-dir={}", dir.display()))
        .arg(format!("--etcd-port={etcd_port}"))
        .arg(format!("--etcd-peer-port={etcd_peer_port}"))
        .args(["--exit-on-stdin-close", "--remove-data-dir", "--"])
        .args(apiserver_flags(&dir, port))
        .args(extra_args)
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdin = child.stdin.take().context("child stdin")?;
    let kubeconfig = kubeconfig(&dir, port, &tokens);
    fs::write(
        dir.join("kubeconfig"),
        serde_json::to_vec_pretty(&kubeconfig)?,
    )?;

    let admin_token = &tokens[0].1;
    match wait_ready(&mut child, &dir, port, admin_token, kubeconfig) {
        Ok(configs) => Ok(Started {
            configs,
            dir,
            stdin,
        }),
        Err(err) => {
            // Killed, not stopped, so the data directory stays for inspection.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "test kube-apiserver did not become ready: {err:#}\ndata directory (kept): {}\n\
                 --- last lines of {} ---\n{}",
                dir.display(),
                log_path.display(),
                tail(&log_path, 40)
            )
        }
    }
}

/// The kube-apiserver flags of a single-node test server: loopback only, token authentication,
/// RBAC, service-account tokens signed with our own key. The Go wrapper adds etcd.
fn apiserver_flags(dir: &Path, port: u16) -> Vec<String> {
    let d = dir.display();
    vec![
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        // A loopback address is not a valid endpoint of the `kubernetes` Service, so the
        // reconciler that writes those endpoints is off.
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={d}/pki"),
        format!("--token-auth-file={d}/tokens.csv"),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer=https://127.0.0.1:{port}"),
        // Our own key rather than the wrapper's, in PKCS#8 so tests can sign tokens with it.
        format!("--service-account-signing-key-file={d}/{SA_SIGNING_KEY}"),
        format!("--service-account-key-file={d}/{SA_PUBLIC_KEY}"),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        // No controller creates default service accounts, as in envtest.
        "--disable-admission-plugins=ServiceAccount".into(),
    ]
}

/// The service-account signing key in the data directory: ECDSA P-256, PKCS#8 PEM.
pub(super) const SA_SIGNING_KEY: &str = "sa-signing.pem";
/// Its public half, which the apiserver verifies tokens with.
const SA_PUBLIC_KEY: &str = "sa-public.pem";

/// Writes a fresh service-account key pair (the apiserver reads a PKCS#8 private key to sign,
/// but verifies only with a public key or a SEC1/PKCS#1 private one, hence two files).
fn write_service_account_keys(dir: &Path) -> Result<()> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    fs::write(dir.join(SA_SIGNING_KEY), key.serialize_pem()).context("writing the SA key")?;
    fs::write(dir.join(SA_PUBLIC_KEY), key.public_key_pem()).context("writing the SA key")?;
    Ok(())
}

/// Three distinct free loopback ports: all listeners are held until all are picked.
fn free_ports() -> Result<[u16; 3]> {
    let listeners = [(); 3].map(|()| TcpListener::bind("127.0.0.1:0"));
    let mut ports = [0; 3];
    for (port, listener) in ports.iter_mut().zip(listeners) {
        *port = listener?.local_addr()?.port();
    }
    Ok(ports)
}

/// Writes `tokens.csv` with a fresh random token per identity and returns the tokens.
fn write_tokens(dir: &Path) -> Result<Vec<(Who, String)>> {
    let tokens: Vec<(Who, String)> = Who::ALL
        .iter()
        .map(|&who| random_hex(16).map(|t| (who, t)))
        .collect::<Result<_>>()?;
    let lines: Vec<String> = tokens
        .iter()
        .map(|(who, token)| {
            let user = who.user();
            match who.groups() {
                // tokenfile reads an empty fourth column as one group named "".
                [] => format!("{token},{user},uid-{user}"),
                groups => format!("{token},{user},uid-{user},\"{}\"", groups.join(",")),
            }
        })
        .collect();
    fs::write(dir.join("tokens.csv"), lines.join("\n") + "\n").context("writing tokens.csv")?;
    Ok(tokens)
}

/// `bytes` random bytes from the OS, hex-encoded.
pub(super) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

/// A kubeconfig (JSON is valid YAML) with one context per identity, named after its user; also
/// written to the data directory so a human can point kubectl at a running test server.
fn kubeconfig(dir: &Path, port: u16, tokens: &[(Who, String)]) -> serde_json::Value {
    let users: Vec<_> = tokens
        .iter()
        .map(|(who, token)| serde_json::json!({"name": who.user(), "user": {"token": token}}))
        .collect();
    let contexts: Vec<_> = tokens
        .iter()
        .map(|(who, _)| {
            let user = who.user();
            serde_json::json!({"name": user, "context": {"cluster": "test", "user": user}})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            // Written by the apiserver at start: its self-signed serving certificate and CA.
            "certificate-authority": dir.join("pki/apiserver.crt"),
        }}],
        "users": users,
        "contexts": contexts,
        "current-context": Who::Admin.user(),
    })
}

/// Polls on a private runtime, so that no test's runtime is involved (each `#[tokio::test]` has
/// its own, and clients must not outlive theirs).
fn wait_ready(
    child: &mut Child,
    dir: &Path,
    port: u16,
    admin_token: &str,
    kubeconfig: serde_json::Value,
) -> Result<Vec<(Who, Config)>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let cert = dir.join("pki/apiserver.crt");
    // The key is written after the certificate, so once it exists the certificate is complete.
    while !dir.join("pki/apiserver.key").exists() {
        check_alive(child, deadline)?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let kubeconfig: Kubeconfig = serde_json::from_value(kubeconfig)?;
    // A thread of its own: the caller may be inside a test's runtime, where block_on panics.
    std::thread::scope(|scope| {
        let poll = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let url = format!("https://127.0.0.1:{port}/readyz");
            runtime.block_on(poll_ready(
                child,
                deadline,
                &cert,
                (&url, admin_token),
                &kubeconfig,
            ))
        });
        poll.join()
            .map_err(|_| anyhow::anyhow!("readiness polling panicked"))?
    })
}

/// Waits for `/readyz` = 200, then for namespace `default`; returns the client configurations.
async fn poll_ready(
    child: &mut Child,
    deadline: Instant,
    cert: &Path,
    (readyz, admin_token): (&str, &str),
    kubeconfig: &Kubeconfig,
) -> Result<Vec<(Who, Config)>> {
    let configs = configs(kubeconfig).await?;
    let admin = Client::try_from(configs[0].1.clone())?;
    // The file holds the serving certificate and then its CA; trust both.
    let mut http = reqwest::Client::builder().tls_built_in_root_certs(false);
    for cert in reqwest::Certificate::from_pem_bundle(&fs::read(cert)?)? {
        http = http.add_root_certificate(cert);
    }
    let http = http.build()?;
    // With a token: extra flags may turn anonymous requests off (AlwaysAllow does).
    let ready = || http.get(readyz).bearer_auth(admin_token).send();
    while !ready().await.is_ok_and(|r| r.status() == 200) {
        check_alive(child, deadline)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Created by a post-start hook that /readyz does not wait for.
    let namespaces = Api::<Namespace>::all(admin);
    while namespaces.get_opt("default").await?.is_none() {
        check_alive(child, deadline)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(configs)
}

/// One client configuration per identity, each from its own kubeconfig context.
async fn configs(kubeconfig: &Kubeconfig) -> Result<Vec<(Who, Config)>> {
    let mut configs = Vec::new();
    for who in Who::ALL {
        let options = KubeConfigOptions {
            context: Some(who.user().to_string()),
            ..KubeConfigOptions::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options).await?;
        configs.push((who, config));
    }
    Ok(configs)
}

/// Fails once the server has exited or the deadline has passed.
fn check_alive(child: &mut Child, deadline: Instant) -> Result<()> {
    if let Some(status) = child.try_wait()? {
        bail!("the server exited with {status}");
    }
    if Instant::now() > deadline {
        bail!("not ready after {READY_TIMEOUT:?}");
    }
    Ok(())
}

/// The last `lines` lines of the log, for failure messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
