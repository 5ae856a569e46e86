//! A real Kubernetes API server for the integration tests.
//!
//! By default every test binary starts ONE kube-apiserver (with embedded etcd, RBAC on, static
//! tokens) on loopback the first time a test calls [`cluster`]. The binary comes from
//! `bash .ci/build-apiserver`, found through `JITPE_TEST_APISERVER`; `bash .ci/test` sets it.
//! Alternatively `JITPE_TEST_KUBECONFIG` names a kubeconfig of an existing cluster (kind, k3d):
//! its current user is the admin and the other identities are impersonated.
//!
//! The static holds only connection data: each `#[tokio::test]` has its own runtime and a
//! client must not outlive the runtime it was made in, so [`Cluster::client`] makes a fresh one.
#![allow(dead_code)] // each test binary uses a different part of the fixture

mod apiserver;

use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ::kube::api::{Api, PostParams};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};
use anyhow::{Context, Result};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Path of the binary built by `.ci/build-apiserver`.
pub const APISERVER_ENV: &str = "JITPE_TEST_APISERVER";
/// Kubeconfig of an existing cluster to use instead of starting an apiserver.
pub const KUBECONFIG_ENV: &str = "JITPE_TEST_KUBECONFIG";
/// Extra kube-apiserver flags, separated by whitespace (for debugging, e.g. `-v=4`).
pub const EXTRA_ARGS_ENV: &str = "JITPE_TEST_APISERVER_ARGS";
/// How long [`Cluster::eventually_sar`] waits for RBAC informers to catch up.
pub const RBAC_SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The identities the fixture can act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Cluster admin (`system:masters`); sets up fixtures.
    Admin,
    /// The bot, with the user name of its ServiceAccount (`jitpe` in `jitpe-system`) so the
    /// shipped manifests apply unchanged; no permissions until a test applies them.
    Jitpe,
    /// An ordinary user in groups `team-a` and `developers`.
    Alice,
    /// An ordinary user in group `team-b`.
    Bob,
    /// An ordinary user in no groups.
    Carol,
}

impl Who {
    /// Every identity, admin first.
    pub const ALL: [Who; 5] = [Who::Admin, Who::Jitpe, Who::Alice, Who::Bob, Who::Carol];

    /// The Kubernetes user name.
    pub fn user(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Jitpe => "system:serviceaccount:jitpe-system:jitpe",
            Who::Alice => "alice",
            Who::Bob => "bob",
            Who::Carol => "carol",
        }
    }

    /// The groups the token (or impersonation) gives, without `system:authenticated`.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            Who::Admin => &["system:masters"],
            Who::Alice => &["team-a", "developers"],
            Who::Bob => &["team-b"],
            Who::Jitpe => &[
                "system:serviceaccounts",
                "system:serviceaccounts:jitpe-system",
            ],
            Who::Carol => &[],
        }
    }
}

/// The cluster the tests talk to; get it with [`cluster`].
pub struct Cluster {
    configs: Vec<(Who, Config)>,
    /// Data directory of the started apiserver; `None` for an existing cluster.
    dir: Option<PathBuf>,
    /// Kept open for the life of the process; see `apiserver::Started::stdin`.
    _stdin: Option<ChildStdin>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The cluster of this test binary, started on first use. Panics with the reason (and the
/// server's log) if it cannot be started; tests never skip silently.
pub fn cluster() -> &'static Cluster {
    cluster_with(|_| Vec::new())
}

/// Like [`cluster`], with extra kube-apiserver flags computed from the server's data directory
/// (for example `--audit-policy-file` pointing at a file the closure writes there). The first
/// call in a test binary decides, so a test binary should use one configuration throughout.
/// The closure is not called for an existing cluster (`JITPE_TEST_KUBECONFIG`).
pub fn cluster_with(extra_args: impl FnOnce(&Path) -> Vec<String>) -> &'static Cluster {
    let result = CLUSTER.get_or_init(|| init(extra_args).map_err(|e| format!("{e:#}")));
    match result {
        Ok(cluster) => cluster,
        Err(message) => panic!("no Kubernetes cluster for the tests: {message}"),
    }
}

