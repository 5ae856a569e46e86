//! Validation tests on config text: all issues at once, secrets, overrides, redaction.

use super::*;
use std::collections::BTreeMap;

/// A minimal valid policy (durations in minutes, which every duration grammar accepts).
pub(super) const POLICY: &str = r#"
[policy.namespaces]
allow = ["shop"]
[[policy.identities]]
kube_user = "alice"
chat = ["slack:UALICE"]
[policy.roles.debug]
default_duration = "15m"
max_duration = "60m"
approvers = ["slack:UBOB"]
[[policy.roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
"#;

pub(super) const SLACK: &str = r#"
[slack]
approvers_channel = "C0APPROVERS"
audit_channel = "C0AUDIT"
"#;

pub(super) const MATTERMOST: &str = r#"
[server]
public_url = "https://jitpe.example.com/base"
[mattermost]
url = "https://mm.example.com"
team_id = "teamteamteamteamteamteam00"
approvers_channel = "approversapproversapprove1"
audit_channel = "auditauditauditauditaudit1"
"#;

const SECRET_VALUES: [&str; 7] = [
    "xoxb-slack-bot-token-VALUE",
    "slack-signing-secret-VALUE",
    "mm-bot-token-VALUE",
    "mm-command-token-VALUE",
    "mm-action-secret-VALUE-0123456789abcdef",
    "k8s-audit-token-VALUE",
    "falco-token-VALUE",
];

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

pub(super) fn all_secrets_env() -> impl Fn(&str) -> Option<String> + use<> {
    let names = [
        "JITPE_SLACK_BOT_TOKEN",
        "JITPE_SLACK_SIGNING_SECRET",
        "JITPE_MATTERMOST_BOT_TOKEN",
        "JITPE_MATTERMOST_COMMAND_TOKEN",
        "JITPE_MATTERMOST_ACTION_SECRET",
        "JITPE_AUDIT_K8S_AUDIT_TOKEN",
        "JITPE_AUDIT_FALCO_TOKEN",
    ];
    let pairs: Vec<(&str, &str)> = names.into_iter().zip(SECRET_VALUES).collect();
    env_of(&pairs)
}

fn keys(e: &ConfigErrors) -> Vec<&str> {
    e.issues().iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn a_policy_alone_is_a_valid_config_with_defaults() {
    let s = parse(POLICY, &env_of(&[])).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.server.body_limit, 65536);
    assert_eq!(s.server.header_read_timeout.as_secs(), 10);
    assert_eq!(s.server.body_read_timeout.as_secs(), 10);
    assert_eq!(s.server.max_connections, 512);
    assert_eq!(s.store.path, std::path::Path::new("./data/jitpe"));
    assert_eq!(s.kubernetes.reconcile_interval.as_secs(), 300);
    assert_eq!(s.kubernetes.field_manager, "jitpe");
    assert_eq!(s.kubernetes.instance.as_str(), "jitpe");
    assert_eq!(s.audit.chain_head_interval.as_secs(), 3600);
    assert!(s.audit.k8s_audit_token.is_none() && s.audit.falco_token.is_none());
    assert_eq!(s.audit.body_limit, 16 * 1024 * 1024);
    assert_eq!(s.outbox.per_channel_interval.as_secs(), 1);
    assert_eq!(s.outbox.give_up_after.as_secs(), 6 * 3600);
    assert!(s.slack.is_none() && s.mattermost.is_none());
}

#[test]
fn three_mistakes_are_all_reported_with_their_keys() {
    let text = format!(
        "[server]\nlisten = \"localhost\"\n{SLACK}\n{}",
        POLICY.replace("max_duration = \"60m\"", "max_duration = \"forever\"")
    );
    let env = env_of(&[("JITPE_SLACK_BOT_TOKEN", "xoxb-1")]);
    let err = parse(&text, &env).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "server.listen",
            "slack.signing_secret",
            "policy.roles.debug.max_duration"
        ]
    );
    let shown = err.to_string();
    assert!(shown.starts_with("3 problem(s) in the config:"), "{shown}");
    assert!(shown.contains("JITPE_SLACK_SIGNING_SECRET_FILE"), "{shown}");
}

