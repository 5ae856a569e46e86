//! The `jitpe` binary: parse the command line, set up logging, dispatch.

use clap::Parser;
use jitpe::cli::{self, AuditCmd, Cli, Cmd, GrantsCmd};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    jitpe::telemetry::init();
    match dispatch(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    match cmd {
        Cmd::Serve { config } => cli::serve(&config).await,
        Cmd::CheckConfig { config } => cli::check_config(&config, out),
        Cmd::Audit {
            action: AuditCmd::Verify { config },
        } => cli::audit_verify(&cli::open_store(&cli::store_settings(&config)?)?, out),
        Cmd::Audit {
            action: AuditCmd::Export { config },
        } => cli::audit_export(&cli::open_store(&cli::store_settings(&config)?)?, out),
        Cmd::Grants {
            action: GrantsCmd::List { config },
        } => cli::grants_list(
            &cli::open_store(&cli::store_settings(&config)?)?,
            jiff::Timestamp::now(),
            out,
        ),
        Cmd::Revoke {
            id,
            reason,
            operator,
            config,
        } => cli::revoke(&cli::settings(&config)?, id, reason, operator, out).await,
        Cmd::Reconcile { dry_run, config } => {
            cli::reconcile(&cli::settings(&config)?, dry_run, out).await
        }
    }
}
