//! `jitpe request`: a system (a CI job) asks for access through jitpe's API with its own
//! ServiceAccount token, optionally waiting until it is Active. The arguments, the exit codes
//! (one table, [`EXIT_CODES`], that `--help` and the README cite) and the waiting; the HTTP calls
//! are in `api_client.rs`, `jitpe exec` in `exec.rs`.

use super::api_client::{ApiClient, CallError, Remote};
use crate::domain::duration::{format_duration, parse_duration};
use crate::domain::request::State;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The token file when neither `--token-file` nor `JITPE_TOKEN_FILE` is given: where the
/// README's Job example mounts its projected token (`audience: jitpe`).
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/jitpe/token";

/// How `jitpe request` and `jitpe exec` end, each with its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Active (or, without `--wait`, stored and not refused).
    Ok,
    /// Bad arguments, an unreadable token file, an http server off loopback.
    Usage,
    /// jitpe refused the call (a 4xx: the token, the policy, the input); its message is printed.
    Refused,
    /// An approver denied the request.
    Denied,
    /// Nobody decided within the pending time.
    TimedOut,
    /// jitpe could not create the bindings.
    Failed,
    /// The request was revoked, cancelled or expired before it was Active.
    Ended,
    /// jitpe could not be reached (or kept answering 503) until `--timeout`, or `--timeout`
    /// passed while the request was still pending.
    Unreachable,
    /// `jitpe exec`: the command ran, but revoking afterwards failed (access ends at expiry).
    RevokeFailed,
}

/// Every exit code of `jitpe request` and `jitpe exec` with its meaning: the one place they are
/// written down (`--help` prints it, the README copies it).
pub const EXIT_CODES: &[(Outcome, u8, &str)] = &[
    (
        Outcome::Ok,
        0,
        "Active (without --wait: stored, waiting for approval)",
    ),
    (
        Outcome::Usage,
        2,
        "bad arguments, unreadable token file, http off loopback",
    ),
    (
        Outcome::Refused,
        3,
        "refused by jitpe (4xx: token, policy or input); message printed",
    ),
    (Outcome::Denied, 4, "denied by an approver"),
    (
        Outcome::TimedOut,
        5,
        "nobody decided within the pending time",
    ),
    (Outcome::Failed, 6, "jitpe could not create the bindings"),
    (
        Outcome::Ended,
        7,
        "revoked, cancelled or expired before it was Active",
    ),
    (
        Outcome::Unreachable,
        8,
        "jitpe unreachable or --timeout passed",
    ),
    (
        Outcome::RevokeFailed,
        9,
        "exec: the command succeeded but revoking failed",
    ),
];

impl Outcome {
    /// This outcome's exit code, from [`EXIT_CODES`].
    pub fn code(self) -> u8 {
        EXIT_CODES
            .iter()
            .find(|(o, _, _)| *o == self)
            .map_or(1, |(_, code, _)| *code)
    }

    /// The outcome of a call that failed with `e`.
    pub fn of_error(e: &CallError) -> Outcome {
        match e {
            CallError::Usage(_) | CallError::Token { .. } => Outcome::Usage,
            CallError::Refused { .. } => Outcome::Refused,
            CallError::Unreachable(_) | CallError::Timeout(_) => Outcome::Unreachable,
        }
    }

    /// How a request in `state` ends the wait: `None` while it may still become Active.
    pub fn of_state(state: State) -> Option<Outcome> {
        match state {
            State::Pending | State::Approved => None,
            State::Active => Some(Outcome::Ok),
            State::Denied => Some(Outcome::Denied),
            State::TimedOut => Some(Outcome::TimedOut),
            State::Failed => Some(Outcome::Failed),
            State::Expired | State::Revoked | State::Cancelled => Some(Outcome::Ended),
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(o.code())
    }
}

/// The exit code table for `--help`.
pub fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (_, code, meaning) in EXIT_CODES {
        text.push_str(&format!("  {code}  {meaning}\n"));
    }
    text
}

/// Where jitpe is and the token to show it.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// jitpe's base URL, e.g. https://jitpe.example.com. https unless on loopback: the token
    /// must not cross the network in the clear.
    #[arg(long, env = "JITPE_SERVER", value_parser = server_url)]
    pub server: reqwest::Url,
    /// A file holding the ServiceAccount token (audience `jitpe`); read again on every call,
    /// since projected tokens rotate.
    #[arg(long, env = "JITPE_TOKEN_FILE", default_value = DEFAULT_TOKEN_FILE)]
    pub token_file: PathBuf,
}

/// What is asked for, as in chat: `<role> <namespace>[/<ingress>] [<duration>] <reason...>`.
#[derive(Debug, Clone, Args)]
pub struct AskArgs {
    /// A label for the approvers and the audit log, e.g. `--label run=https://ci/123`
    /// (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
    pub labels: Vec<(String, String)>,
    /// How long to wait for approval and activation (with --wait, and for exec).
    #[arg(long, default_value = "10m", value_parser = wait_timeout)]
    pub timeout: Duration,
    /// The role, e.g. `debug`.
    pub role: String,
    /// `<namespace>` or `<namespace>/<ingress>`.
    pub target: String,
    /// An optional duration (`15m`, `1h30m`; the role's default when absent), then the reason.
    #[arg(required = true, value_name = "[DURATION] REASON")]
    pub words: Vec<String>,
}