fn init(extra_args: impl FnOnce(&Path) -> Vec<String>) -> Result<Cluster> {
    if let Some(path) = std::env::var_os(KUBECONFIG_ENV) {
        return existing_cluster(Path::new(&path));
    }
    let binary = std::env::var_os(APISERVER_ENV).map(PathBuf::from);
    let Some(binary) = binary.filter(|b| b.is_file()) else {
        anyhow::bail!(
            "{APISERVER_ENV} is unset or does not name a file. Build the test apiserver with \
             `bash .ci/build-apiserver` and set {APISERVER_ENV} to the path it prints last \
             (`bash .ci/test` does both), or set {KUBECONFIG_ENV} to use an existing cluster."
        );
    };
    let dir = tempfile::Builder::new()
        .prefix("jitpe-kube-")
        .tempdir()?
        .keep();
    let mut args = extra_args(&dir);
    if let Ok(extra) = std::env::var(EXTRA_ARGS_ENV) {
        args.extend(extra.split_whitespace().map(String::from));
    }
    let started = apiserver::start(&binary, args, dir)?;
    Ok(Cluster {
        configs: started.configs,
        dir: Some(started.dir),
        _stdin: Some(started.stdin),
    })
}

/// Uses the kubeconfig's current context as admin; other identities impersonate their user and
/// groups, which needs the admin to hold `impersonate` (cluster-admin does).
fn existing_cluster(path: &Path) -> Result<Cluster> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading {KUBECONFIG_ENV}={}", path.display()))?;
    // A private runtime: this may run inside any test's runtime, which must not be blocked on.
    let admin = std::thread::spawn(move || -> Result<Config> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let options = KubeConfigOptions::default();
        Ok(runtime.block_on(Config::from_custom_kubeconfig(kubeconfig, &options))?)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("loading the kubeconfig panicked"))??;
    let configs = Who::ALL
        .iter()
        .map(|&who| {
            let mut config = admin.clone();
            if who != Who::Admin {
                config.auth_info.impersonate = Some(who.user().to_string());
                config.auth_info.impersonate_groups =
                    Some(who.groups().iter().map(|g| g.to_string()).collect());
            }
            (who, config)
        })
        .collect();
    Ok(Cluster {
        configs,
        dir: None,
        _stdin: None,
    })
}

impl Cluster {
    /// A client configuration acting as `who`.
    pub fn config(&self, who: Who) -> Config {
        let (_, config) = self
            .configs
            .iter()
            .find(|(w, _)| *w == who)
            .expect("all identities");
        config.clone()
    }

    /// A new client acting as `who`, bound to the calling test's tokio runtime.
    pub fn client(&self, who: Who) -> Client {
        Client::try_from(self.config(who)).expect("a client from a valid configuration")
    }

    /// The started server's data directory (tokens.csv, kubeconfig, apiserver.log); `None` for
    /// an existing cluster.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The key the started apiserver signs service-account tokens with (ECDSA P-256, PKCS#8
    /// PEM) and their issuer, so tests can forge tokens the server would accept; `None` for
    /// an existing cluster, whose key is not ours.
    pub fn service_account_signer(&self) -> Option<(PathBuf, String)> {
        let dir = self.dir.as_ref()?;
        let issuer = self.config(Who::Admin).cluster_url.to_string();
        let issuer = issuer.trim_end_matches('/').to_string();
        Some((dir.join(apiserver::SA_SIGNING_KEY), issuer))
    }

    /// A kubeconfig whose current context is the admin, for tools such as kubectl.
    pub fn admin_kubeconfig(&self) -> std::path::PathBuf {
        match &self.dir {
            Some(dir) => dir.join("kubeconfig"),
            None => std::env::var_os(KUBECONFIG_ENV)
                .expect("an external cluster comes from its kubeconfig")
                .into(),
        }
    }

