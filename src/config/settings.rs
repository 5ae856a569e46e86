//! The validated settings: typed values with defaults applied, built only by [`super::load`] and
//! [`super::parse`].

use super::secret::Secret;
use crate::domain::ids::InstanceId;
use crate::domain::policy::ConfigIssue;
use crate::domain::policy::Policy;
use crate::web::tls::TlsFiles;
use reqwest::Url;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything jitpe needs to run. `Debug` is safe to log: secrets print `[redacted]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The HTTP listener.
    pub server: ServerSettings,
    /// The sled database.
    pub store: StoreSettings,
    /// The cluster connection.
    pub kubernetes: KubernetesSettings,
    /// Slack, if enabled.
    pub slack: Option<SlackSettings>,
    /// Mattermost, if enabled.
    pub mattermost: Option<MattermostSettings>,
    /// Audit chain head and the observation routes.
    pub audit: AuditSettings,
    /// Outgoing chat message pacing.
    pub outbox: OutboxSettings,
    /// The systems API.
    pub api: ApiSettings,
    /// The access policy.
    pub policy: Policy,
    /// Private, so a `Settings` only comes out of validation.
    pub(super) warnings: Vec<ConfigIssue>,
}

impl Settings {
    /// Things that are allowed but probably not meant (e.g. approvers on a platform that is off).
    pub fn warnings(&self) -> &[ConfigIssue] {
        &self.warnings
    }
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// Where chat servers reach jitpe; ends with `/`. Required when Mattermost is enabled.
    pub public_url: Option<Url>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Chat requests handled at once; more are shed with a "busy" answer.
    pub max_in_flight: usize,
    /// Longest wait for a request head (and for the next one on an idle connection).
    pub header_read_timeout: Duration,
    /// Longest wait for a chat request's body after its head; then 408.
    pub body_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// The listener of `/metrics`, if separate: then the main listeners do not serve it.
    pub metrics_listen: Option<SocketAddr>,
    /// The https listener, if configured.
    pub tls: Option<TlsSettings>,
}

/// `[api]`: the systems API, served when `[[policy.systems]]` names someone.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// A caller's token must be valid for one of these (TokenReview `spec.audiences`).
    pub audiences: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

/// `[server.tls]`: the https listener, serving the same routes as `listen`.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// The certificate and key, checked at validation and re-read when they change.
    pub files: TlsFiles,
}

/// `[store]`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Directory of the sled database (relative paths are relative to the working directory).
    pub path: PathBuf,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Threads that run store work.
    pub threads: usize,
    /// Where a running `serve` lets the read-only commands (`audit verify|export`, `grants
    /// list`) read this store, which it holds locked (`server.admin_socket`); `None`: nowhere.
    pub admin_socket: Option<PathBuf>,
}

/// `[kubernetes]`.
#[derive(Debug, Clone)]
pub struct KubernetesSettings {
    /// A kubeconfig file; `None` means in-cluster config, else the default kubeconfig.
    pub kubeconfig: Option<PathBuf>,
    /// How often managed bindings are reconciled.
    pub reconcile_interval: Duration,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// This installation's identity: in the labels and names of every object it manages.
    pub instance: InstanceId,
    /// Due deadlines handled at once.
    pub max_in_flight: usize,
}

/// `[slack]`, when enabled.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// Web API base URL, ending with `/` so `join("chat.postMessage")` appends.
    pub api_base_url: Url,
    /// Expected `api_app_id` of incoming requests, if configured.
    pub app_id: Option<String>,
    /// Expected `team_id` of incoming requests, if configured.
    pub team_id: Option<String>,
    /// Channel id of the approvers channel.
    pub approvers_channel: String,
    /// Channel id of the audit channel.
    pub audit_channel: String,
    /// Bot token for the Web API.
    pub bot_token: Secret,
    /// v0 request signing secret.
    pub signing_secret: Secret,
}

/// `[mattermost]`, when enabled.
#[derive(Debug, Clone)]
pub struct MattermostSettings {
    /// Server base URL, ending with `/` so `join("api/v4/posts")` appends.
    pub url: Url,
    /// The team whose slash command calls jitpe.
    pub team_id: String,
    /// Channel id of the approvers channel.
    pub approvers_channel: String,
    /// Channel id of the audit channel.
    pub audit_channel: String,
    /// The bot's user id, if configured (else ask `GET /api/v4/users/me`).
    pub bot_user_id: Option<String>,
    /// The zone moments are shown in (Mattermost has no per-reader time).
    pub time_zone: jiff::tz::TimeZone,
    /// `integration.url` of buttons: `<public_url>mattermost/actions`.
    pub actions_url: Url,
    /// Bot access token (`Authorization: Bearer`).
    pub bot_token: Secret,
    /// Slash command token (`Authorization: Token`).
    pub command_token: Secret,
    /// Button context HMAC key, at least 32 bytes.
    pub action_secret: Secret,
}

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// How often the chain head is posted to the audit channels.
    pub chain_head_interval: Duration,
    /// Bearer token of the Kubernetes audit webhook; `None` means `POST /k8s/audit` is absent.
    pub k8s_audit_token: Option<Secret>,
    /// Bearer token of Falco alerts; `None` means `POST /falco` is absent.
    pub falco_token: Option<Secret>,
    /// Largest body of the observation routes, in bytes (their own limit: audit batches are far
    /// larger than chat payloads).
    pub body_limit: usize,
}

/// `[outbox]`.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Least time between two messages to one channel.
    pub per_channel_interval: Duration,
    /// How long a message may keep failing (outages; rate limits count as time too) before it
    /// is given up, audited and, for a card, the requester told.
    pub give_up_after: Duration,
}
