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
