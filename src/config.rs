//! The configuration: one TOML file, secrets from the environment or files, validated at once.
//!
//! ```text
//!  jitpe.toml ──toml──▶ RawConfig ──validate (all issues at once)──▶ Settings { .., policy: Policy }
//!                          ▲                      ▲
//!        env overrides ────┘      secrets ────────┘  JITPE_<SECTION>_<NAME>, ..._FILE, <name>_file
//! ```
//!
//! Validation collects every problem with its dotted key (`server.listen`,
//! `policy.roles.debug.max_duration`) so an operator fixes a config in one pass, and the policy is
//! validated even when other sections are wrong. Every key jitpe does not know is one of those
//! problems (`unknown.rs`), for every command: a misspelt setting is never silently left at its
//! default. See `examples/jitpe.toml` for every key.
//!
//! # Environment
//!
//! Overrides of common non-secret keys (an empty value counts as unset):
//!
//! | variable           | overrides            |
//! |--------------------|----------------------|
//! | `JITPE_LISTEN`     | `server.listen`      |
//! | `JITPE_PUBLIC_URL` | `server.public_url`  |
//! | `JITPE_TLS_LISTEN` | `server.tls.listen`  |
//! | `JITPE_STORE_PATH` | `store.path`         |
//! | `JITPE_KUBECONFIG` | `kubernetes.kubeconfig` |
//! | `JITPE_INSTANCE`   | `kubernetes.instance` |
//! | `JITPE_ADMIN_SOCKET` | `server.admin_socket` (`off`: none) |
//!
//! Secrets are never written in the file. Each one is taken from, in order: `JITPE_<SECTION>_<NAME>`
//! (the value), `JITPE_<SECTION>_<NAME>_FILE` (a path), or the key `<name>_file` of its section (a
//! path). A file's trailing newline is dropped. A set-but-empty source is an error.
//!
//! | secret                     | variable                      | needed when |
//! |----------------------------|-------------------------------|-------------|
//! | `slack.bot_token`          | `JITPE_SLACK_BOT_TOKEN`       | Slack enabled |
//! | `slack.signing_secret`     | `JITPE_SLACK_SIGNING_SECRET`  | Slack enabled |
//! | `mattermost.bot_token`     | `JITPE_MATTERMOST_BOT_TOKEN`  | Mattermost enabled |
//! | `mattermost.command_token` | `JITPE_MATTERMOST_COMMAND_TOKEN` | Mattermost enabled |
//! | `mattermost.action_secret` | `JITPE_MATTERMOST_ACTION_SECRET` | Mattermost enabled (≥ 32 bytes) |
//! | `audit.k8s_audit_token`    | `JITPE_AUDIT_K8S_AUDIT_TOKEN` | optional: serves `POST /k8s/audit` (the apiserver's audit webhook) |
//! | `audit.falco_token`        | `JITPE_AUDIT_FALCO_TOKEN`     | optional: serves `POST /falco` (Falcosidekick's webhook output) |
//!
//! Relative paths (`store.path`, `kubernetes.kubeconfig`, `*_file`) are relative to the working
//! directory, like every other path on the command line.
//!
//! The environment is passed in (`&|k| std::env::var(k).ok()` in the binary) so that validation
//! is testable without touching the process environment.

mod admin;
mod api;
mod chat;
mod context;
mod raw;
mod secret;
mod settings;
mod summary;
mod tls;
mod unknown;
mod validate;

pub use crate::domain::policy::ConfigIssue;
pub use raw::{
    RawApi, RawAudit, RawConfig, RawKubernetes, RawMattermost, RawOutbox, RawServer, RawSlack,
    RawStore, RawTls, Written,
};
pub use secret::Secret;
pub use settings::{
    ApiSettings, AuditSettings, KubernetesSettings, MattermostSettings, OutboxSettings,
    ServerSettings, Settings, SlackSettings, StoreSettings, TlsSettings,
};
pub use summary::summary;

use std::path::{Path, PathBuf};

/// The environment as a lookup function; see the module doc for the variables read.
type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Why a config could not be loaded. `Display` is meant for the operator, as is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigErrors {
    /// The file is missing or unreadable.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key has a value of the wrong type.
    #[error("{origin}: {message}")]
    Syntax {
        /// The file path, or `the config` for text.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parses but has problems; all of them are listed.
    #[error("{} problem(s) in {origin}:\n{}", issues.len(), list(issues))]
    Invalid {
        /// The file path, or `the config` for text.
        origin: String,
        /// Every problem, with its dotted key.
        issues: Vec<ConfigIssue>,
    },
}

impl ConfigErrors {
    /// The problems with their keys (empty for read and syntax errors).
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigErrors::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}

fn list(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads, parses and validates the config file at `path`, with secrets and overrides from `env`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigErrors::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_named(&text, &path.display().to_string(), env)
}

/// Like [`load`], for config text already in memory (tests, `--config -`).
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigErrors> {
    parse_named(text, "the config", env)
}

/// Like [`load`], but validates only `[store]` and `server.admin_socket`: the read-only commands
/// (`audit verify|export`, `grants list`) run where the chat secrets are not, so they must not
/// need them. The file must still parse as a whole, without unknown keys.
pub fn load_store(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StoreSettings, ConfigErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigErrors::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (raw, unknown) = syntax(&text, &origin)?;
    refuse_unknown(validate::validate_store(raw, env), unknown, &origin)
}

/// The raw config and an issue for each unknown key in it.
fn syntax(text: &str, origin: &str) -> Result<(RawConfig, Vec<ConfigIssue>), ConfigErrors> {
    unknown::read(text).map_err(|e| ConfigErrors::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })
}

fn parse_named(text: &str, origin: &str, env: &Env<'_>) -> Result<Settings, ConfigErrors> {
    let (raw, unknown) = syntax(text, origin)?;
    refuse_unknown(validate::validate(raw, env), unknown, origin)
}

/// `validated`, unless the file had unknown keys: those are listed first, then any other issue.
fn refuse_unknown<T>(
    validated: Result<T, Vec<ConfigIssue>>,
    unknown: Vec<ConfigIssue>,
    origin: &str,
) -> Result<T, ConfigErrors> {
    let others = match validated {
        Ok(valid) if unknown.is_empty() => return Ok(valid),
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    };
    Err(ConfigErrors::Invalid {
        origin: origin.to_string(),
        issues: unknown.into_iter().chain(others).collect(),
    })
}

#[cfg(test)]
mod metrics_listen_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod time_zone_tests;
