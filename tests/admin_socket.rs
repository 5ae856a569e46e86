//! `jitpe audit verify|export` and `grants list` while `jitpe serve` runs (a child process with
//! Slack on, against the fake Slack on loopback): they go through its admin socket, say so, and
//! print exactly what they print on the store once `serve` has stopped; a tampered chain is still
//! named; the socket is mode 0600 and a peer of another user is refused by its credentials.

mod common;

use common::fake_slack::FakeSlack;
use jitpe::domain::audit::AuditDraft;
use jitpe::domain::identity::Actor;
use jitpe::ports::Store;
use jitpe::store::sled::SledStore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Command;

const SIGNING_SECRET: &str = "admin-socket-test-signing-secret";

/// A `jitpe serve` child, stopped with SIGTERM when dropped (also when a test fails).
struct Serving(std::process::Child);

impl Serving {
    /// Stops it and waits until it has exited (and let go of the store).
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The example config with Slack on at `slack` and the store in `dir`.
fn config(dir: &Path, slack: &str) -> PathBuf {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
            .unwrap();
    let store = dir.join("store");
    let text = example
        .replacen(
            "enabled = false\napi_base_url = \"https://slack.com/api\"",
            &format!("enabled = true\napi_base_url = \"{slack}\""),
            1,
        )
        .replacen(
            "path = \"./data/jitpe\"",
            &format!("path = \"{}\"", store.display()),
            1,
        );
    assert!(
        text.contains(slack) && text.contains("/store\""),
        "example changed"
    );
    let path = dir.join("jitpe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `jitpe serve` on `config`; returns it and its base URL once `/healthz` answers and
/// the admin socket exists.
async fn serve(dir: &Path, config: &Path) -> (Serving, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_jitpe"))
        .args(["serve", "--config"])
        .arg(config)
        .env("JITPE_LISTEN", format!("127.0.0.1:{port}"))
        .env("JITPE_SLACK_BOT_TOKEN", "xoxb-test")
        .env("JITPE_SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("KUBECONFIG", dir.join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("JITPE_ADMIN_SOCKET")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("jitpe starts");
    let serving = Serving(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let socket = dir.join("store/admin.sock");
    while reqwest::get(format!("{base}/healthz")).await.is_err() || !socket.exists() {
        let log = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        assert!(Instant::now() < deadline, "serve never answered: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (serving, base)
}

/// A signed `/jit <text>` from `user` of the example workspace; its answer's text.
async fn command(base: &str, user: &str, text: &str, trigger: &str) -> String {
    let body = format!(
        "team_id=T0EXAMPLE00&api_app_id=A0EXAMPLE00&user_id={user}&command=%2Fjit&text={}\
         &trigger_id={trigger}",
        text.replace(' ', "+")
    );
    let ts = jiff::Timestamp::now().as_second();
    let sig =
        jitpe::chat::slack::verify::slack_signature(SIGNING_SECRET.as_bytes(), ts, body.as_bytes());
    let answer = reqwest::Client::new()
        .post(format!("{base}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

/// `jitpe <args> --config <config>`.
async fn jitpe(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitpe"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("JITPE_CONFIG")
        .env_remove("JITPE_ADMIN_SOCKET")
        .output()
        .await
        .expect("the jitpe binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const READ_ONLY: [&[&str]; 3] = [
    &["audit", "verify"],
    &["audit", "export"],
    &["grants", "list"],
];

#[tokio::test]
async fn the_read_only_commands_read_a_running_serve_through_its_socket_as_they_read_the_store() {
    let slack = FakeSlack::start("xoxb-test").await;
    let dir = tempfile::TempDir::new().unwrap();
    let config = config(dir.path(), &slack.base_url);
    let (serving, base) = serve(dir.path(), &config).await;
    let asks = [
        (
            "U0EXAMPLEDEV1",
            "request debug shop 15m INC-1 checkout 502s",
        ),
        (
            "U0EXAMPLESRE1",
            "request debug payments 20m INC-2 card declines",
        ),
        (
            "U0EXAMPLEDEV1",
            "request change shop-eu 30m CHG-3 new ingress",
        ),
    ];
    for (n, (user, ask)) in asks.iter().enumerate() {
        let answer = command(&base, user, ask, &format!("t{n}")).await;
        assert!(answer.contains(&format!("#{}", n + 1)), "{answer}");
    }
    let socket = dir.path().join("store/admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner may connect");

    let mut live = Vec::new();
    for args in READ_ONLY {
        let o = jitpe(args, &config).await;
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("reading through its admin socket"),
            "{args:?} says where it reads: {}",
            text(&o.stderr)
        );
        live.push(text(&o.stdout));
    }
    assert!(live[0].starts_with("audit chain OK: "), "{}", live[0]);
    assert!(live[1].lines().count() >= asks.len(), "{}", live[1]);
    assert_eq!(live[2].lines().count(), asks.len(), "{}", live[2]);
    assert!(live[2].contains("#3\t"), "{}", live[2]);

    serving.stop();
    assert!(!socket.exists(), "serve removes its socket when it stops");
    for (args, through_serve) in READ_ONLY.iter().zip(&live) {
        let o = jitpe(args, &config).await;
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert!(
            !text(&o.stderr).contains("admin socket"),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(&text(&o.stdout), through_serve, "{args:?}");
    }
}

/// More records than one page (1,024), the one edited on the second page.
#[tokio::test]
async fn verify_through_the_socket_names_a_record_edited_while_serve_was_stopped() {
    const N: i64 = 1_100;
    let slack = FakeSlack::start("xoxb-test").await;
    let dir = tempfile::TempDir::new().unwrap();
    let config = config(dir.path(), &slack.base_url);
    {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        for i in 0..N {
            let at = jiff::Timestamp::from_second(1_700_000_000 + i).unwrap();
            let draft = AuditDraft::new(Actor::system(), "reconcile_deleted", None).with("n", i);
            store.append_audit(draft, at).unwrap();
        }
        let audit = store.db().open_tree("audit").unwrap();
        let key = 1_030u64.to_be_bytes();
        let mut rec: serde_json::Value =
            serde_json::from_slice(&audit.get(key).unwrap().unwrap()).unwrap();
        rec["action"] = "approved".into();
        audit
            .insert(key, serde_json::to_vec(&rec).unwrap())
            .unwrap();
        store.db().flush().unwrap();
    }
    let (_serving, _) = serve(dir.path(), &config).await;
    let o = jitpe(&["audit", "verify"], &config).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let said = text(&o.stderr);
    assert!(said.contains("reading through its admin socket"), "{said}");
    assert!(said.contains("audit record 1030 was edited"), "{said}");
    let export = jitpe(&["audit", "export"], &config).await;
    assert!(export.status.success(), "{}", text(&export.stderr));
    let seqs: Vec<u64> = text(&export.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs[..N as usize], (1..=N as u64).collect::<Vec<_>>());
}

/// Needs root (as CI runs): the client runs as `nobody`. The socket's mode is opened up first,
/// so only the peer-credentials check stands between that user and the store. Without root the
/// decision itself is covered by `admin::server`'s unit test.
#[tokio::test]
async fn a_client_of_another_user_is_refused_by_its_credentials_and_logged() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: cannot run a client as another user; see admin::server's tests");
        return;
    }
    let slack = FakeSlack::start("xoxb-test").await;
    let dir = tempfile::TempDir::new().unwrap();
    let readable = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path(), readable).unwrap();
    let config = config(dir.path(), &slack.base_url);
    let (_serving, _) = serve(dir.path(), &config).await;
    let socket = dir.path().join("store/admin.sock");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_jitpe"))
        .args(["grants", "list", "--config"])
        .arg(&config)
        .env_remove("JITPE_CONFIG")
        .env_remove("JITPE_ADMIN_SOCKET")
        .uid(65534)
        .gid(65534)
        .output()
        .await
        .expect("the jitpe binary runs as nobody");
    let said = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("reading through its admin socket"), "{said}");
    assert!(said.contains("Only the user jitpe serve runs as"), "{said}");
    assert!(o.stdout.is_empty(), "nothing was read: {}", text(&o.stdout));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        if log.contains("refused a connection from another user") && log.contains("65534") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusal was not logged: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
