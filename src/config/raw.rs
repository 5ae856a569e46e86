//! The config file as written: every table and key, before defaults and validation.
//!
//! A key none of these structs has is never silently dropped: the config is read through
//! `unknown.rs`, which refuses every such key at once, each with its dotted path and line (a
//! typo like `listne` would otherwise be a setting quietly left at its default). Secrets are
//! absent on purpose: only their `*_file` paths are keys. A secret written inline is accepted by
//! the parser (as [`Written`], which keeps nothing) only so that validation can say where it
//! belongs instead.

use crate::domain::policy::RawPolicy;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::path::PathBuf;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    /// `[server]`: the HTTP listener.
    #[serde(default)]
    pub server: RawServer,
    /// `[store]`: the sled database.
    #[serde(default)]
    pub store: RawStore,
    /// `[kubernetes]`: the cluster connection.
    #[serde(default)]
    pub kubernetes: RawKubernetes,
    /// `[slack]`: absent means Slack is off.
    pub slack: Option<RawSlack>,
    /// `[mattermost]`: absent means Mattermost is off.
    pub mattermost: Option<RawMattermost>,
    /// `[audit]`: chain head posting and the observation routes (`POST /k8s/audit`, `POST /falco`).
    #[serde(default)]
    pub audit: RawAudit,
    /// `[outbox]`: outgoing chat message pacing.
    #[serde(default)]
    pub outbox: RawOutbox,
    /// `[api]`: the systems API.
    #[serde(default)]
    pub api: RawApi,
    /// `[policy]`: roles, namespaces, identities, approvers.
    #[serde(default)]
    pub policy: RawPolicy,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    /// Socket address to listen on (default `127.0.0.1:8080`; env `JITPE_LISTEN`).
    pub listen: Option<String>,
    /// The URL chat servers reach jitpe at (env `JITPE_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// The Unix socket through which `jitpe audit` and `grants list` read the store while
    /// `serve` holds it (default `<store.path>/admin.sock`; `"off"`: none; env
    /// `JITPE_ADMIN_SOCKET`).
    pub admin_socket: Option<String>,
    /// Largest accepted request body in bytes (default 65536).
    pub body_limit: Option<usize>,
    /// Chat requests handled at once; more are answered "busy" at once (default 256).
    pub max_in_flight: Option<usize>,
    /// Longest wait for a request head, e.g. `10s` (default); also the idle keep-alive time.
    pub header_read_timeout: Option<String>,
    /// Longest wait for a chat request's body once its head arrived, e.g. `10s` (default).
    pub body_read_timeout: Option<String>,
    /// Connections open at once (default 512); when full, the oldest idle one is closed.
    pub max_connections: Option<usize>,
    /// A separate listener for `/metrics` (and `/healthz`, `/readyz`), e.g. `0.0.0.0:9090`;
    /// absent means `/metrics` is served on `listen` (env `JITPE_METRICS_LISTEN`).
    pub metrics_listen: Option<String>,
    /// `[server.tls]`: a second listener, https; absent means none.
    pub tls: Option<RawTls>,
}

/// `[server.tls]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    /// Socket address of the https listener (default `0.0.0.0:8443`; env `JITPE_TLS_LISTEN`).
    pub listen: Option<String>,
    /// PEM certificate chain, server certificate first (required).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate (required).
    pub key_file: Option<PathBuf>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawApi {
    /// Audiences a caller's token must be issued for (default `["jitpe"]`).
    pub audiences: Option<Vec<String>>,
    /// Largest accepted request body in bytes (default 16384).
    pub body_limit: Option<usize>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    /// Directory of the sled database (default `./data/jitpe`; env `JITPE_STORE_PATH`).
    pub path: Option<PathBuf>,
    /// sled's page cache in MiB (default 16).
    pub cache_mb: Option<u64>,
    /// Threads that run store work (default 4).
    pub threads: Option<usize>,
}

/// `[kubernetes]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawKubernetes {
    /// A kubeconfig file; absent means in-cluster or the default kubeconfig (env `JITPE_KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// How often managed bindings are reconciled (default `5m`).
    pub reconcile_interval: Option<String>,
    /// Server-side apply field manager (default `jitpe`).
    pub field_manager: Option<String>,
    /// This installation's identity in the cluster's objects (default `jitpe`; env
    /// `JITPE_INSTANCE`).
    pub instance: Option<String>,
    /// Grants ended (or activated from the deadline worker) at once (default 32).
    pub max_in_flight: Option<usize>,
}

