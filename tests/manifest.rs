//! `app-manifest.json` is what a Slack admin imports: its URLs must hit the router's routes, it
//! must pass Slack's manifest schema rules, and it must ask for no more scopes than jitpe uses.

use jitpe::chat::slack::{SLACK_COMMANDS, SLACK_INTERACTIONS};
use jitpe::domain::command::Subcommand;
use serde_json::Value;
use std::collections::BTreeSet;

fn manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/app-manifest.json");
    let text = std::fs::read_to_string(path).expect("app-manifest.json at the repo root");
    serde_json::from_str(&text).expect("app-manifest.json is JSON")
}

/// The path of an absolute http(s) URL.
fn path_of(url: &Value) -> String {
    let url = reqwest::Url::parse(url.as_str().expect("a URL string")).expect("an absolute URL");
    assert!(matches!(url.scheme(), "https" | "http"), "{url}");
    url.path().to_string()
}

fn chars(v: &Value) -> usize {
    v.as_str().expect("a string").chars().count()
}

#[test]
fn the_manifest_urls_point_at_the_router_routes() {
    let m = manifest();
    let jit = &m["features"]["slash_commands"][0];
    assert_eq!(path_of(&jit["url"]), SLACK_COMMANDS);
    let interactivity = &m["settings"]["interactivity"];
    assert_eq!(path_of(&interactivity["request_url"]), SLACK_INTERACTIONS);
}

#[test]
fn the_manifest_follows_slacks_schema_rules() {
    let m = manifest();
    let name = &m["display_information"]["name"];
    assert!((1..=35).contains(&chars(name)), "name {name}");
    assert!(chars(&m["display_information"]["description"]) <= 140);
    assert!((1..=80).contains(&chars(&m["features"]["bot_user"]["display_name"])));
    let commands = m["features"]["slash_commands"]
        .as_array()
        .expect("commands");
    assert_eq!(commands.len(), 1);
    let command = commands[0]["command"].as_str().expect("command");
    assert_eq!(command, "/jit");
    assert!(command.starts_with('/') && (2..=32).contains(&command.chars().count()));
    assert!(
        commands[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(m["settings"]["interactivity"]["is_enabled"], true);
    // Without Socket Mode, Slack calls the URLs above; with it, they would be ignored.
    assert_eq!(m["settings"]["socket_mode_enabled"], false);
}

#[test]
fn the_usage_hint_names_every_subcommand() {
    let m = manifest();
    let hint = m["features"]["slash_commands"][0]["usage_hint"]
        .as_str()
        .expect("usage_hint");
    assert!(hint.starts_with("request <role> <namespace>"), "{hint}");
    for sub in Subcommand::ALL {
        assert!(hint.contains(sub.name()), "usage_hint lacks {}", sub.name());
    }
}

#[test]
fn the_bot_asks_for_exactly_the_scopes_it_uses() {
    // commands: /jit; chat:write: cards, updates, DMs, audit lines; im:write: conversations.open.
    // users:read and usergroups:read stay out until jitpe calls users.info or
    // usergroups.users.list.
    let m = manifest();
    let scopes: BTreeSet<&str> = m["oauth_config"]["scopes"]["bot"]
        .as_array()
        .expect("bot scopes")
        .iter()
        .map(|s| s.as_str().expect("scope"))
        .collect();
    assert_eq!(
        scopes,
        BTreeSet::from(["commands", "chat:write", "im:write"])
    );
    assert!(
        m["oauth_config"]["scopes"].get("user").is_none(),
        "no user scopes"
    );
}