impl AskArgs {
    /// The request's JSON body: the first word is the duration if it reads as one.
    pub fn body(&self) -> Result<serde_json::Value, String> {
        let (duration, reason) = match self.words.split_first() {
            Some((first, rest)) if !rest.is_empty() && parse_duration(first).is_ok() => {
                (Some(first.clone()), rest.join(" "))
            }
            _ => (None, self.words.join(" ")),
        };
        if reason.trim().is_empty() {
            return Err("give a reason after the target (and duration)".into());
        }
        let labels: serde_json::Map<_, _> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect();
        let mut body = serde_json::json!({
            "role": self.role,
            "namespace": self.target,
            "reason": reason,
            "labels": labels,
        });
        if let Some(d) = duration {
            body["duration"] = d.into();
        }
        Ok(body)
    }
}

/// `--server`: an absolute http(s) URL; plain http only on loopback, where the token stays on
/// the machine.
pub fn server_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "{url} is plain http: the token would cross the network in the clear; use https \
             (http is accepted on loopback only)"
        )),
        other => Err(format!("{url} has scheme {other}: use https://")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// `--label key=value`.
pub fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `--timeout`, in the chat's duration syntax.
fn wait_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

/// `jitpe request`: asks, and with `wait` waits until Active or final. Prints the id and state
/// on stdout, problems on stderr.
pub async fn request(server: ServerArgs, ask: AskArgs, wait: bool) -> ExitCode {
    let api = match ApiClient::new(&server.server, &server.token_file) {
        Ok(api) => api,
        Err(e) => return fail(Outcome::Usage, &e),
    };
    let deadline = Instant::now() + ask.timeout;
    match ask_and_wait(&api, &ask, wait, deadline).await {
        Ok(r) => report(&r, wait).into(),
        Err(e) => fail_call(&e).into(),
    }
}

/// Submits `ask`, then (with `wait`) polls until the request is Active or final, or `deadline`.
pub(super) async fn ask_and_wait(
    api: &ApiClient,
    ask: &AskArgs,
    wait: bool,
    deadline: Instant,
) -> Result<Remote, CallError> {
    let body = ask.body().map_err(CallError::Usage)?;
    let created = api.create(&body, deadline).await?;
    say(&created);
    if !wait || Outcome::of_state(created.state).is_some() {
        return Ok(created);
    }
    poll(api, created, deadline).await
}

/// Polls `GET /requests/{id}` every 1 to 2 s until the state is Active or final.
pub(super) async fn poll(
    api: &ApiClient,
    mut last: Remote,
    deadline: Instant,
) -> Result<Remote, CallError> {
    let mut every = Duration::from_secs(1);
    loop {
        if Instant::now() + every > deadline {
            return Err(CallError::Timeout(format!(
                "request #{} is still {} after --timeout; it stays {0} in jitpe (approvers may \
                 still decide); ask again or raise --timeout",
                last.id, last.state
            )));
        }
        tokio::time::sleep(every).await;
        every = (every * 3 / 2).min(Duration::from_secs(2));
        let now = api.get(last.id, deadline).await?;
        if now.state != last.state {
            say(&now);
        }
        last = now;
        if Outcome::of_state(last.state).is_some() {
            return Ok(last);
        }
    }
}

/// One line on stderr per state seen, so a waiting job's log shows progress.
pub(super) fn say(r: &Remote) {
    let mut line = format!("jitpe: request #{} is {}", r.id, r.state);
    if r.state == State::Pending {
        line.push_str(&format!(
            " ({} of {} approvals)",
            r.approvals, r.approvals_needed
        ));
    }
    eprintln!("{line}");
}

/// The final line on stdout and the outcome of `r`.
fn report(r: &Remote, waited: bool) -> Outcome {
    let outcome = Outcome::of_state(r.state).unwrap_or(if waited {
        Outcome::Unreachable
    } else {
        Outcome::Ok
    });
    let mut out = std::io::stdout().lock();
    let _ = match (r.state, &r.expires_at) {
        (State::Active, Some(at)) => writeln!(out, "request #{} active until {at}", r.id),
        _ => writeln!(
            out,
            "request #{} {} ({} requested){}",
            r.id,
            r.state,
            format_duration(Duration::from_secs(r.duration_seconds)),
            r.end_reason
                .as_deref()
                .map_or(String::new(), |why| format!(": {why}"))
        ),
    };
    outcome
}

/// Prints `e` and gives its outcome.
pub(super) fn fail_call(e: &CallError) -> Outcome {
    let outcome = Outcome::of_error(e);
    eprintln!("jitpe: {e}");
    outcome
}

fn fail(outcome: Outcome, message: &str) -> ExitCode {
    eprintln!("jitpe: {message}");
    outcome.into()
}

#[cfg(test)]
mod tests;