#[test]
fn every_secret_is_read_from_the_environment() {
    let text = format!("{SLACK}{MATTERMOST}{POLICY}");
    let s = parse(&text, &all_secrets_env()).unwrap();
    let slack = s.slack.as_ref().unwrap();
    let mm = s.mattermost.as_ref().unwrap();
    let got = [
        slack.bot_token.expose(),
        slack.signing_secret.expose(),
        mm.bot_token.expose(),
        mm.command_token.expose(),
        mm.action_secret.expose(),
        s.audit.k8s_audit_token.as_ref().unwrap().expose(),
        s.audit.falco_token.as_ref().unwrap().expose(),
    ];
    assert_eq!(got, SECRET_VALUES);
}

#[test]
fn debug_summary_and_errors_never_show_a_secret_value() {
    let text = format!("{SLACK}{MATTERMOST}{POLICY}");
    let s = parse(&text, &all_secrets_env()).unwrap();
    let shown = format!("{s:?}\n{s:#?}\n{}", summary(&s));
    for v in SECRET_VALUES {
        assert!(!shown.contains(v), "{v} leaked");
    }
    assert!(shown.contains("[redacted]"));
    let short = env_of(&[("JITPE_MATTERMOST_ACTION_SECRET", "short-secret-VALUE")]);
    let err = parse(&format!("{MATTERMOST}{POLICY}"), &short).unwrap_err();
    assert!(!err.to_string().contains("short-secret-VALUE"));
}

#[test]
fn mattermost_action_secret_shorter_than_32_bytes_is_refused() {
    let mut pairs = vec![
        ("JITPE_MATTERMOST_BOT_TOKEN", "b"),
        ("JITPE_MATTERMOST_COMMAND_TOKEN", "c"),
    ];
    pairs.push((
        "JITPE_MATTERMOST_ACTION_SECRET",
        "0123456789abcdef0123456789abcde",
    ));
    let err = parse(&format!("{MATTERMOST}{POLICY}"), &env_of(&pairs)).unwrap_err();
    assert_eq!(keys(&err), ["mattermost.action_secret"]);
    assert!(err.to_string().contains("is 31 bytes"), "{err}");
}

#[test]
fn mattermost_buttons_call_back_under_the_public_url() {
    let s = parse(&format!("{MATTERMOST}{POLICY}"), &all_secrets_env()).unwrap();
    let mm = s.mattermost.unwrap();
    assert_eq!(
        mm.actions_url.as_str(),
        "https://jitpe.example.com/base/mattermost/actions"
    );
    assert_eq!(
        mm.url.join("api/v4/posts").unwrap().as_str(),
        "https://mm.example.com/api/v4/posts"
    );
}

#[test]
fn mattermost_without_public_url_names_the_key_and_env_var() {
    let text = format!("{MATTERMOST}{POLICY}")
        .replace("public_url = \"https://jitpe.example.com/base\"", "");
    let err = parse(&text, &all_secrets_env()).unwrap_err();
    assert_eq!(keys(&err), ["server.public_url"]);
    assert!(err.to_string().contains("JITPE_PUBLIC_URL"));
}

#[test]
fn enabled_slack_needs_channels_and_secrets_but_disabled_slack_needs_nothing() {
    let err = parse(&format!("[slack]\n{POLICY}"), &env_of(&[])).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "slack.approvers_channel",
            "slack.audit_channel",
            "slack.bot_token",
            "slack.signing_secret"
        ]
    );
    let s = parse(&format!("[slack]\nenabled = false\n{POLICY}"), &env_of(&[])).unwrap();
    assert!(s.slack.is_none());
}

#[test]
fn channel_names_instead_of_ids_are_refused_with_a_hint() {
    let text = format!("{SLACK}{POLICY}").replace("C0AUDIT", "#jitpe-audit");
    let err = parse(&text, &all_secrets_env()).unwrap_err();
    assert_eq!(keys(&err), ["slack.audit_channel"]);
    assert!(err.to_string().contains("channel id"));
}

#[test]
fn a_secret_written_in_the_file_is_refused_and_not_echoed() {
    let text = format!("{SLACK}bot_token = \"xoxb-inline-VALUE\"\n{POLICY}");
    let err = parse(&text, &all_secrets_env()).unwrap_err();
    assert_eq!(keys(&err), ["slack.bot_token"]);
    assert!(!err.to_string().contains("xoxb-inline-VALUE"));
}

