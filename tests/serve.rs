//! `jitpe serve` as a process, on the example config: it answers its health routes, refuses
//! unknown routes, says it is not ready without a cluster, and shuts down cleanly on SIGTERM.

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

#[tokio::test]
async fn serve_runs_on_the_example_config_and_stops_on_sigterm() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitpe"))
        .args([
            "serve",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"),
        ])
        .env("JITPE_LISTEN", format!("127.0.0.1:{port}"))
        .env("JITPE_STORE_PATH", dir.path().join("store"))
        // No cluster: jitpe must still serve, and say why it is not ready.
        .env("KUBECONFIG", dir.path().join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
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
    assert!(metrics.contains("jitpe_requests"), "{metrics}");
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
