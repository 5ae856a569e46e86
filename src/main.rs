//! The `jitpe` binary: parse the command line, set up logging, dispatch.

use clap::Parser;
use jitpe::cli::{self, AuditCmd, Cli, Cmd, GrantsCmd};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    jitpe::telemetry::init();
    let command = match Cli::parse().command {
        // The API client's commands have exit codes of their own (`cli::client::EXIT_CODES`).
        Cmd::Request { server, wait, ask } => return cli::client::request(server, ask, wait).await,
        Cmd::Exec {
            server,
            ask,
            command,
        } => return cli::exec::exec(server, ask, command).await,
        other => other,
    };
    match dispatch(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<()> {
    // Locked per command: the read-only ones write from a blocking thread of their own.
    let out = || std::io::stdout().lock();
    match cmd {
        Cmd::Serve { config } => cli::serve(&config).await,
        Cmd::CheckConfig { file, config } => {
            let path = cli::check_config_path(file, config, &|k| std::env::var(k).ok())?;
            cli::check_config(&path, &mut out())
        }
        Cmd::Audit {
            action: AuditCmd::Verify { config },
        } => cli::read_only(cli::store_settings(&config)?, cli::audit_verify).await,
        Cmd::Audit {
            action: AuditCmd::Export { config },
        } => cli::read_only(cli::store_settings(&config)?, cli::audit_export).await,
        Cmd::Grants {
            action: GrantsCmd::List { config },
        } => {
            let list = |view: &dyn cli::StoreView, out: &mut dyn std::io::Write| {
                cli::grants_list(view, jiff::Timestamp::now(), out)
            };
            cli::read_only(cli::store_settings(&config)?, list).await
        }
        Cmd::Revoke {
            id,
            reason,
            operator,
            config,
        } => cli::revoke(&cli::settings(&config)?, id, reason, operator, &mut out()).await,
        Cmd::Reconcile { dry_run, config } => {
            cli::reconcile(&cli::settings(&config)?, dry_run, &mut out()).await
        }
        Cmd::Request { .. } | Cmd::Exec { .. } => unreachable!("dispatched in main"),
    }
}
