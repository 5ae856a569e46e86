//! `jitpe request` and `jitpe exec`, the built binary run as a child process against a real
//! jitpe (`common::live`, served the way `jitpe serve` wires it, with the fake Slack) on the
//! real test apiserver, authenticated with a TokenRequest token (audience `jitpe`) of a
//! ServiceAccount the test creates: access shows in SubjectAccessReviews while it is Active and
//! is gone right after `exec`'s command ends, however it ends.

mod common;

use common::kube::{Access, Who, cluster};
use common::live::{APPROVER, APPROVERS, Live};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::domain::view::CardAction;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::process::Command;

/// The exit codes of `jitpe::cli::client::EXIT_CODES` the tests expect.
const REFUSED: i32 = 3;

/// A served jitpe whose `[[policy.systems]]` lets the test's ServiceAccount ask for `debug` in
/// the test's namespace without a vote (30 minutes, 10 a day) and for `change` with the role's
/// approvers; and that ServiceAccount's jitpe token in a file.
struct Rig {
    live: Live,
    /// `system:serviceaccount:<ns>:deployer`'s namespace.
    sa_ns: String,
    dir: TempDir,
}

impl Rig {
    async fn start() -> Rig {
        // The namespaces are made once jitpe runs (the served jitpe starts the apiserver with its
        // audit webhook), so the rules name them by pattern; each test has its own jitpe.
        let extra = r#"
[[policy.systems]]
description = "deploy pipeline"
service_accounts = ["system:serviceaccount:ci-*:deployer"]
roles = ["debug"]
namespaces = ["shop-*"]
auto_approve = { max_duration = "30m", per_day = 10 }
[[policy.systems]]
description = "deploy pipeline, changes"
service_accounts = ["system:serviceaccount:ci-*:deployer"]
roles = ["change"]
namespaces = ["shop-*"]
"#;
        let live = Live::start(extra, &[]).await;
        let sa_ns = cluster().temp_namespace("ci").await;
        create_service_account(&sa_ns).await;
        let dir = TempDir::new().expect("a temporary directory");
        let token = token_request(&sa_ns, &["jitpe"]).await;
        std::fs::write(dir.path().join("token"), token).expect("the token file");
        Rig { live, sa_ns, dir }
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// `jitpe <sub> --server … --token-file … <args>`, ready to run.
    fn jitpe(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jitpe"));
        cmd.arg(sub)
            .arg("--server")
            .arg(&self.live.base)
            .arg("--token-file")
            .arg(self.token_file())
            .args(args)
            .env_remove("JITPE_SERVER")
            .env_remove("JITPE_TOKEN_FILE")
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// May the ServiceAccount list Ingresses in the test's namespace?
    fn list_ingresses(&self) -> Access {
        let user = format!("system:serviceaccount:{}:deployer", self.sa_ns);
        let ns_group = format!("system:serviceaccounts:{}", self.sa_ns);
        let groups = [
            "system:serviceaccounts",
            ns_group.as_str(),
            "system:authenticated",
        ];
        Access::user(&user, &groups, "list", "networking.k8s.io", "ingresses")
            .in_namespace(&self.live.spaces.ns)
    }

    /// A kubeconfig for kubectl acting as the ServiceAccount, with a token for the apiserver.
    async fn sa_kubeconfig(&self) -> PathBuf {
        let admin = std::fs::read_to_string(cluster().admin_kubeconfig()).expect("kubeconfig");
        let admin: serde_json::Value = serde_json::from_str(&admin).expect("written as JSON");
        let token = token_request(&self.sa_ns, &[]).await;
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": "deployer", "user": {"token": token}}],
            "contexts": [{"name": "deployer", "context": {"cluster": "test", "user": "deployer"}}],
            "current-context": "deployer",
        });
        let path = self.dir.path().join("kubeconfig");
        std::fs::write(&path, config.to_string()).expect("the kubeconfig");
        path
    }
}

