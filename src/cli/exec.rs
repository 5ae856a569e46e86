//! `jitpe exec`: access that lives as long as one command. Asks (as `jitpe request --wait`),
//! runs the command once Active with `JITPE_REQUEST_ID` and `JITPE_EXPIRES_AT` in its
//! environment, and revokes as soon as it exits, whatever its status, also when SIGINT or
//! SIGTERM arrive (forwarded to the command first). If this process dies anyway, access still
//! ends at its expiry.

use super::api_client::{ApiClient, CallError, Remote};
use super::client::{self, AskArgs, Outcome, ServerArgs};
use crate::domain::request::State;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How long revoking may keep retrying (503s, connection errors) after the command.
const REVOKE_PATIENCE: Duration = Duration::from_secs(30);

/// The exit code of a command that could not be started, as shells use it.
const NOT_RUN: u8 = 127;

/// `jitpe exec`: the command's exit status (128+N if killed by signal N), or the
/// [`client::EXIT_CODES`] code saying why it never ran or why revoking failed.
pub async fn exec(server: ServerArgs, ask: AskArgs, command: Vec<String>) -> ExitCode {
    let api = match ApiClient::new(&server.server, &server.token_file) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("jitpe: {e}");
            return Outcome::Usage.into();
        }
    };
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jitpe: cannot handle SIGINT/SIGTERM ({e}); the command was not run");
            return Outcome::Usage.into();
        }
    };
    let request = match obtain(&api, &ask, &mut signals).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let status = run(&command, &request, &mut signals).await;
    finish(&api, &request, status).await
}

/// The request asked for by `ask` once Active; otherwise the exit code saying why not (the
/// command is not run). A signal while waiting revokes the request if it was granted already.
async fn obtain(api: &ApiClient, ask: &AskArgs, signals: &mut Signals) -> Result<Remote, ExitCode> {
    let deadline = Instant::now() + ask.timeout;
    let body = ask.body().map_err(|e| not_run(&CallError::Usage(e)))?;
    let created = tokio::select! {
        r = api.create(&body, deadline) => r.map_err(|e| not_run(&e))?,
        sig = signals.recv() => return Err(interrupted(api, None, sig).await),
    };
    client::say(&created);
    let last = match Outcome::of_state(created.state) {
        Some(_) => created,
        None => tokio::select! {
            r = client::poll(api, created.clone(), deadline) => r.map_err(|e| not_run(&e))?,
            sig = signals.recv() => return Err(interrupted(api, Some(created.id), sig).await),
        },
    };
    if last.state == State::Active {
        return Ok(last);
    }
    eprintln!(
        "jitpe: request #{} is {}; the command was not run",
        last.id, last.state
    );
    Err(Outcome::of_state(last.state)
        .unwrap_or(Outcome::Unreachable)
        .into())
}

fn not_run(e: &CallError) -> ExitCode {
    let outcome = client::fail_call(e);
    eprintln!("jitpe: the command was not run");
    outcome.into()
}

/// Signal `sig` arrived before the command ran: ends request `id` (the API revokes a granted one
/// and cancels a pending one), then 128+`sig`.
async fn interrupted(api: &ApiClient, id: Option<u64>, sig: u8) -> ExitCode {
    eprintln!("jitpe: stopped by signal {sig} before the command ran; it was not run");
    if let Some(id) = id {
        match revoke(api, id).await {
            Ok(state) => eprintln!("jitpe: request #{id} is {state}"),
            Err(e) => {
                eprintln!("jitpe: could not revoke request #{id}: {e}; it ends at its expiry")
            }
        }
    }
    ExitCode::from(128 + sig)
}

/// Revokes `request` and gives the exit code for the command's `status`.
async fn finish(api: &ApiClient, request: &Remote, status: u8) -> ExitCode {
    match revoke(api, request.id).await {
        Ok(state) => {
            eprintln!("jitpe: request #{} is {state}", request.id);
            ExitCode::from(status)
        }
        Err(e) => {
            eprintln!(
                "jitpe: could not revoke request #{}: {e}; access ends at its expiry ({})",
                request.id,
                request.expires_at.as_deref().unwrap_or("unknown")
            );
            if status == 0 {
                Outcome::RevokeFailed.into()
            } else {
                ExitCode::from(status)
            }
        }
    }
}

/// Runs `command` with the request in its environment, forwarding SIGINT and SIGTERM, until
/// it exits; its exit code (128+N for signal N, [`NOT_RUN`] if it could not start).
async fn run(command: &[String], request: &Remote, signals: &mut Signals) -> u8 {
    let Some((program, args)) = command.split_first() else {
        eprintln!("jitpe: no command after --");
        return NOT_RUN;
    };
    let mut child = match tokio::process::Command::new(program)
        .args(args)
        .env("JITPE_REQUEST_ID", request.id.to_string())
        .env(
            "JITPE_EXPIRES_AT",
            request.expires_at.as_deref().unwrap_or(""),
        )
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("jitpe: cannot run {program:?}: {e}");
            return NOT_RUN;
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => {
                return match status {
                    Ok(s) => exit_code_of(s),
                    Err(e) => {
                        eprintln!("jitpe: lost track of the command: {e}");
                        1
                    }
                };
            }
            sig = signals.recv() => forward(&mut child, sig),
        }
    }
}

/// A process's exit status as a shell reports it: its code, or 128+N when killed by signal N.
pub fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// Sends signal `sig` on to `child` with kill(1) (the crate has no unsafe code for kill(2)); if
/// that cannot be run, kills it, so the command never outlives an interrupted exec.
fn forward(child: &mut tokio::process::Child, sig: u8) {
    let Some(pid) = child.id() else {
        return;
    };
    let sent = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        eprintln!("jitpe: cannot forward signal {sig} with kill(1); killing the command");
        let _ = child.start_kill();
    }
}

/// Ends request `id`; its state after. A request that is no longer Active (it expired, or was
/// revoked by someone else) counts as ended.
async fn revoke(api: &ApiClient, id: u64) -> Result<State, CallError> {
    let deadline = Instant::now() + REVOKE_PATIENCE;
    match api.revoke(id, deadline).await {
        Ok(r) => ended(r.state),
        Err(CallError::Refused { status: 409, .. }) => ended(api.get(id, deadline).await?.state),
        Err(e) => Err(e),
    }
}

fn ended(state: State) -> Result<State, CallError> {
    match state {
        State::Pending | State::Active | State::Approved => Err(CallError::Unreachable(format!(
            "jitpe still shows it {state}"
        ))),
        s => Ok(s),
    }
}

/// SIGINT and SIGTERM, caught from before the request is made until exec exits.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal's number.
    async fn recv(&mut self) -> u8 {
        tokio::select! {
            _ = self.interrupt.recv() => 2,
            _ = self.terminate.recv() => 15,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_commands_or_128_plus_the_signal() {
        use std::os::unix::process::ExitStatusExt;
        let exited = |code: i32| std::process::ExitStatus::from_raw(code << 8);
        assert_eq!(exit_code_of(exited(0)), 0);
        assert_eq!(exit_code_of(exited(3)), 3);
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn only_a_request_that_is_no_longer_active_counts_as_revoked() {
        assert_eq!(ended(State::Revoked).unwrap(), State::Revoked);
        assert_eq!(ended(State::Expired).unwrap(), State::Expired);
        assert!(ended(State::Active).is_err());
        assert!(
            ended(State::Pending).is_err(),
            "a pending request still waits for approvers"
        );
        assert_eq!(ended(State::Cancelled).unwrap(), State::Cancelled);
    }
}