#[test]
fn environment_overrides_win_over_the_file() {
    let text = format!("[server]\nlisten = \"127.0.0.1:1\"\n[store]\npath = \"/a\"\n{POLICY}");
    let env = env_of(&[
        ("JITPE_LISTEN", "0.0.0.0:9090"),
        ("JITPE_STORE_PATH", "/var/lib/jitpe"),
        ("JITPE_PUBLIC_URL", "http://127.0.0.1:9090"),
        ("JITPE_KUBECONFIG", "/etc/kubeconfig"),
    ]);
    let s = parse(&text, &env).unwrap();
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(s.store.path, std::path::Path::new("/var/lib/jitpe"));
    assert_eq!(
        s.server.public_url.unwrap().as_str(),
        "http://127.0.0.1:9090/"
    );
    assert_eq!(
        s.kubernetes.kubeconfig.unwrap(),
        std::path::Path::new("/etc/kubeconfig")
    );
}

#[test]
fn the_instance_comes_from_the_file_or_jitpe_instance_and_must_be_a_short_dns_label() {
    let text = format!("[kubernetes]\ninstance = \"blue\"\n{POLICY}");
    let s = parse(&text, &env_of(&[])).unwrap();
    assert_eq!(s.kubernetes.instance.as_str(), "blue");
    let s = parse(&text, &env_of(&[("JITPE_INSTANCE", "jitpe-system")])).unwrap();
    assert_eq!(s.kubernetes.instance.as_str(), "jitpe-system");
    let bad = format!("[kubernetes]\ninstance = \"Blue_1\"\n{POLICY}");
    let err = parse(&bad, &env_of(&[])).unwrap_err();
    assert_eq!(keys(&err), ["kubernetes.instance"]);
    assert!(
        err.to_string()
            .contains("`Blue_1` is not a valid jitpe instance name")
    );
    let err = parse(POLICY, &env_of(&[("JITPE_INSTANCE", "-x")])).unwrap_err();
    assert!(err.to_string().contains("(from JITPE_INSTANCE)"), "{err}");
}

#[test]
fn a_bad_override_says_which_variable_it_came_from() {
    let err = parse(POLICY, &env_of(&[("JITPE_LISTEN", "nope")])).unwrap_err();
    assert_eq!(keys(&err), ["server.listen"]);
    assert!(err.to_string().contains("(from JITPE_LISTEN)"));
}

#[test]
fn only_http_urls_are_accepted() {
    let text = format!("[server]\npublic_url = \"ftp://jitpe.example.com\"\n{POLICY}");
    let err = parse(&text, &env_of(&[])).unwrap_err();
    assert_eq!(keys(&err), ["server.public_url"]);
}

#[test]
fn approvers_on_a_platform_that_is_off_are_a_warning_not_an_error() {
    let text = format!("{MATTERMOST}{POLICY}");
    let s = parse(&text, &all_secrets_env()).unwrap();
    let keys: Vec<&str> = s.warnings().iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, ["policy.roles.debug.approvers"]);
    assert!(summary(&s).contains("warning: policy.roles.debug.approvers: has slack approvers"));
}

#[test]
fn no_chat_platform_at_all_is_one_warning() {
    let s = parse(POLICY, &env_of(&[])).unwrap();
    let keys: Vec<&str> = s.warnings().iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, ["slack.enabled"]);
}

#[test]
fn unknown_key_is_refused_with_its_name_and_line_beside_the_other_problems() {
    let text = format!("[server]\nlistne = \"x\"\nlisten = \"nowhere\"\n{POLICY}");
    let err = parse(&text, &env_of(&[])).unwrap_err();
    assert_eq!(keys(&err), ["server.listne", "server.listen"]);
    assert!(err.to_string().contains("(line 2)"), "{err}");
}

#[test]
fn zero_durations_are_refused_and_max_attempts_points_at_give_up_after() {
    let text = format!(
        "[outbox]\nper_channel_interval = \"0m\"\ngive_up_after = \"0s\"\nmax_attempts = 20\n{POLICY}"
    );
    let err = parse(&text, &env_of(&[])).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "outbox.per_channel_interval",
            "outbox.give_up_after",
            "outbox.max_attempts"
        ]
    );
    assert!(err.to_string().contains("set `give_up_after`"), "{err}");
}

