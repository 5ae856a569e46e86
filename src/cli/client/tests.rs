//! The client's arguments and exit codes, without a server.

use super::*;
use crate::cli::{Cli, Cmd};
use clap::Parser;

fn parse(args: &[&str]) -> Result<Cmd, clap::Error> {
    let mut all = vec!["jitpe"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).map(|c| c.command)
}

fn request_of(args: &[&str]) -> (ServerArgs, AskArgs, bool) {
    match parse(args).expect("parses") {
        Cmd::Request { server, ask, wait } => (server, ask, wait),
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn a_request_with_a_duration_labels_and_a_reason_of_several_words() {
    let (server, ask, wait) = request_of(&[
        "request",
        "--server",
        "https://jitpe.example.com",
        "--token-file",
        "/tmp/t",
        "--wait",
        "--label",
        "run=https://ci/1",
        "--label",
        "commit=abc",
        "debug",
        "shop/web",
        "15m",
        "INC-12",
        "checkout",
        "502s",
    ]);
    assert!(wait);
    assert_eq!(server.server.as_str(), "https://jitpe.example.com/");
    assert_eq!(server.token_file, PathBuf::from("/tmp/t"));
    let body = ask.body().unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "role": "debug", "namespace": "shop/web", "duration": "15m",
            "reason": "INC-12 checkout 502s",
            "labels": {"run": "https://ci/1", "commit": "abc"},
        })
    );
    assert_eq!(
        ask.timeout,
        Duration::from_secs(600),
        "the default --timeout"
    );
}

#[test]
fn without_a_duration_the_first_word_is_the_reason_and_the_role_default_applies() {
    let (_, ask, wait) = request_of(&[
        "request",
        "--server",
        "http://127.0.0.1:8080",
        "debug",
        "shop",
        "deploy",
        "check",
    ]);
    assert!(!wait);
    let body = ask.body().unwrap();
    assert_eq!(body["reason"], "deploy check");
    assert!(body.get("duration").is_none(), "{body}");
    // A lone word that reads as a duration is the reason, not a duration without one.
    let (_, ask, _) = request_of(&["request", "--server", "https://j", "debug", "shop", "15m"]);
    assert_eq!(ask.body().unwrap()["reason"], "15m");
}

#[test]
fn the_token_file_defaults_to_the_projected_token_path() {
    let (server, _, _) = request_of(&["request", "--server", "https://j", "debug", "shop", "r"]);
    assert_eq!(server.token_file, PathBuf::from(DEFAULT_TOKEN_FILE));
}

#[test]
fn plain_http_is_refused_off_loopback_and_says_why() {
    let e = server_url("http://jitpe.example.com").unwrap_err();
    assert!(e.contains("in the clear") && e.contains("https"), "{e}");
    for ok in [
        "http://127.0.0.1:8080",
        "http://[::1]:80",
        "http://localhost:1",
        "https://x.example",
    ] {
        assert!(server_url(ok).is_ok(), "{ok}");
    }
    assert!(server_url("ftp://x").is_err());
    assert!(server_url("jitpe.example.com").is_err());
    let e = parse(&[
        "request",
        "--server",
        "http://10.0.0.1",
        "debug",
        "shop",
        "r",
    ])
    .unwrap_err();
    assert_eq!(e.exit_code(), 2, "a usage error");
}

#[test]
fn bad_labels_timeouts_and_missing_reasons_are_usage_errors() {
    let base = ["request", "--server", "https://j"];
    for extra in [
        &["--label", "novalue", "debug", "shop", "r"][..],
        &["--label", "=v", "debug", "shop", "r"][..],
        &["--timeout", "soon", "debug", "shop", "r"][..],
        &["debug", "shop"][..],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        assert!(parse(&args).is_err(), "{args:?}");
    }
}

#[test]
fn exec_takes_its_command_after_the_double_dash() {
    let cmd = parse(&[
        "exec",
        "--server",
        "https://j",
        "change",
        "shop",
        "10m",
        "deploy",
        "--",
        "kubectl",
        "apply",
        "-f",
        "ingress.yaml",
    ])
    .unwrap();
    let Cmd::Exec { ask, command, .. } = cmd else {
        panic!("not exec");
    };
    assert_eq!(command, ["kubectl", "apply", "-f", "ingress.yaml"]);
    assert_eq!(ask.body().unwrap()["reason"], "deploy");
    assert!(parse(&["exec", "--server", "https://j", "change", "shop", "r"]).is_err());
}

#[test]
fn every_outcome_has_its_own_code_and_final_states_map_to_them() {
    let mut codes: Vec<u8> = EXIT_CODES.iter().map(|(_, c, _)| *c).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), EXIT_CODES.len(), "codes are distinct");
    assert_eq!(Outcome::Ok.code(), 0);
    assert_eq!(Outcome::Refused.code(), 3);
    assert_eq!(Outcome::of_state(State::Pending), None);
    assert_eq!(Outcome::of_state(State::Approved), None);
    assert_eq!(Outcome::of_state(State::Active), Some(Outcome::Ok));
    assert_eq!(Outcome::of_state(State::Denied), Some(Outcome::Denied));
    assert_eq!(Outcome::of_state(State::TimedOut), Some(Outcome::TimedOut));
    assert_eq!(Outcome::of_state(State::Failed), Some(Outcome::Failed));
    for s in [State::Revoked, State::Cancelled, State::Expired] {
        assert_eq!(Outcome::of_state(s), Some(Outcome::Ended));
    }
    let help = exit_codes_help();
    for (_, code, meaning) in EXIT_CODES {
        assert!(help.contains(&format!("{code}  {meaning}")), "{help}");
    }
}

#[test]
fn call_errors_map_to_their_codes() {
    use crate::cli::api_client::CallError;
    let refused = CallError::Refused {
        status: 403,
        message: "no".into(),
    };
    assert_eq!(Outcome::of_error(&refused), Outcome::Refused);
    let token = CallError::Token {
        path: "/t".into(),
        why: "missing".into(),
    };
    assert_eq!(Outcome::of_error(&token), Outcome::Usage);
    for e in [
        CallError::Unreachable("down".into()),
        CallError::Timeout("slow".into()),
    ] {
        assert_eq!(Outcome::of_error(&e), Outcome::Unreachable);
    }
}
