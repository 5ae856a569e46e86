//! Loading config files from disk: the shipped example, unreadable files, syntax errors, and
//! secrets read from files.

use jitpe::config::{ConfigErrors, load, summary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/jitpe.toml")
}

/// The example with Slack switched on, written to `dir`, plus extra lines for `[slack]`.
fn slack_config(dir: &Path, slack_extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(example()).unwrap();
    let text = text.replacen("[slack]\n", &format!("[slack]\n{slack_extra}\n"), 1);
    let text = text.replacen(
        "enabled = false\napi_base_url",
        "enabled = true\napi_base_url",
        1,
    );
    let path = dir.join("jitpe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn the_shipped_example_loads_without_any_secret() {
    let s = load(&example(), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.slack.is_none() && s.mattermost.is_none());
    assert_eq!(s.policy.roles().count(), 2);
    let text = summary(&s);
    assert!(text.contains("role change:"), "{text}");
    assert!(
        text.contains("binds ClusterRole jitpe-ingress-controller-logs in ingress-nginx"),
        "{text}"
    );
}

#[test]
fn a_missing_config_file_is_named_in_the_error() {
    let err = load(Path::new("/no/such/jitpe.toml"), &no_env).unwrap_err();
    assert!(matches!(err, ConfigErrors::Read { .. }));
    assert!(err.to_string().contains("/no/such/jitpe.toml"), "{err}");
}

#[test]
fn a_toml_syntax_error_shows_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.toml",
        "[server]\nlisten = \"127.0.0.1:8080\"\nbody_limit = = 3\n",
    );
    let err = load(&path, &no_env).unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, ConfigErrors::Syntax { .. }));
    assert!(shown.contains("bad.toml"), "{shown}");
    assert!(shown.contains("line 3"), "{shown}");
}

#[test]
fn secrets_come_from_file_env_vars_and_file_keys() {
    let dir = tempfile::tempdir().unwrap();
    let bot = write(dir.path(), "bot", "xoxb-from-env-file\n");
    let signing = write(dir.path(), "signing", "signing-from-key-file\n");
    let extra = format!("signing_secret_file = {:?}", signing.display().to_string());
    let path = slack_config(dir.path(), &extra);
    let env = env_of(&[("JITPE_SLACK_BOT_TOKEN_FILE", bot.display().to_string())]);
    let s = load(&path, &env).unwrap_or_else(|e| panic!("{e}"));
    let slack = s.slack.unwrap();
    assert_eq!(slack.bot_token.expose(), "xoxb-from-env-file");
    assert_eq!(slack.signing_secret.expose(), "signing-from-key-file");
    assert_eq!(slack.approvers_channel, "C0EXAMPLE01");
}

#[test]
fn an_empty_secret_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "signing", "\n");
    let extra = format!("signing_secret_file = {:?}", empty.display().to_string());
    let path = slack_config(dir.path(), &extra);
    let env = env_of(&[("JITPE_SLACK_BOT_TOKEN", "xoxb-1".into())]);
    let err = load(&path, &env).unwrap_err();
    let issue = &err.issues()[0];
    assert_eq!(issue.key, "slack.signing_secret");
    assert!(issue.message.contains("is empty"), "{issue}");
    assert!(
        issue.message.contains(&empty.display().to_string()),
        "{issue}"
    );
}

#[test]
fn an_unreadable_secret_file_names_the_path_but_no_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = slack_config(dir.path(), "bot_token_file = \"/no/such/bot-token\"");
    let env = env_of(&[("JITPE_SLACK_SIGNING_SECRET", "s3cr3t-VALUE".into())]);
    let err = load(&path, &env).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("slack.bot_token: cannot read secret file /no/such/bot-token"),
        "{shown}"
    );
    assert!(!shown.contains("s3cr3t-VALUE"));
}

/// The example with a misspelt key at five depths: in `[server]`, a role, a tier, a revocation
/// rule and an entry of `[[policy.systems]]`. Every one is named with its full path and line,
/// by `load` (`serve`, `check-config`) and `load_store` (the commands that read only the store)
/// alike, so no command runs on a config with a key it would silently ignore.
#[test]
fn every_unknown_key_is_refused_with_its_full_path_by_every_loader() {
    let text = std::fs::read_to_string(example()).unwrap();
    let mut text = text
        .replacen("[server]\n", "[server]\nlistne = \"0.0.0.0:80\"\n", 1)
        .replacen(
            "[policy.roles.debug]\n",
            "[policy.roles.debug]\nmax_duraton = \"8h\"\n",
            1,
        )
        .replacen(
            "[policy.tiers.prod]\n",
            "[policy.tiers.prod]\nmin_aprovals = 3\n",
            1,
        );
    text.push_str(concat!(
        "[policy.revocation.rules.secrets]\nenabeld = false\n",
        "[[policy.systems]]\nservice_accounts = [\"system:serviceaccount:ci:deployer\"]\n",
        "roles = [\"change\"]\nnamespaces = [\"shop\"]\n",
        "auto_approve = { max_duration = \"30m\", per_day = 20, per_week = 1 }\n",
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "typos.toml", &text);
    let line = |needle: &str| 1 + text[..text.find(needle).unwrap()].matches('\n').count();
    let expected = [
        ("server.listne", line("listne")),
        ("policy.roles.debug.max_duraton", line("max_duraton")),
        ("policy.tiers.prod.min_aprovals", line("min_aprovals")),
        ("policy.revocation.rules.secrets.enabeld", line("enabeld")),
        ("policy.systems[0].auto_approve.per_week", line("per_week")),
    ];
    let full = load(&path, &no_env).unwrap_err();
    let store_only = jitpe::config::load_store(&path, &no_env).unwrap_err();
    for err in [&full, &store_only] {
        let keys: Vec<&str> = err.issues().iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, expected.map(|(k, _)| k), "{err}");
        for (issue, (_, line)) in err.issues().iter().zip(expected) {
            assert!(issue.message.contains(&format!("(line {line})")), "{issue}");
        }
    }
}