#[test]
fn slow_client_limits_must_be_positive() {
    let text = format!(
        "[server]\nheader_read_timeout = \"0s\"\nbody_read_timeout = \"soon\"\nmax_connections = 0\n{POLICY}"
    );
    let err = parse(&text, &env_of(&[])).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "server.header_read_timeout",
            "server.body_read_timeout",
            "server.max_connections"
        ]
    );
}

#[test]
fn summary_lists_each_tier_and_the_effective_rules_of_every_role_in_it() {
    let tiered = POLICY.replace(
        "approvers = [\"slack:UBOB\"]",
        "approvers = [\"slack:UBOB\", \"slack:UCAROL\"]",
    ) + r#"
[policy.tiers.prod]
namespaces = ["shop"]
extra_approvals = 1
max_duration = "30m"
auto_approve = false
reason_pattern = "^CHG-[0-9]+"
description = "production"
"#;
    let text = summary(&parse(&tiered, &env_of(&[])).unwrap());
    for needle in [
        "tier prod (production): namespaces shop; 1 more approval(s), max 30m, no auto-approval, reason must also match `^CHG-[0-9]+`",
        "role debug here: 2 approval(s), default 15m, max 30m, no auto-approval, reason must match `^CHG-[0-9]+`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!summary(&parse(POLICY, &env_of(&[])).unwrap()).contains("tier"));
}

#[test]
fn summary_lists_roles_namespaces_channels_and_which_secrets_are_set() {
    let s = parse(&format!("{SLACK}{POLICY}"), &all_secrets_env()).unwrap();
    let text = summary(&s);
    for needle in [
        "role debug:",
        "binds ClusterRole jitpe-ingress-debug in the requested namespace",
        "allow shop; deny (none)",
        "1 chat ids mapped",
        "approvers channel C0APPROVERS",
        "bot_token set",
        "POST /k8s/audit on (k8s_audit_token set), POST /falco on (falco_token set)",
        "bodies up to 16777216 bytes",
        "mattermost: disabled",
        "256 chat requests at once",
        "cache 16 MiB, 4 store threads",
        "32 deadlines handled at once",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for needle in [
        "revocation rules (applied to the audit webhook (POST /k8s/audit)):",
        "secrets: any verb on secrets, any namespace, any answer, grants of every role, once",
        "forbidden-burst: any verb on any resource, any namespace, 403, grants of every role, 5 times within 2m",
        "falco: any rule at priority critical or more severe",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let without = summary(&parse(POLICY, &env_of(&[])).unwrap());
    assert!(
        without
            .contains("POST /k8s/audit off (no k8s_audit_token), POST /falco off (no falco_token)"),
        "no route is claimed that answers 404:\n{without}"
    );
}

#[test]
fn the_observation_body_limit_is_checked_and_the_falco_token_is_a_secret_like_the_others() {
    let text = format!("[audit]\nbody_limit = 1000\nfalco_token = \"inline-VALUE\"\n{POLICY}");
    let err = parse(&text, &env_of(&[])).unwrap_err();
    assert_eq!(keys(&err), ["audit.falco_token", "audit.body_limit"]);
    assert!(!err.to_string().contains("inline-VALUE"));
    assert!(err.to_string().contains("use 65536 to 268435456"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("falco-token");
    std::fs::write(&file, "from-file-VALUE\n").unwrap();
    let text = format!(
        "[audit]\nbody_limit = 1048576\nfalco_token_file = \"{}\"\n{POLICY}",
        file.display()
    );
    let s = parse(&text, &env_of(&[])).unwrap();
    assert_eq!(s.audit.falco_token.unwrap().expose(), "from-file-VALUE");
    assert_eq!(s.audit.body_limit, 1024 * 1024);
}

#[test]
fn a_plain_http_public_url_off_loopback_is_a_warning() {
    let text = format!("[server]\npublic_url = \"http://jitpe.internal\"\n{POLICY}");
    let s = parse(&text, &env_of(&[])).unwrap();
    assert!(s.warnings().iter().any(|w| w.key == "server.public_url"));
}