/// `[slack]`.
#[derive(Debug, Deserialize)]
pub struct RawSlack {
    /// Whether Slack is used (default true when the table is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Web API base URL (default `https://slack.com/api`).
    pub api_base_url: Option<String>,
    /// Expected `api_app_id` of incoming requests, if set.
    pub app_id: Option<String>,
    /// Expected `team_id` of incoming requests, if set.
    pub team_id: Option<String>,
    /// Channel id where approval cards are posted.
    pub approvers_channel: Option<String>,
    /// Channel id where audit events are posted.
    pub audit_channel: Option<String>,
    /// File holding the bot token (`xoxb-…`).
    pub bot_token_file: Option<PathBuf>,
    /// File holding the signing secret.
    pub signing_secret_file: Option<PathBuf>,
    /// Refused: see the module doc.
    pub bot_token: Option<Written>,
    /// Refused: see the module doc.
    pub signing_secret: Option<Written>,
}

/// `[mattermost]`.
#[derive(Debug, Deserialize)]
pub struct RawMattermost {
    /// Whether Mattermost is used (default true when the table is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Server base URL, e.g. `https://mattermost.example.com`.
    pub url: Option<String>,
    /// The team whose slash command calls jitpe.
    pub team_id: Option<String>,
    /// Channel id where approval cards are posted.
    pub approvers_channel: Option<String>,
    /// Channel id where audit events are posted.
    pub audit_channel: Option<String>,
    /// The bot's user id; absent means asked from `GET /api/v4/users/me`.
    pub bot_user_id: Option<String>,
    /// The IANA time zone moments are shown in, e.g. `Europe/Berlin` (default `UTC`).
    pub time_zone: Option<String>,
    /// File holding the bot access token.
    pub bot_token_file: Option<PathBuf>,
    /// File holding the slash command token.
    pub command_token_file: Option<PathBuf>,
    /// File holding the button HMAC secret (at least 32 bytes).
    pub action_secret_file: Option<PathBuf>,
    /// Refused: see the module doc.
    pub bot_token: Option<Written>,
    /// Refused: see the module doc.
    pub command_token: Option<Written>,
    /// Refused: see the module doc.
    pub action_secret: Option<Written>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawAudit {
    /// How often the chain head is posted (default `1h`).
    pub chain_head_interval: Option<String>,
    /// File holding the bearer token of the Kubernetes audit webhook; absent means
    /// `POST /k8s/audit` is not served.
    pub k8s_audit_token_file: Option<PathBuf>,
    /// Refused: see the module doc.
    pub k8s_audit_token: Option<Written>,
    /// File holding the bearer token Falcosidekick sends; absent means `POST /falco` is not
    /// served.
    pub falco_token_file: Option<PathBuf>,
    /// Refused: see the module doc.
    pub falco_token: Option<Written>,
    /// Largest body of `POST /k8s/audit` and `POST /falco` in bytes (default 16 MiB).
    pub body_limit: Option<usize>,
}

/// `[outbox]`.
#[derive(Debug, Default, Deserialize)]
pub struct RawOutbox {
    /// Least time between two messages to one channel (default `1s`).
    pub per_channel_interval: Option<String>,
    /// How long a message may keep failing before it is given up (default `6h`).
    pub give_up_after: Option<String>,
    /// Replaced by `give_up_after`; refused with a message saying so.
    pub max_attempts: Option<Written>,
}

fn yes() -> bool {
    true
}

/// A value written under a key that only exists to be refused with advice (an inline secret, a
/// retired key): accepted in any shape and kept as nothing. Not serde's `IgnoredAny`, which the
/// unknown-key check (`unknown.rs`) reports as an unknown key wherever it is used.
#[derive(Debug, Clone, Copy)]
pub struct Written;

impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Discard).map(|()| Written)
    }
}

/// Reads any value and keeps nothing.
struct Discard;

impl<'de> Visitor<'de> for Discard {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Written>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<Written, Written>()?.is_some() {}
        Ok(())
    }
}
