//! `jitpe serve` as a process, on the example config: it answers its health routes, refuses
//! unknown routes, says it is not ready without a cluster, serves the audit webhook when its
//! token is set, and shuts down cleanly on SIGTERM.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `jitpe serve` on the example config, listening on `port`, its store in `dir`, with no
/// cluster: jitpe must still serve, and say why it is not ready.
fn example_serve(dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitpe"));
    command
        .args([
            "serve",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"),
        ])
        .env("JITPE_LISTEN", format!("127.0.0.1:{port}"))
        .env("JITPE_STORE_PATH", dir.join("store"))
        .env("KUBECONFIG", dir.join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST");
    command
}

#[tokio::test]
async fn serve_runs_on_the_example_config_and_stops_on_sigterm() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = example_serve(dir.path(), port)
        .env("JITPE_AUDIT_K8S_AUDIT_TOKEN", AUDIT_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jitpe starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "serve never answered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(health.status(), 200);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("kubernetes"));
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("jitpe_open_requests"), "{metrics}");
    observation_routes(&client, &base).await;
    assert_eq!(
        client
            .get(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Slack is off in the example: its routes say so instead of accepting anything.
    let slack = client
        .post(format!("{base}/slack/commands"))
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(slack.status(), 404);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

const AUDIT_TOKEN: &str = "serve-test-audit-token";

/// With only the audit token set: `POST /k8s/audit` takes a batch larger than the chat body
/// limit and queues it; `POST /falco` is absent.
async fn observation_routes(client: &reqwest::Client, base: &str) {
    let event = r#"{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"userAgent":"PAD"}"#
        .replace("PAD", &"p".repeat(100 * 1024));
    let batch =
        format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{event}]}}"#);
    let audit = client
        .post(format!("{base}/k8s/audit"))
        .bearer_auth(AUDIT_TOKEN)
        .header("content-type", "application/json")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(audit.status(), 200);
    assert_eq!(audit.text().await.unwrap(), r#"{"queued":1}"#);
    let falco = client
        .post(format!("{base}/falco"))
        .bearer_auth(AUDIT_TOKEN);
    assert_eq!(falco.body("{}").send().await.unwrap().status(), 404);
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"jitpe_observations_total{result="accepted"} 1"#),
        "{metrics}"
    );
}

