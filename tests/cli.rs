//! The `jitpe` binary end to end: check-config (how it names its file, every unknown key),
//! audit verify/export on a tampered store, grants list (through a running serve:
//! `tests/admin_socket.rs`); `request` and `exec` where no jitpe answers (with one:
//! `tests/kube_client.rs`).

use jitpe::domain::audit::AuditDraft;
use jitpe::domain::identity::Actor;
use jitpe::ports::Store;
use jitpe::store::sled::SledStore;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

fn jitpe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitpe"))
        .args(args)
        .env_remove("JITPE_CONFIG")
        .output()
        .expect("the jitpe binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The example config with the store moved into `dir`.
fn config_in(dir: &Path) -> PathBuf {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
            .unwrap();
    let store = dir.join("store");
    let cfg = example.replace(
        "path = \"./data/jitpe\"",
        &format!("path = \"{}\"", store.display()),
    );
    assert_ne!(cfg, example, "the example names its store path");
    let path = dir.join("jitpe.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn store_with_records(dir: &Path, n: u64) {
    let s = SledStore::open(&dir.join("store")).unwrap();
    for i in 0..n {
        let at = jiff::Timestamp::from_second(1_700_000_000 + i as i64).unwrap();
        s.append_audit(
            AuditDraft::new(Actor::system(), "reconcile_deleted", None).with("n", i),
            at,
        )
        .unwrap();
    }
}

#[test]
fn check_config_accepts_the_example() {
    let o = jitpe(&[
        "check-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("role debug"), "{}", text(&o));
}

/// `check-config` takes its file like every command (`--config`, else `JITPE_CONFIG`) and still
/// as the positional `FILE` it used to take, which wins over the environment as `--config` does;
/// two different files at once are refused, saying which.
#[test]
fn check_config_takes_config_or_the_environment_or_the_old_positional_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml");
    let with_env = |args: &[&str], config: &str| {
        Command::new(env!("CARGO_BIN_EXE_jitpe"))
            .args(args)
            .env("JITPE_CONFIG", config)
            .output()
            .expect("the jitpe binary runs")
    };
    let cases = [
        jitpe(&["check-config", "--config", example]),
        jitpe(&["check-config", example, "--config", example]),
        with_env(&["check-config"], example),
        with_env(&["check-config", example], "/no/such/jitpe.toml"),
    ];
    for o in cases {
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("role debug"), "{}", text(&o));
    }
    let dir = TempDir::new().unwrap();
    let other = config_in(dir.path());
    let two = jitpe(&["check-config", example, "--config", other.to_str().unwrap()]);
    assert_eq!(two.status.code(), Some(1), "{}", text(&two));
    assert!(text(&two).contains("two config files"), "{}", text(&two));
    let none = jitpe(&["check-config"]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(text(&none).contains("JITPE_CONFIG"), "{}", text(&none));
}

/// Misspelt keys at three depths, one in `[[policy.systems]]`: `check-config` names every one,
/// and a command that reads only the store refuses the config too.
#[test]
fn every_unknown_key_is_named_by_check_config_and_refused_by_the_store_commands() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    let typos = std::fs::read_to_string(&cfg)
        .unwrap()
        .replacen("[store]\n", "[store]\ncache = 8\n", 1)
        .replacen(
            "[policy.tiers.prod]\n",
            "[policy.tiers.prod]\nmax_duraton = \"5m\"\n",
            1,
        )
        + "[[policy.systems]]\nservice_account = \"ci\"\n";
    std::fs::write(&cfg, typos).unwrap();
    let cfg = cfg.to_str().unwrap();
    for args in [
        &["check-config", "--config", cfg][..],
        &["audit", "verify", "--config", cfg],
    ] {
        let o = jitpe(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        for key in [
            "store.cache: unknown key",
            "policy.tiers.prod.max_duraton: unknown key",
            "policy.systems[0].service_account: unknown key",
        ] {
            assert!(
                text(&o).contains(key),
                "{args:?}: {key} missing from {}",
                text(&o)
            );
        }
    }
    assert!(
        !dir.path().join("store").exists(),
        "the store was not opened"
    );
}

#[test]
fn check_config_reports_all_three_mistakes_and_exits_1() {
    let dir = TempDir::new().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
            .unwrap();
    let broken = example
        .replacen("listen = \"127.0.0.1:8080\"", "listen = \"nowhere\"", 1)
        .replacen("max_duration = \"1h\"", "max_duration = \"forever\"", 1)
        .replacen("allow = [", "allow = [\"Bad_Name\", ", 1);
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &broken).unwrap();
    let o = jitpe(&["check-config", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    for key in ["server.listen", "max_duration", "policy.namespaces.allow"] {
        assert!(out.contains(key), "{key} missing from:\n{out}");
    }
    assert!(out.contains("3 problem(s)"), "{out}");
}

#[test]
fn check_config_refuses_roles_that_could_never_be_granted_naming_their_keys() {
    let dir = TempDir::new().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
            .unwrap();
    let broken = example
        .replacen("approvals = 2", "approvals = 4", 1)
        .replacen("\"jitpe-ingress-change\"", "\"jitpe-ingress-chnage\"", 1)
        .replacen(
            "resources = [\"ingresses\"]",
            "resources = [\"secrets\"]",
            1,
        )
        .replacen(
            "verbs = [\"get\", \"update\", \"patch\"]",
            "verbs = [\"escalate\"]",
            1,
        );
    let path = dir.path().join("never.toml");
    std::fs::write(&path, &broken).unwrap();
    let o = jitpe(&["check-config", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    for key in [
        "policy.roles.change.approvals: 4 approvals are needed",
        "policy.roles.change.bindings[0].cluster_role: `jitpe-ingress-chnage`",
        "policy.roles.change.scoped_rules[0].resources: `secrets` cannot be granted",
        "policy.roles.change.scoped_rules[0].verbs: `escalate` cannot be granted",
    ] {
        assert!(out.contains(key), "{key} missing from:\n{out}");
    }
}

#[test]
fn audit_verify_passes_on_an_untouched_store_and_export_writes_json_lines() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    store_with_records(dir.path(), 4);
    let o = jitpe(&["audit", "verify", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 records"));
    let o = jitpe(&["audit", "export", "--config", cfg.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["seq"], 4);
}

#[test]
fn audit_verify_names_an_edited_a_removed_and_a_reordered_record() {
    type Tamper = fn(&sled::Tree);
    let edit: Tamper = |t| {
        let mut rec: serde_json::Value =
            serde_json::from_slice(&t.get(2u64.to_be_bytes()).unwrap().unwrap()).unwrap();
        rec["action"] = "approved".into();
        t.insert(2u64.to_be_bytes(), serde_json::to_vec(&rec).unwrap())
            .unwrap();
    };
    let remove: Tamper = |t| {
        t.remove(3u64.to_be_bytes()).unwrap();
    };
    let reorder: Tamper = |t| {
        let a = t.get(2u64.to_be_bytes()).unwrap().unwrap();
        let b = t.get(3u64.to_be_bytes()).unwrap().unwrap();
        t.insert(2u64.to_be_bytes(), b).unwrap();
        t.insert(3u64.to_be_bytes(), a).unwrap();
    };
    for (tamper, needle) in [
        (edit, "record 2 was edited"),
        (remove, "3 to 3 are missing"),
        (reorder, "out of order"),
    ] {
        let dir = TempDir::new().unwrap();
        let cfg = config_in(dir.path());
        store_with_records(dir.path(), 4);
        {
            let s = SledStore::open(&dir.path().join("store")).unwrap();
            tamper(&s.db().open_tree("audit").unwrap());
            s.db().flush().unwrap();
        }
        let o = jitpe(&["audit", "verify", "--config", cfg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains(needle),
            "{needle} missing from {}",
            text(&o)
        );
    }
}

/// More records than one page of `audit verify` (1,024), tampered around the page boundary.
#[test]
fn audit_verify_and_export_page_through_a_long_log_and_find_tampering_at_a_page_boundary() {
    const N: u64 = 2_100;
    let key = |n: u64| n.to_be_bytes();
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store");
    store_with_records(dir.path(), N);
    let s = SledStore::open(&store).unwrap();
    let verify = |s: &SledStore| {
        let mut out = Vec::new();
        let r = jitpe::cli::audit_verify(s, &mut out);
        r.map(|()| String::from_utf8(out).unwrap())
            .map_err(|e| e.to_string())
    };
    assert!(verify(&s).unwrap().contains("2100 records"));
    let mut out = Vec::new();
    jitpe::cli::audit_export(&s, &mut out).unwrap();
    let seqs: Vec<u64> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=N).collect::<Vec<_>>());

    let audit = s.db().open_tree("audit").unwrap();
    let (a, b) = (
        audit.get(key(1024)).unwrap().unwrap(),
        audit.get(key(1025)).unwrap().unwrap(),
    );
    audit.insert(key(1024), b.clone()).unwrap();
    audit.insert(key(1025), a.clone()).unwrap();
    let err = verify(&s).unwrap_err();
    assert!(err.contains("record 1025 is out of order"), "{err}");

    // Undo the swap, then remove the first record of the second page.
    audit.insert(key(1024), a).unwrap();
    audit.remove(key(1025)).unwrap();
    let err = verify(&s).unwrap_err();
    assert!(err.contains("1025 to 1025 are missing"), "{err}");

    // Restore it, and store a copy of record 5 at the very last position: far past every
    // chunk, it is still read (and named) without walking the empty positions in between.
    let fifth = audit.get(key(5)).unwrap().unwrap();
    audit.insert(key(1025), b.clone()).unwrap();
    assert!(verify(&s).is_ok(), "restored");
    audit.insert(key(u64::MAX), fifth).unwrap();
    let err = verify(&s).unwrap_err();
    assert!(err.contains("record 5 is out of order"), "{err}");
    let mut out = Vec::new();
    jitpe::cli::audit_export(&s, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap().lines().count() as u64,
        N + 1
    );
}

#[test]
fn grants_list_says_when_there_is_nothing() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    let o = jitpe(&["grants", "list", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no pending or active requests"));
}

#[test]
fn a_store_held_by_another_process_says_serve_may_be_running() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    let _held = SledStore::open(&dir.path().join("store")).unwrap();
    let o = jitpe(&["grants", "list", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("jitpe serve may be running"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_store_that_cannot_be_opened_is_not_blamed_on_a_running_serve() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    std::fs::write(dir.path().join("store"), b"not a sled directory").unwrap();
    let o = jitpe(&["grants", "list", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("cannot open the store"), "{}", text(&o));
    assert!(
        text(&o).contains("restore it from a backup"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("serve may be running"), "{}", text(&o));
}

/// The offline commands read the store only: a config with both chat platforms on and none of
/// their secrets in the environment (they live in the running pod) still serves them, while
/// `check-config` still refuses it for `serve`.
#[test]
fn offline_commands_need_only_the_store_not_the_chat_secrets() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    let text_on = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("enabled = false", "enabled = true");
    std::fs::write(&cfg, text_on).unwrap();
    store_with_records(dir.path(), 3);
    let cfg = cfg.to_str().unwrap();
    let refused = jitpe(&["check-config", cfg]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("JITPE_SLACK_BOT_TOKEN"),
        "{}",
        text(&refused)
    );
    for args in [
        ["audit", "verify", "--config", cfg],
        ["audit", "export", "--config", cfg],
        ["grants", "list", "--config", cfg],
    ] {
        let o = jitpe(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let verify = jitpe(&["audit", "verify", "--config", cfg]);
    assert!(
        text(&verify).contains("audit chain OK: 3 records"),
        "{}",
        text(&verify)
    );
}

/// Break glass without a reason or without a name is refused before anything is touched: the
/// store stays closed (no record, no note) and the message says which flag to fill in.
#[test]
fn revoke_without_a_reason_or_an_operator_is_refused_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let cfg = config_in(dir.path());
    let cfg = cfg.to_str().unwrap();
    let cases = [
        (
            ["--reason", "  ", "--operator", "carol"],
            "--reason is empty",
        ),
        (
            ["--reason", "INC-5", "--operator", ""],
            "--operator is empty",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["revoke", "7", "--config", cfg];
        args.extend(flags);
        let o = jitpe(&args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(expected), "{}", text(&o));
        assert!(
            !dir.path().join("store").exists(),
            "the store was not opened"
        );
    }
}

/// `jitpe request` without a server to reach: a plain http server off loopback, a missing token
/// file and a closed loopback port each end with their own exit code (`cli::client::EXIT_CODES`)
/// and a message that names what to fix, never the token.
#[test]
fn request_refuses_http_off_loopback_names_a_missing_token_file_and_gives_up_on_a_closed_port() {
    let dir = TempDir::new().unwrap();
    let token = dir.path().join("token");
    let token_arg = token.to_str().unwrap();
    let ask = ["debug", "shop", "15m", "deploy"];
    let with = |server: &str, extra: &[&str]| {
        let mut args = vec!["request", "--server", server, "--token-file", token_arg];
        args.extend_from_slice(extra);
        args.extend_from_slice(&ask);
        jitpe(&args)
    };
    let o = with("http://jitpe.example.com", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("in the clear"), "{}", text(&o));

    // A closed port on loopback: nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let o = with(&server, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(token_arg), "names the file: {}", text(&o));

    std::fs::write(&token, "very-secret-token\n").unwrap();
    let o = with(&server, &["--wait", "--timeout", "3s"]);
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    assert!(text(&o).contains("cannot reach jitpe"), "{}", text(&o));
    assert!(!text(&o).contains("very-secret-token"), "{}", text(&o));
}

/// `jitpe exec` that never gets access does not run its command.
#[test]
fn exec_without_access_does_not_run_the_command() {
    let dir = TempDir::new().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let marker = dir.path().join("ran");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = jitpe(&[
        "exec",
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--token-file",
        token.to_str().unwrap(),
        "--timeout",
        "2s",
        "debug",
        "shop",
        "deploy",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    assert!(text(&o).contains("the command was not run"), "{}", text(&o));
    assert!(!marker.exists(), "the command ran");
}
