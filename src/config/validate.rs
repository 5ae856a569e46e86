//! `RawConfig` → `Settings`: defaults, environment overrides, secrets, and every check, with all
//! problems collected rather than the first one returned.

use super::Env;
use super::chat;
use super::context::Ctx;
use super::raw::{RawAudit, RawConfig, RawKubernetes, RawOutbox, RawServer, RawStore};
use super::secret::SecretSource;
use super::settings::{
    AuditSettings, KubernetesSettings, OutboxSettings, ServerSettings, Settings, StoreSettings,
};
use crate::domain::ids::InstanceId;
use crate::domain::policy::ConfigIssue;
use crate::domain::policy::Policy;
use std::path::PathBuf;
use std::time::Duration;

/// Default `server.listen`: loopback, so a fresh start exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `server.body_limit`: chat payloads are a few KiB; anything bigger is not from them.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
const BODY_LIMIT_RANGE: std::ops::RangeInclusive<usize> = 1024..=16 * 1024 * 1024;
/// Default `audit.body_limit`: the apiserver sends up to 400 events per batch by default, a few
/// KiB each at `Metadata` level and more with request and response objects.
pub const DEFAULT_AUDIT_BODY_LIMIT: usize = 16 * 1024 * 1024;
const AUDIT_BODY_LIMIT_RANGE: std::ops::RangeInclusive<usize> = 64 * 1024..=256 * 1024 * 1024;
/// Default `outbox.give_up_after`: long enough to ride out a chat platform's bad afternoon.
const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(6 * 3600);
const DEFAULT_STORE_PATH: &str = "./data/jitpe";
const DEFAULT_FIELD_MANAGER: &str = "jitpe";

/// Validates everything; returns all issues if there is any.
pub(super) fn validate(mut raw: RawConfig, env: &Env<'_>) -> Result<Settings, Vec<ConfigIssue>> {
    let mut cx = Ctx {
        env,
        issues: Vec::new(),
        warnings: Vec::new(),
    };
    let admin_socket = raw.server.admin_socket.take();
    let server = server(&mut cx, raw.server);
    let store = store(&mut cx, raw.store, admin_socket);
    let kubernetes = kubernetes(&mut cx, raw.kubernetes);
    let slack = raw
        .slack
        .filter(|s| s.enabled)
        .map(|s| chat::slack(&mut cx, s));
    let public_url = server.public_url.clone();
    let mattermost = raw
        .mattermost
        .filter(|m| m.enabled)
        .map(|m| chat::mattermost(&mut cx, m, public_url.as_ref()));
    let audit = audit(&mut cx, raw.audit);
    let outbox = outbox(&mut cx, raw.outbox);
    let api = super::api::api(&mut cx, raw.api);
    chat::platform_warnings(&mut cx, &raw.policy, slack.is_some(), mattermost.is_some());
    // The policy is validated whatever else is wrong, so its issues are reported in the same run.
    let policy = Policy::try_from(raw.policy)
        .map_err(|e| cx.issues.extend(e.0))
        .ok();
    if let Some(p) = &policy {
        chat::role_channels(&mut cx, p);
    }
    match (cx.issues.is_empty(), policy) {
        (true, Some(policy)) => Ok(Settings {
            server,
            store,
            kubernetes,
            slack: slack.flatten(),
            mattermost: mattermost.flatten(),
            audit,
            outbox,
            api,
            policy,
            warnings: cx.warnings,
        }),
        _ => Err(cx.issues),
    }
}

/// Validates `[store]` and `server.admin_socket` alone, for the read-only commands that need
/// nothing else: a config whose chat secrets live only in the running pod still opens its store
/// (or reaches the running `serve`) for `audit verify`.
pub(super) fn validate_store(
    raw: RawConfig,
    env: &Env<'_>,
) -> Result<StoreSettings, Vec<ConfigIssue>> {
    let mut cx = Ctx {
        env,
        issues: Vec::new(),
        warnings: Vec::new(),
    };
    let store = store(&mut cx, raw.store, raw.server.admin_socket);
    match cx.issues.is_empty() {
        true => Ok(store),
        false => Err(cx.issues),
    }
}