/// A `jitpe serve` child on the example config with Slack on (its API unreachable, which the
/// routes do not need) and the given `[server]` values, under `ulimit -n 1024` as in the issue's
/// reproduction. Returns the child and its base URL once `/healthz` answers.
async fn serve_with_slack(dir: &std::path::Path, server: &[(&str, &str)]) -> (Serving, String) {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
            .unwrap();
    let mut config = example.replacen(
        "enabled = false\napi_base_url = \"https://slack.com/api\"",
        "enabled = true\napi_base_url = \"http://127.0.0.1:9/api\"",
        1,
    );
    assert!(
        config.contains("enabled = true\napi_base_url"),
        "example changed"
    );
    for (key, value) in server {
        let line = config
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("the example sets {key}"))
            .to_string();
        config = config.replacen(&line, &format!("{key} = {value}"), 1);
    }
    let path = dir.join("jitpe.toml");
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_jitpe");
    let child = Serving(
        Command::new("sh")
            .args(["-c", "ulimit -n 1024 && exec \"$0\" serve --config \"$1\""])
            .arg(bin)
            .arg(&path)
            .env("JITPE_LISTEN", format!("127.0.0.1:{port}"))
            .env("JITPE_STORE_PATH", dir.join("store"))
            .env("JITPE_SLACK_BOT_TOKEN", "xoxb-test")
            .env("JITPE_SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("KUBECONFIG", dir.join("missing-kubeconfig"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .expect("jitpe starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        let log = || std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        assert!(Instant::now() < deadline, "serve never answered: {}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

const SIGNING_SECRET: &str = "serve-test-signing-secret";

/// A signed `/jit help` from the example workspace.
async fn signed_help(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    let body = "team_id=T0EXAMPLE00&api_app_id=A0EXAMPLE00&user_id=U0EXAMPLEDEV1&command=%2Fjit&text=help&trigger_id=t1";
    let ts = jiff::Timestamp::now().as_second();
    let sig =
        jitpe::chat::slack::verify::slack_signature(SIGNING_SECRET.as_bytes(), ts, body.as_bytes());
    client
        .post(format!("{base}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .body(body)
        .timeout(Duration::from_secs(3))
        .send()
        .await
}

/// Reads until the server closes; returns what it sent and how long that took.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

/// A child `jitpe serve`, stopped with SIGTERM when dropped (also when a test fails).
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn half_sent_requests_neither_starve_health_checks_nor_signed_commands_and_a_stalled_body_is_closed()
 {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::TempDir::new().unwrap();
    let (child, base) = serve_with_slack(
        dir.path(),
        &[
            // Long enough that only making room can let the health checks in.
            ("header_read_timeout", "\"60s\""),
            ("body_read_timeout", "\"1s\""),
        ],
    )
    .await;
    let addr = base.trim_start_matches("http://").to_string();
    // The issue's reproduction: more half-sent requests than jitpe has file descriptors.
    let mut held = Vec::new();
    for _ in 0..1100 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /slack/commands HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let answer = client
            .get(format!("{base}{path}"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        assert!(
            answer.is_ok(),
            "{path} while the sockets are held: {answer:?}"
        );
    }
    let help = signed_help(&client, &base)
        .await
        .expect("the command answers");
    assert_eq!(help.status(), 200);
    assert!(help.text().await.unwrap().contains("/jit request"));

    // A body that stalls is answered 408 and closed after body_read_timeout.
    let mut slow_body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = "POST /slack/commands HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nteam_id=";
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let (answer, waited) = until_closed(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    drop(held);
    drop(child);
}

#[tokio::test]
async fn when_every_connection_is_taken_the_oldest_idle_one_makes_room_and_stalled_heads_time_out()
{
    use jitpe::web::serve::{ServerLimits, serve};
    use tokio::io::AsyncWriteExt;
    let (w, _) = common::world::fake_world();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(1500),
        max_connections: 8,
    };
    tokio::spawn(serve(
        listener,
        w.app.clone(),
        limits,
        None,
        std::future::pending(),
    ));
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("a place was made");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // The oldest were closed to make room, at once; the newest wait for the header timeout.
    let (_, waited) = until_closed(&mut held[0]).await;
    assert!(waited < Duration::from_millis(500), "{waited:?}");
    let (_, waited) = until_closed(held.last_mut().unwrap()).await;
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
}

/// With `server.metrics_listen`, `/metrics` is served there and not on the main listener, and
/// `/readyz` says why jitpe is not ready: the reconcile sweep's own error, here that there is no
/// kubeconfig to reach a cluster with.
#[tokio::test]
async fn metrics_get_their_own_listener_and_readyz_says_why_it_is_not_ready() {
    let dir = tempfile::TempDir::new().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = example_serve(dir.path(), port)
        .env("JITPE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("jitpe starts");
    let (base, metrics_base) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{metrics_port}"),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let why = loop {
        if let Ok(r) = client.get(format!("{metrics_base}/readyz")).send().await {
            let body = r.text().await.unwrap();
            if body.contains("the last reconcile sweep failed") {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "readyz never named the sweep's error"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(why.starts_with("not ready:"), "{why}");
    assert!(why.contains("kubeconfig"), "{why}");
    let metrics = client.get(format!("{metrics_base}/metrics")).send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("jitpe_reconcile_failures_total"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("jitpe_reconcile_failures_total 0\n"),
        "{metrics}"
    );
    let main = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404, "/metrics is only on its own listener");
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Only what the metrics listener is for: no chat or observation routes there.
    let audit = client
        .post(format!("{metrics_base}/k8s/audit"))
        .send()
        .await;
    assert_eq!(audit.unwrap().status(), 404);
    child.kill().unwrap();
    child.wait().unwrap();
}