    /// A client for any user name and groups, impersonated by the admin.
    pub fn client_as(&self, user: &str, groups: &[&str]) -> Client {
        let mut config = self.config(Who::Admin);
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
        Client::try_from(config).expect("a client from a valid configuration")
    }

    /// Whether this is an existing cluster from `JITPE_TEST_KUBECONFIG`.
    pub fn is_external(&self) -> bool {
        self.dir.is_none()
    }

    /// Creates a namespace with a unique name starting with `prefix` and returns the name.
    /// No controller deletes namespaces, so tests never clean up or wait for deletion.
    pub async fn temp_namespace(&self, prefix: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Random too, so that runs against an existing cluster do not collide.
        let random = apiserver::random_hex(3).expect("random bytes");
        let name = format!("{prefix}-{n}-{random}");
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client(Who::Admin))
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Asks the server (as admin, with a SubjectAccessReview) whether `access` is allowed.
    pub async fn sar(&self, access: &Access) -> bool {
        let review = SubjectAccessReview {
            spec: access.spec(),
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client(Who::Admin))
            .create(&PostParams::default(), &review)
            .await
            .unwrap_or_else(|e| panic!("SubjectAccessReview for {access:?}: {e}"));
        answer.status.is_some_and(|s| s.allowed)
    }

    /// A token for ServiceAccount `name` of `ns` from the TokenRequest API (as the admin), valid
    /// 10 minutes, for `audiences` (none: the apiserver's own).
    pub async fn service_account_token(&self, ns: &str, name: &str, audiences: &[&str]) -> String {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
                expiration_seconds: Some(600),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        };
        let answer = Api::<ServiceAccount>::namespaced(self.client(Who::Admin), ns)
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .expect("a TokenRequest as the admin");
        answer.status.expect("an issued token").token
    }

    /// Polls [`Cluster::sar`] until it answers `expected`, for up to [`RBAC_SETTLE_TIMEOUT`]
    /// (the authorizer sees RBAC changes through informers, a moment late); panics otherwise.
    pub async fn eventually_sar(&self, access: &Access, expected: bool) {
        let deadline = Instant::now() + RBAC_SETTLE_TIMEOUT;
        while self.sar(access).await != expected {
            assert!(
                Instant::now() < deadline,
                "SubjectAccessReview for {access:?} still not allowed={expected} after \
                 {RBAC_SETTLE_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A question for a SubjectAccessReview: may this user do this?
#[derive(Clone, Debug)]
pub struct Access {
    user: String,
    groups: Vec<String>,
    verb: String,
    api_group: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Access {
    /// `who` doing `verb` on `resource` of `api_group` (`""` for the core group), cluster-wide,
    /// with the groups its token gives plus `system:authenticated`, as on a real request.
    pub fn new(who: Who, verb: &str, api_group: &str, resource: &str) -> Self {
        let mut groups = who.groups().to_vec();
        groups.push("system:authenticated");
        Self::user(who.user(), &groups, verb, api_group, resource)
    }

    /// Any user with exactly these groups (a SAR without groups means "in no groups").
    pub fn user(user: &str, groups: &[&str], verb: &str, api_group: &str, resource: &str) -> Self {
        Access {
            user: user.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            verb: verb.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            namespace: None,
            name: None,
            subresource: None,
        }
    }

    /// In `namespace` instead of cluster-wide.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// On a subresource (`log` of `pods`).
    pub fn subresource(mut self, sub: &str) -> Self {
        self.subresource = Some(sub.to_string());
        self
    }

    /// On the object called `name` only.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    fn spec(&self) -> SubjectAccessReviewSpec {
        SubjectAccessReviewSpec {
            user: Some(self.user.clone()),
            groups: Some(self.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(self.verb.clone()),
                group: Some(self.api_group.clone()),
                resource: Some(self.resource.clone()),
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                subresource: self.subresource.clone(),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        }
    }
}
