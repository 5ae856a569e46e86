//! jitpe served on loopback the way `jitpe serve` wires it (`app::service_with` + `app::serve`,
//! every worker running, the real clock), on the real test apiserver as jitpe's own identity,
//! with a fake Slack Web API and the apiserver's own audit webhook relayed to it
//! (`tests/common/audit.rs`), or sent straight to its https listener
//! (`tests/common/audit_direct.rs`, [`Live::start_direct`]): the rig of the end-to-end tests of
//! dynamic revocation.
//!
//! Grants are asked for and approved through the service (clicks on the card the outbox really
//! posted), so no click answer goes to Slack's real `response_url` host.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use jitpe::config::Settings;
use jitpe::domain::command::Command;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::{Namespace, RequestId, ResourceName, RoleName};
use jitpe::domain::request::State;
use jitpe::domain::view::CardAction;
use jitpe::ports::{CardRef, Cluster};
use jitpe::service::Service;
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};
use tokio::task::JoinHandle;

use super::audit::{self, Registration};
use super::audit_direct;
use super::fake_slack::{FakeSlack, Message, dm_channel_of};
use super::grants::{Spaces, jitpe_cluster};
use super::kube::{self, Access, Who};

/// The bot token the fake Slack accepts.
pub const SLACK_TOKEN: &str = "xoxb-live";
/// The Slack app's signing secret.
pub const SIGNING_SECRET: &str = "live-signing-secret-0123456789abcdef";
/// The approvers and audit channels.
pub const APPROVERS: &str = "CAPPROVERS";
pub const AUDIT: &str = "CAUDIT";
/// The Slack users: alice's and bob's requesters, and the approver.
pub const ALICE: &str = "UALICE";
pub const BOB: &str = "UBOB";
pub const APPROVER: &str = "UAPP1";
/// How long an outcome may take to show (batch wait, evaluation, chat delivery), generously.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The config of the served jitpe: Slack on the fake, the store in `dir`, the instance and
/// policy of `spaces`; `extra` is appended (more `[audit]` keys, revocation rules).
pub fn config_toml(dir: &Path, slack_api: &str, spaces: &Spaces, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:9"
[store]
path = "{store}"
[kubernetes]
kubeconfig = "{kubeconfig}"
instance = "{instance}"
[slack]
enabled = true
api_base_url = "{slack_api}"
app_id = "A0LIVE"
team_id = "T0LIVE"
approvers_channel = "{APPROVERS}"
audit_channel = "{AUDIT}"
[policy]
pending_ttl = "1h"
[policy.namespaces]
allow = ["{ns}", "{other}"]
[[policy.identities]]
kube_user = "alice"
chat = ["slack:{ALICE}"]
[[policy.identities]]
kube_user = "bob"
chat = ["slack:{BOB}"]
[policy.roles.debug]
default_duration = "15m"
max_duration = "1h"
approvers = ["slack:{APPROVER}"]
[[policy.roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[policy.roles.change]
default_duration = "30m"
max_duration = "2h"
approvers = ["slack:{APPROVER}"]
[[policy.roles.change.bindings]]
cluster_role = "jitpe-ingress-change"
{extra}"#,
        store = dir.join("store").display(),
        kubeconfig = dir.join("kubeconfig").display(),
        instance = spaces.instance,
        ns = spaces.ns,
        other = spaces.other,
    )
}

/// Writes a kubeconfig acting as jitpe's own identity (the test apiserver's, current context
/// switched), for workers that connect from `kubernetes.kubeconfig`.
fn write_jitpe_kubeconfig(dir: &Path) {
    let cluster = kube::cluster();
    let text = std::fs::read_to_string(cluster.admin_kubeconfig()).expect("the kubeconfig");
    let mut config: Value = serde_json::from_str(&text).expect("written as JSON");
    config["current-context"] = Value::from(Who::Jitpe.user());
    std::fs::write(dir.join("kubeconfig"), config.to_string()).expect("a kubeconfig");
}

/// One served jitpe at a time in a test binary, and when the last one stopped. Every jitpe
/// registered with the relay sees every event, and alice and bob are the same users in every
/// test, so one test's secret read would revoke another test's grant.
static SERIAL: LazyLock<Arc<Mutex<Option<Instant>>>> = LazyLock::new(Arc::default);

/// One served jitpe and what it talks to.
pub struct Live {
    /// The test's namespaces and instance.
    pub spaces: Spaces,
    /// The fake Slack Web API jitpe posts to.
    pub slack: FakeSlack,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The service behind the server (the same one `app::serve` runs).
    pub service: Service,
    /// The audit webhook token jitpe was configured with (the relay's).
    pub audit_token: String,
    registration: Option<Registration>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    serial: Option<OwnedMutexGuard<Option<Instant>>>,
    _dir: tempfile::TempDir,
}

impl Live {
    /// Starts jitpe over fresh namespaces, with the relay's token as `audit.k8s_audit_token`,
    /// `extra` appended to its config and `secrets` as more secret variables; registers its
    /// `POST /k8s/audit` with the relay.
    pub async fn start(extra: &str, secrets: &[(&str, &str)]) -> Live {
        let serial = SERIAL.clone().lock_owned().await;
        if let Some(stopped) = *serial {
            // The previous test's last batches are delivered before this jitpe registers.
            let quiet = stopped + audit::BATCH_MAX_WAIT * 2;
            tokio::time::sleep(quiet.saturating_duration_since(Instant::now())).await;
        }
        let relay = audit::relay();
        let mut live = Live::serve(extra, relay.token(), secrets, None).await;
        let registration = relay.register(format!("{}{}", live.base, audit::RELAY_PATH));
        live.registration = Some(registration);
        live.serial = Some(serial);
        live
    }

    /// Starts jitpe as [`Live::start`] does, but with the https listener the apiserver's audit
    /// webhook sends to straight (`audit_direct`), its certificate and token. Once per binary.
    pub async fn start_direct(extra: &str) -> Live {
        let direct = audit_direct::direct();
        let extra = format!("{}\n{extra}", direct.tls_toml());
        let https = direct.take_listener();
        Live::serve(&extra, &direct.token, &[], Some(https)).await
    }

    /// The cluster the tests run on (started by `audit` or `audit_direct`).
    pub fn cluster(&self) -> &'static kube::Cluster {
        kube::cluster()
    }

    /// Serves jitpe over fresh namespaces with `audit_token`, on a plain port and `https`.
    async fn serve(
        extra: &str,
        audit_token: &str,
        secrets: &[(&str, &str)],
        https: Option<tokio::net::TcpListener>,
    ) -> Live {
        let spaces = Spaces::new().await;
        let slack = FakeSlack::start(SLACK_TOKEN).await;
        let dir = tempfile::TempDir::new().expect("a temporary directory");
        write_jitpe_kubeconfig(dir.path());
        let toml = config_toml(dir.path(), &slack.base_url, &spaces, extra);
        let settings = settings(&toml, audit_token, secrets);
        let cluster: Arc<dyn Cluster> = jitpe_cluster();
        let s = settings.clone();
        let service = tokio::task::spawn_blocking(move || jitpe::app::service_with(&s, cluster))
            .await
            .expect("the open task")
            .expect("the store opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let served = service.clone();
        let listeners = jitpe::app::Listeners {
            http: listener,
            https,
            metrics: None,
        };
        let task = tokio::spawn(jitpe::app::serve(settings, served, listeners, shutdown));
        let base = format!("http://{addr}");
        wait_healthy(&base).await;
        Live {
            spaces,
            slack,
            base,
            service,
            audit_token: audit_token.to_string(),
            registration: None,
            stop: Some(stop),
            task: Some(task),
            serial: None,
            _dir: dir,
        }
    }

    /// Asks for `role` in the test's namespace as Slack user `user` for 15 minutes and approves
    /// it on the card the outbox posted; waits until the grant is Active and its access shows in
    /// a SubjectAccessReview (`access`).
    pub async fn grant(
        &self,
        user: &str,
        role: &str,
        resource: Option<&str>,
        access: &Access,
    ) -> RequestId {
        let minutes = Duration::from_secs(15 * 60);
        self.grant_for(user, (role, resource), minutes, access)
            .await
    }

    /// [`Live::grant`] for `duration`.
    pub async fn grant_for(
        &self,
        user: &str,
        (role, resource): (&str, Option<&str>),
        duration: Duration,
        access: &Access,
    ) -> RequestId {
        let id = self.request(user, (role, resource), duration).await;
        let card = self.card_of(id).await;
        let approver = Actor::new(Platform::Slack, APPROVER);
        self.service
            .click(&approver, id, CardAction::Approve, &card)
            .await
            .expect("approved");
        assert_eq!(self.state(id), State::Active);
        kube::cluster().eventually_sar(access, true).await;
        id
    }

    /// Submits a request as `user`; returns its id.
    pub async fn request(
        &self,
        user: &str,
        (role, resource): (&str, Option<&str>),
        duration: Duration,
    ) -> RequestId {
        let cmd = Command::Request {
            role: RoleName::parse(role).expect("a role name"),
            namespace: Namespace::parse(&self.spaces.ns).expect("a namespace"),
            resource: resource.map(|r| ResourceName::parse(r).expect("a resource name")),
            duration: Some(duration),
            reason: "INC-12 checkout 502s".into(),
        };
        let actor = Actor::new(Platform::Slack, user);
        self.service
            .command(&actor, cmd, None)
            .await
            .expect("request accepted");
        let stored = self.service.store().list().expect("the store answers");
        stored.last().expect("a request").value.id
    }

    /// The card of `id` as the outbox posted it (waits for it).
    pub async fn card_of(&self, id: RequestId) -> CardRef {
        self.until("the card is posted", || {
            let cards = self.service.store().cards(id).ok()?;
            cards.into_iter().find(|c| c.channel == APPROVERS)
        })
        .await
    }

    /// The state of request `id`.
    pub fn state(&self, id: RequestId) -> State {
        let stored = self.service.store().get(id).expect("the store answers");
        stored.expect("the request exists").value.state
    }

    /// Polls `probe` until it gives something, for up to [`PATIENCE`]; panics naming `what`.
    pub async fn until<T>(&self, what: &str, probe: impl FnMut() -> Option<T>) -> T {
        self.until_for(what, PATIENCE, probe).await
    }

    /// [`Live::until`] for up to `patience`.
    pub async fn until_for<T>(
        &self,
        what: &str,
        patience: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(Instant::now() < deadline, "{what}: not after {patience:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The messages of a channel, as they stand now.
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        self.slack.messages(channel)
    }

    /// The direct messages Slack user `user` received.
    pub fn dms(&self, user: &str) -> Vec<Message> {
        self.slack.messages(&dm_channel_of(user))
    }

    /// POSTs `body` to `path` with `headers`; returns the status and body.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let mut request = client.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("jitpe answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Unregisters from the relay, then stops the server and its workers.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        drop(self.registration.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), task).await;
            let served = result
                .expect("jitpe stops in time")
                .expect("the server task");
            served.expect("jitpe served without error");
        }
        self.release();
    }

    /// Lets the next test start, noting when this one stopped.
    fn release(&mut self) {
        if let Some(mut serial) = self.serial.take() {
            *serial = Some(Instant::now());
        }
    }

    /// A counter of `/metrics`: the value of the line that starts with `series` (name and
    /// labels as printed, e.g. `jitpe_observations_total{result="evaluated"}`); 0 if absent.
    pub async fn metric(&self, series: &str) -> u64 {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let text = client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("jitpe answers /metrics")
            .text()
            .await
            .expect("a text body");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    /// Waits until the watch worker has evaluated every observation queued so far (call it
    /// after the batch with the calls in question reached jitpe: [`audit::Batches`] hands out
    /// a batch only once its targets answered it).
    pub async fn evaluated(&self) {
        let accepted = self.metric(ACCEPTED).await;
        let deadline = Instant::now() + PATIENCE;
        while self.metric(EVALUATED).await < accepted {
            assert!(
                Instant::now() < deadline,
                "jitpe did not evaluate the {accepted} observations it queued"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The intake's counters in `/metrics`.
pub const ACCEPTED: &str = r#"jitpe_observations_total{result="accepted"}"#;
pub const EVALUATED: &str = r#"jitpe_observations_total{result="evaluated"}"#;

impl Drop for Live {
    /// A test that panicked: at least stop forwarding to this jitpe and ask it to stop.
    fn drop(&mut self) {
        drop(self.registration.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.release();
    }
}

/// Validated settings of `toml`, the Slack secrets and the audit token given as environment.
fn settings(toml: &str, audit_token: &str, secrets: &[(&str, &str)]) -> Settings {
    let env = |k: &str| match k {
        "JITPE_SLACK_BOT_TOKEN" => Some(SLACK_TOKEN.to_string()),
        "JITPE_SLACK_SIGNING_SECRET" => Some(SIGNING_SECRET.to_string()),
        "JITPE_AUDIT_K8S_AUDIT_TOKEN" => Some(audit_token.to_string()),
        _ => secrets
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string()),
    };
    jitpe::config::parse(toml, &env).unwrap_or_else(|e| panic!("the live config: {e}"))
}

/// Waits until `/healthz` answers.
async fn wait_healthy(base: &str) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let deadline = Instant::now() + PATIENCE;
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "jitpe never answered /healthz");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