fn store(cx: &mut Ctx<'_>, raw: RawStore, admin_socket: Option<String>) -> StoreSettings {
    let path = store_path(cx, raw.path);
    StoreSettings {
        admin_socket: super::admin::admin_socket(cx, admin_socket, &path),
        path,
        cache_bytes: in_range(cx, "store.cache_mb", raw.cache_mb, 16, 1..=4096) * 1024 * 1024,
        threads: in_range(cx, "store.threads", raw.threads, 4, 1..=64),
    }
}

fn server(cx: &mut Ctx<'_>, raw: RawServer) -> ServerSettings {
    let (header_read_timeout, body_read_timeout, max_connections) = slow_client_limits(cx, &raw);
    let (listen, from) = cx.overridden("JITPE_LISTEN", raw.listen);
    let listen = cx.socket_addr("server.listen", listen.as_deref(), &from, DEFAULT_LISTEN);
    let (metrics, from) = cx.overridden("JITPE_METRICS_LISTEN", raw.metrics_listen);
    let metrics_listen =
        metrics.map(|m| cx.socket_addr("server.metrics_listen", Some(&m), &from, "0.0.0.0:9090"));
    if metrics_listen.is_some_and(|m| m == listen) {
        cx.issue(
            "server.metrics_listen",
            "is the same address as server.listen: give /metrics a port of its own",
        );
    }
    let (public_url, from) = cx.overridden("JITPE_PUBLIC_URL", raw.public_url);
    let public_url = public_url.and_then(|u| cx.base_url("server.public_url", &u, &from));
    if let Some(u) = public_url.as_ref().filter(|u| u.scheme() == "http") {
        // Slack refuses plain-HTTP request URLs, and Mattermost's command token is a static secret.
        if !matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
            cx.warn(
                "server.public_url",
                "is plain http: chat tokens would cross the network unencrypted; use https",
            );
        }
    }
    let body_limit = raw.body_limit.unwrap_or(DEFAULT_BODY_LIMIT);
    if !BODY_LIMIT_RANGE.contains(&body_limit) {
        cx.issue(
            "server.body_limit",
            format!("{body_limit} bytes is out of range: use 1024 to 16777216 (default 65536)"),
        );
    }
    let max_in_flight = in_range(
        cx,
        "server.max_in_flight",
        raw.max_in_flight,
        256,
        1..=65536,
    );
    ServerSettings {
        listen,
        metrics_listen,
        public_url,
        body_limit,
        max_in_flight,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        tls: raw.tls.and_then(|raw| super::tls::tls(cx, raw)),
    }
}

/// The server's limits on slow and idle clients: header and body read timeouts, connections.
fn slow_client_limits(cx: &mut Ctx<'_>, raw: &RawServer) -> (Duration, Duration, usize) {
    use crate::web::serve::{
        DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    };
    let header = cx.duration(
        "server.header_read_timeout",
        raw.header_read_timeout.as_deref(),
        DEFAULT_HEADER_READ_TIMEOUT,
    );
    let body = cx.duration(
        "server.body_read_timeout",
        raw.body_read_timeout.as_deref(),
        DEFAULT_BODY_READ_TIMEOUT,
    );
    let max = in_range(
        cx,
        "server.max_connections",
        raw.max_connections,
        DEFAULT_MAX_CONNECTIONS,
        1..=1_000_000,
    );
    (header, body, max)
}

