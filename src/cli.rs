//! The command line: `serve`, `check-config`, `audit verify|export` and `grants list`
//! (`cli/read.rs`: on the store, or through a running `serve`'s admin socket), `revoke`,
//! `reconcile`, and the systems API's client, `request` and `exec` (`cli/client.rs`,
//! `cli/exec.rs`). Each command is a small function over the library; `main` only dispatches.

mod admin_client;
mod api_client;
pub mod client;
pub mod exec;
mod pages;
mod read;
mod view;

pub use read::{audit_export, audit_verify, grants_list, open_store, read_only};
pub use view::StoreView;

use crate::config::{self, Settings, StoreSettings};
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::request::Event;
use crate::store::breakglass::{self, Note};
use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use read::is_locked;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Just-in-time Kubernetes access granted from Slack or Mattermost.
#[derive(Debug, Parser)]
#[command(name = "jitpe", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the bot: HTTP routes, expiry worker, reconcile sweep, chat outbox.
    Serve {
        /// The config file.
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config file; print a summary, or every problem with its key (exit 1).
    CheckConfig {
        /// The config file (the same as --config; kept for existing scripts).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// The config file [env: JITPE_CONFIG], unless FILE names it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The audit log.
    Audit {
        /// verify or export.
        #[command(subcommand)]
        action: AuditCmd,
    },
    /// Grants.
    Grants {
        /// list.
        #[command(subcommand)]
        action: GrantsCmd,
    },
    /// Break-glass: end a grant now from a shell (audited with the local user as actor).
    Revoke {
        /// The request id.
        id: RequestId,
        /// Why (recorded in the audit log and shown to the requester).
        #[arg(long)]
        reason: String,
        /// Who is doing this, for the audit log: the local user unless named (in a pod, where
        /// `$USER` is not the person, name yourself).
        #[arg(long, env = "USER")]
        operator: String,
        /// The config file.
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
    /// Run the reconcile sweep once.
    Reconcile {
        /// Only print what would be done.
        #[arg(long)]
        dry_run: bool,
        /// The config file.
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
    /// Ask for access as a system (a CI job) through jitpe's API with a ServiceAccount token.
    #[command(after_help = client::exit_codes_help())]
    Request {
        /// Where jitpe is, and the token.
        #[command(flatten)]
        server: client::ServerArgs,
        /// Wait until the request is Active (then print its expiry) or final.
        #[arg(long)]
        wait: bool,
        /// What to ask for.
        #[command(flatten)]
        ask: client::AskArgs,
    },
    /// Ask, wait until Active, run a command with the access, revoke as soon as it exits.
    #[command(after_help = exec_help())]
    Exec {
        /// Where jitpe is, and the token.
        #[command(flatten)]
        server: client::ServerArgs,
        /// What to ask for.
        #[command(flatten)]
        ask: client::AskArgs,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `exec --help`'s epilogue: its exit status, then the codes it shares with `request`.
fn exec_help() -> String {
    format!(
        "Exits with the command's status (128+N if a signal N killed it). If the command never \
         ran, or revoking failed after it succeeded, jitpe says why on stderr and exits with:\n\n{}",
        client::exit_codes_help()
    )
}

/// `jitpe audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute the hash chain; name the first bad record (exit 1).
    Verify {
        /// The config file (for the store path).
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
    /// Write every record as JSON Lines to stdout.
    Export {
        /// The config file (for the store path).
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
}

/// `jitpe grants ...`.
#[derive(Debug, Subcommand)]
pub enum GrantsCmd {
    /// Pending and active requests with their time left.
    List {
        /// The config file.
        #[arg(long, env = "JITPE_CONFIG")]
        config: PathBuf,
    },
}

/// Loads settings with the real environment.
pub fn settings(path: &Path) -> anyhow::Result<Settings> {
    Ok(config::load(path, &|k| std::env::var(k).ok())?)
}

/// Loads only the `[store]` settings, for the offline commands: they read the store and nothing
/// else, so they work on a machine without the chat secrets.
pub fn store_settings(path: &Path) -> anyhow::Result<StoreSettings> {
    Ok(config::load_store(path, &|k| std::env::var(k).ok())?)
}

/// The file `check-config` checks: `--config FILE` or the positional `FILE` (its older form,
/// still accepted), else `JITPE_CONFIG` from `env`. Both forms at once must name the same file;
/// either one on the command line wins over the environment, as `--config` does elsewhere.
pub fn check_config_path(
    file: Option<PathBuf>,
    config: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PathBuf> {
    match (file, config) {
        (Some(file), Some(config)) if !same_file(&file, &config) => bail!(
            "check-config was given two config files, {} and --config {}: name one, with \
             --config FILE (or FILE alone, as before)",
            file.display(),
            config.display()
        ),
        (Some(path), _) | (None, Some(path)) => Ok(path),
        (None, None) => env("JITPE_CONFIG")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                anyhow!(
                    "name the config file: jitpe check-config --config FILE, or set JITPE_CONFIG"
                )
            }),
    }
}

/// Whether `a` and `b` name one file: the same text, or the same file once resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// `check-config`: prints the summary, or the problems and fails.
pub fn check_config(path: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let s = settings(path)?;
    // The summary already lists the warnings.
    writeln!(out, "{}", config::summary(&s))?;
    Ok(())
}

/// `revoke`: as `operator`, through the service (bindings first, then the record). When
/// `jitpe serve` holds the store, a break-glass note (`store::breakglass`) is left for it first
/// and the bindings are then deleted directly, so access ends now and the running jitpe records
/// the revocation by `operator` with `reason` within seconds.
pub async fn revoke(
    s: &Settings,
    id: RequestId,
    reason: String,
    operator: String,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        bail!("--reason is empty: say why access is being ended, for the audit log");
    }
    if operator.trim().is_empty() {
        bail!("--operator is empty: name the person ending access, for the audit log");
    }
    let service = match crate::app::open_service(s).await {
        Ok(service) => service,
        Err(e) if is_locked(&e) => return revoke_beside_serve(s, id, reason, operator, out).await,
        Err(e) => return Err(e),
    };
    let by = Actor::new(Platform::Cli, operator);
    let req = service.apply(id, Event::Revoke { by, reason }).await?;
    writeln!(
        out,
        "request #{} is {}; its bindings were deleted",
        req.id, req.state
    )?;
    Ok(())
}

/// The break-glass path while `serve` holds the store: the note is durable before any binding
/// goes, so the running jitpe can never take the deletion for one outside jitpe.
async fn revoke_beside_serve(
    s: &Settings,
    id: RequestId,
    reason: String,
    operator: String,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let note = Note {
        request_id: id,
        operator,
        reason,
        at: jiff::Timestamp::now(),
    };
    let store_dir = s.store.path.clone();
    let path = tokio::task::spawn_blocking(move || breakglass::write(&store_dir, &note))
        .await?
        .with_context(|| {
            format!(
                "cannot leave the break-glass note in {}; nothing was deleted",
                breakglass::spool_dir(&s.store.path).display()
            )
        })?;
    let cluster = crate::kube::lazy::LazyKubeCluster::new(
        s.kubernetes.kubeconfig.clone(),
        &s.kubernetes.field_manager,
    );
    let n = delete_directly(&cluster, &s.kubernetes.instance, id).await?;
    writeln!(
        out,
        "the store is in use by a running jitpe: deleted {n} object(s) of request #{id} directly."
    )?;
    writeln!(
        out,
        "The running jitpe records the revocation with your name and reason within seconds (note {}).",
        path.display()
    )?;
    Ok(())
}

/// Deletes this instance's objects of request `id`, found by their labels (the record is out of
/// reach while `serve` holds the store), bindings first.
async fn delete_directly(
    cluster: &dyn crate::ports::Cluster,
    instance: &crate::domain::ids::InstanceId,
    id: RequestId,
) -> anyhow::Result<usize> {
    let found = cluster.list_managed(instance, Some(id)).await?;
    let mut objects: Vec<_> = found.iter().map(|o| o.object_ref()).collect();
    objects.sort_by_key(|o| o.kind);
    Ok(cluster.delete_objects(&objects).await?)
}

/// `reconcile [--dry-run]`.
pub async fn reconcile(s: &Settings, dry_run: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let service = crate::app::open_service(s).await?;
    let report = service.reconcile(dry_run).await?;
    let verb = if dry_run { "would" } else { "did" };
    if report.actions.is_empty() {
        writeln!(out, "nothing to do")?;
    }
    for a in &report.actions {
        writeln!(out, "{verb}: {a}")?;
    }
    for e in &report.errors {
        writeln!(out, "failed: {e}")?;
    }
    if !report.errors.is_empty() {
        bail!("{} reconcile action(s) failed", report.errors.len());
    }
    Ok(())
}

/// `serve`: listens on the configured address until SIGINT or SIGTERM.
pub async fn serve(path: &Path) -> anyhow::Result<()> {
    let s = settings(path)?;
    for w in s.warnings() {
        tracing::warn!(warning = %w, "config");
    }
    let listener = tokio::net::TcpListener::bind(s.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", s.server.listen))?;
    crate::app::run(s, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