async fn create_service_account(ns: &str) {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("deployer".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(cluster().client(Who::Admin), ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("creating the ServiceAccount");
}

/// A TokenRequest token of `deployer` in `ns` for `audiences` (none: the apiserver's own).
async fn token_request(ns: &str, audiences: &[&str]) -> String {
    cluster()
        .service_account_token(ns, "deployer", audiences)
        .await
}

async fn finished(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("jitpe exits in time")
        .expect("jitpe runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The request id `jitpe request` / `exec` printed (`request #N …`).
fn id_in(text: &str) -> RequestId {
    let after = text.split("request #").nth(1).expect("an id is printed");
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    RequestId(digits.parse().expect("a number"))
}

#[tokio::test]
async fn an_auto_approved_request_with_wait_exits_0_with_its_expiry_and_the_access_works() {
    let rig = Rig::start().await;
    cluster().eventually_sar(&rig.list_ingresses(), false).await;
    let ns = rig.live.spaces.ns.clone();
    let args = [
        "--wait",
        "--label",
        "run=https://ci/1",
        "debug",
        &ns,
        "15m",
        "smoke",
        "test",
    ];
    let out = finished(rig.jitpe("request", &args).spawn().expect("spawn")).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("active until 20"), "{}", stdout(&out));
    let id = id_in(&stdout(&out));
    assert_eq!(rig.live.state(id), State::Active);
    cluster().eventually_sar(&rig.list_ingresses(), true).await;
    rig.live.stop().await;
}

#[tokio::test]
async fn an_approval_needing_request_waits_for_the_click_then_exits_0() {
    let rig = Rig::start().await;
    let ns = rig.live.spaces.ns.clone();
    let args = ["--wait", "change", &ns, "10m", "rollout", "ingress"];
    let mut child = rig.jitpe("request", &args).spawn().expect("spawn");
    let store = rig.live.service.store().clone();
    let (id, card) = rig
        .live
        .until("the card is posted", || {
            let req = store.list().ok()?.pop()?;
            let card = store.cards(req.value.id).ok()?;
            let card = card.into_iter().find(|c| c.channel == APPROVERS)?;
            Some((req.value.id, card))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().expect("a child").is_none(),
        "--wait blocks while the request is pending"
    );
    assert_eq!(rig.live.state(id), State::Pending);
    let approver = Actor::new(Platform::Slack, APPROVER);
    rig.live
        .service
        .click(&approver, id, CardAction::Approve, &card)
        .await
        .expect("approved");
    let out = finished(child).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("request #{id} active until")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("is pending (0 of 1 approvals)"),
        "{}",
        stderr(&out)
    );
    rig.live.stop().await;
}

#[tokio::test]
async fn a_request_the_policy_refuses_exits_with_the_refused_code_and_jitpes_message() {
    let rig = Rig::start().await;
    // The rules name `shop-*` only; `other-…` is allowed for people, not for this system.
    let other = rig.live.spaces.other.clone();
    let out = finished(
        rig.jitpe("request", &["--wait", "debug", &other, "why"])
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(out.status.code(), Some(REFUSED), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("jitpe refused the call (403)"), "{err}");
    assert!(
        err.contains(&other),
        "jitpe's message names the namespace: {err}"
    );
    assert!(
        rig.live.service.store().list().unwrap().is_empty(),
        "nothing stored"
    );
    // A token for another audience is refused too, with the 401's message.
    let wrong = token_request(&rig.sa_ns, &["vault"]).await;
    std::fs::write(rig.token_file(), wrong).unwrap();
    let ns = rig.live.spaces.ns.clone();
    let out = finished(
        rig.jitpe("request", &["debug", &ns, "why"])
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(out.status.code(), Some(REFUSED), "{}", stderr(&out));
    assert!(stderr(&out).contains("(401)"), "{}", stderr(&out));
    rig.live.stop().await;
}

/// Runs `jitpe exec … debug <ns> 10m <reason> -- <command>` with kubectl acting as the SA.
async fn exec(rig: &Rig, command: &[&str]) -> tokio::process::Child {
    let kubeconfig = rig.sa_kubeconfig().await;
    let ns = rig.live.spaces.ns.clone();
    let mut args = vec!["debug", ns.as_str(), "10m", "deploy", "--"];
    args.extend_from_slice(command);
    let mut cmd = rig.jitpe("exec", &args);
    cmd.env("KUBECONFIG", kubeconfig);
    cmd.spawn().expect("spawn exec")
}

/// After exec: the request is Revoked and the access is gone.
async fn revoked(rig: &Rig, out: &Output) {
    let id = id_in(&stderr(out));
    assert_eq!(rig.live.state(id), State::Revoked, "{}", stderr(out));
    cluster().eventually_sar(&rig.list_ingresses(), false).await;
}

#[tokio::test]
async fn exec_runs_kubectl_with_the_access_and_revokes_as_soon_as_it_exits() {
    let rig = Rig::start().await;
    let ns = rig.live.spaces.ns.clone();
    // Without jitpe, the ServiceAccount may not list Ingresses: kubectl fails.
    let kubeconfig = rig.sa_kubeconfig().await;
    let denied = std::process::Command::new("kubectl")
        .args(["get", "ingresses", "-n", &ns])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("kubectl runs");
    assert!(!denied.status.success(), "no access before exec");
    let out = finished(exec(&rig, &["kubectl", "get", "ingresses", "-n", &ns]).await).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No resources found"),
        "{}",
        stderr(&out)
    );
    revoked(&rig, &out).await;
    rig.live.stop().await;
}

#[tokio::test]
async fn exec_returns_a_failing_commands_status_and_still_revokes() {
    let rig = Rig::start().await;
    let script = r#"test -n "$JITPE_REQUEST_ID" && test -n "$JITPE_EXPIRES_AT" && exit 3"#;
    let out = finished(exec(&rig, &["sh", "-c", script]).await).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    revoked(&rig, &out).await;
    rig.live.stop().await;
}

#[tokio::test]
async fn exec_sent_sigterm_forwards_it_waits_for_the_command_and_revokes() {
    let rig = Rig::start().await;
    let marker = rig.dir.path().join("running");
    let script = r#"touch "$0"; exec sleep 60"#;
    let marker_arg = marker.display().to_string();
    let child = exec(&rig, &["sh", "-c", script, &marker_arg]).await;
    wait_for_file(&marker).await;
    cluster().eventually_sar(&rig.list_ingresses(), true).await;
    let pid = child.id().expect("exec runs").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = finished(child).await;
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr(&out));
    revoked(&rig, &out).await;
    rig.live.stop().await;
}

async fn wait_for_file(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the command never started ({} is missing)", path.display());
}