/// A number with a default that must lie in `range`; out of range is an issue with the key.
fn in_range<T>(
    cx: &mut Ctx<'_>,
    key: &str,
    raw: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> T
where
    T: PartialOrd + Copy + std::fmt::Display,
{
    let value = raw.unwrap_or(default);
    if !range.contains(&value) {
        cx.issue(
            key,
            format!(
                "{value} is out of range: use {} to {} (default {default})",
                range.start(),
                range.end()
            ),
        );
        return default;
    }
    value
}

fn store_path(cx: &mut Ctx<'_>, raw: Option<PathBuf>) -> PathBuf {
    let file = raw.map(|p| p.display().to_string());
    let (path, _) = cx.overridden("JITPE_STORE_PATH", file);
    match path {
        Some(p) if p.trim().is_empty() => {
            cx.issue(
                "store.path",
                "is empty: name a directory, like `./data/jitpe`",
            );
            PathBuf::from(DEFAULT_STORE_PATH)
        }
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(DEFAULT_STORE_PATH),
    }
}

fn kubernetes(cx: &mut Ctx<'_>, raw: RawKubernetes) -> KubernetesSettings {
    let file = raw.kubeconfig.map(|p| p.display().to_string());
    let (kubeconfig, _) = cx.overridden("JITPE_KUBECONFIG", file);
    let reconcile_interval = cx.duration(
        "kubernetes.reconcile_interval",
        raw.reconcile_interval.as_deref(),
        Duration::from_secs(300),
    );
    let field_manager = raw
        .field_manager
        .unwrap_or_else(|| DEFAULT_FIELD_MANAGER.to_string());
    // The API server refuses managers longer than 128 characters; say so before the first apply.
    if field_manager.trim().is_empty() || field_manager.len() > 128 {
        cx.issue(
            "kubernetes.field_manager",
            "must be 1 to 128 characters (default `jitpe`)",
        );
    }
    KubernetesSettings {
        kubeconfig: kubeconfig
            .filter(|k| !k.trim().is_empty())
            .map(PathBuf::from),
        reconcile_interval,
        field_manager,
        instance: instance(cx, raw.instance),
        max_in_flight: in_range(
            cx,
            "kubernetes.max_in_flight",
            raw.max_in_flight,
            32,
            1..=512,
        ),
    }
}

/// `kubernetes.instance`, overridden by `JITPE_INSTANCE` (the shipped Deployment sets it to its
/// namespace, so each installation differs without anyone writing it into the config).
fn instance(cx: &mut Ctx<'_>, file: Option<String>) -> InstanceId {
    let (value, from) = cx.overridden("JITPE_INSTANCE", file);
    match value.map(InstanceId::try_from) {
        None => InstanceId::default(),
        Some(Ok(instance)) => instance,
        Some(Err(e)) => {
            cx.issue("kubernetes.instance", format!("{e}{from}"));
            InstanceId::default()
        }
    }
}

fn audit(cx: &mut Ctx<'_>, raw: RawAudit) -> AuditSettings {
    let chain_head_interval = cx.duration(
        "audit.chain_head_interval",
        raw.chain_head_interval.as_deref(),
        Duration::from_secs(3600),
    );
    let k8s_audit_token = optional_secret(
        cx,
        "k8s_audit_token",
        raw.k8s_audit_token_file.as_deref(),
        raw.k8s_audit_token.is_some(),
    );
    let falco_token = optional_secret(
        cx,
        "falco_token",
        raw.falco_token_file.as_deref(),
        raw.falco_token.is_some(),
    );
    let body_limit = raw.body_limit.unwrap_or(DEFAULT_AUDIT_BODY_LIMIT);
    if !AUDIT_BODY_LIMIT_RANGE.contains(&body_limit) {
        cx.issue(
            "audit.body_limit",
            format!(
                "{body_limit} bytes is out of range: use 65536 to 268435456 (default 16777216, \
                 16 MiB; an audit batch holds up to 400 events)"
            ),
        );
    }
    AuditSettings {
        chain_head_interval,
        k8s_audit_token,
        falco_token,
        body_limit,
    }
}

/// A secret of `[audit]` that may be absent (its route is then not served).
fn optional_secret(
    cx: &mut Ctx<'_>,
    name: &str,
    file: Option<&std::path::Path>,
    inline: bool,
) -> Option<super::Secret> {
    let src = SecretSource {
        section: "audit",
        name,
        file,
        inline,
    };
    src.lookup(cx.env)
        .map_err(|i| cx.issues.push(i))
        .ok()
        .flatten()
}

fn outbox(cx: &mut Ctx<'_>, raw: RawOutbox) -> OutboxSettings {
    let per_channel_interval = cx.duration(
        "outbox.per_channel_interval",
        raw.per_channel_interval.as_deref(),
        Duration::from_secs(1),
    );
    let give_up_after = cx.duration(
        "outbox.give_up_after",
        raw.give_up_after.as_deref(),
        DEFAULT_GIVE_UP_AFTER,
    );
    if raw.max_attempts.is_some() {
        cx.issue(
            "outbox.max_attempts",
            "is no longer used: a rate limit no longer counts as a failed attempt; set \
             `give_up_after` (how long a message may keep failing, default \"6h\") instead",
        );
    }
    OutboxSettings {
        per_channel_interval,
        give_up_after,
    }
}
