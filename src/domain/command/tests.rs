//! Tests of the `/jit` grammar: tables of good and bad inputs, plus property tests.

use super::*;
use proptest::prelude::*;

fn role(s: &str) -> RoleName {
    RoleName::parse(s).expect("test role is valid")
}

fn ns(s: &str) -> Namespace {
    Namespace::parse(s).expect("test namespace is valid")
}

fn ingress(s: &str) -> ResourceName {
    ResourceName::parse(s).expect("test ingress name is valid")
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// `debug` on `target` (`shop` or `shop/web`), for `minutes` or the role's default.
fn req(target: &str, minutes: Option<u64>, reason: &str) -> Command {
    let (namespace, resource) = match target.split_once('/') {
        Some((namespace, resource)) => (namespace, Some(ingress(resource))),
        None => (target, None),
    };
    let (role, namespace, duration) = (role("debug"), ns(namespace), minutes.map(mins));
    Command::Request {
        role,
        namespace,
        resource,
        duration,
        reason: reason.to_owned(),
    }
}

fn ext(id: u64, secs: u64, reason: &str) -> Command {
    let (id, duration) = (RequestId(id), Duration::from_secs(secs));
    Command::Extend {
        id,
        duration,
        reason: reason.to_owned(),
    }
}

#[test]
fn well_formed_commands_parse() {
    #[rustfmt::skip] // NB: one case per line reads better as a table.
    let cases = [
        ("request debug shop 15m 502s on /checkout INC-4411", req("shop", Some(15), "502s on /checkout INC-4411")),
        ("request debug shop fix 15x", req("shop", None, "fix 15x")),
        ("request debug shop/web-frontend 1h30m INC-1", req("shop/web-frontend", Some(90), "INC-1")),
        ("  REQUEST\tdebug  shop   INC-1  keep   runs  ", req("shop", None, "INC-1  keep   runs")),
        ("request debug shop INC-1\nline two\r\nthree", req("shop", None, "INC-1 line two  three")),
        ("request debug shop 5m tab\there é", req("shop", Some(5), "tab\there é")),
        ("list", Command::List),
        ("List", Command::List),
        ("status 42", Command::Status { id: RequestId(42) }),
        ("status #42", Command::Status { id: RequestId(42) }),
        ("revoke 7", Command::Revoke { id: RequestId(7) }),
        ("cancel #3", Command::Cancel { id: RequestId(3) }),
        ("extend 42 30m still debugging", ext(42, 1800, "still debugging")),
        ("extend #42 90s 5m more", ext(42, 90, "5m more")),
        ("help", Command::Help),
        ("HELP", Command::Help),
        ("", Command::Help),
        (" \t\n ", Command::Help),
    ];
    for (input, expected) in cases {
        assert_eq!(parse(input), Ok(expected), "{input:?}");
    }
}

#[test]
fn malformed_commands_get_the_error_that_explains_them() {
    use CommandError as E;
    let id = |e: IdError| E::InvalidId(e);
    let unknown_x = |input: &str| DurationError::UnknownUnit {
        input: input.into(),
        unit: 'x',
    };
    let too_long = format!("request debug shop {}", "x".repeat(MAX_REASON_CHARS + 1));
    #[rustfmt::skip] // NB: one case per line reads better as a table.
    let cases = [
        ("frobnicate 42", E::UnknownSubcommand { word: "frobnicate".into() }),
        ("/jit list", E::UnknownSubcommand { word: "/jit".into() }),
        ("request", E::MissingRole),
        ("request debug", E::MissingNamespace),
        ("request debug shop/", E::MissingIngress { namespace: "shop".into() }),
        ("request debug shop", E::MissingReason { command: "/jit request debug shop".into() }),
        ("request debug shop/web 15m  ", E::MissingReason { command: "/jit request debug shop/web 15m".into() }),
        ("request Debug shop fix", id(IdError::RoleName { input: "Debug".into() })),
        ("request debug Shop_1 fix", id(IdError::Namespace { input: "Shop_1".into() })),
        ("request debug /web fix", id(IdError::Namespace { input: "".into() })),
        ("request debug shop/Web fix", id(IdError::ResourceName { input: "Web".into() })),
        ("request debug shop/a/b fix", id(IdError::ResourceName { input: "a/b".into() })),
        ("request debug shop 15x fix", E::DurationOrReason { word: "15x".into(), source: unknown_x("15x") }),
        ("request debug shop 404 errors", E::DurationOrReason {
            word: "404".into(), source: DurationError::MissingUnit { input: "404".into() } }),
        (too_long.as_str(), E::ReasonTooLong { chars: MAX_REASON_CHARS + 1 }),
        ("request debug shop bell\u{7}", E::ReasonControlCharacter { code: 7 }),
        ("request debug shop evil\u{202E}txt", E::ReasonControlCharacter { code: 0x202E }),
        ("list all", E::UnexpectedArgument { subcommand: Subcommand::List, word: "all".into() }),
        ("help me", E::UnexpectedArgument { subcommand: Subcommand::Help, word: "me".into() }),
        ("status 42 43", E::UnexpectedArgument { subcommand: Subcommand::Status, word: "43".into() }),
        ("revoke 42 now", E::UnexpectedArgument { subcommand: Subcommand::Revoke, word: "now".into() }),
        ("cancel 1 2", E::UnexpectedArgument { subcommand: Subcommand::Cancel, word: "2".into() }),
        ("status", E::MissingId { subcommand: Subcommand::Status }),
        ("revoke", E::MissingId { subcommand: Subcommand::Revoke }),
        ("cancel", E::MissingId { subcommand: Subcommand::Cancel }),
        ("extend", E::MissingId { subcommand: Subcommand::Extend }),
        ("status abc", id(IdError::RequestId { input: "abc".into() })),
        ("revoke 0", id(IdError::RequestId { input: "0".into() })),
        ("extend 42", E::MissingDuration),
        ("extend 42 fix", E::InvalidDuration(DurationError::Malformed { input: "fix".into() })),
        ("extend 42 15x fix", E::InvalidDuration(unknown_x("15x"))),
        ("extend 42 30m", E::MissingReason { command: "/jit extend 42 30m".into() }),
    ];
    for (input, expected) in cases {
        assert_eq!(parse(input), Err(expected), "{input:?}");
    }
}

#[test]
fn reasons_of_exactly_the_maximum_length_are_accepted() {
    let reason = "é".repeat(MAX_REASON_CHARS);
    let parsed = parse(&format!("request debug shop {reason}"));
    assert_eq!(parsed, Ok(req("shop", None, &reason)));
}

#[test]
fn every_error_message_shows_what_to_type() {
    let cases = [
        (
            "frobnicate",
            "use one of request, list, status, revoke, extend, cancel or help",
        ),
        (
            "request",
            "write `/jit request <role> <namespace>[/<ingress-name>] [<duration>] <reason...>`",
        ),
        (
            "request debug",
            "for example `/jit request debug shop 15m 502s on /checkout INC-4411`",
        ),
        ("request debug shop/", "write `shop/<ingress-name>`"),
        (
            "request debug shop 15m",
            "write `/jit request debug shop 15m <reason>` (for example a ticket id",
        ),
        ("request debug Shop x", "is not a valid namespace name"),
        (
            "request debug shop 404 errors",
            "if `404` is the start of your reason, put a duration such as `15m` before it",
        ),
        ("request debug shop a\u{0}", "U+0000: use plain text"),
        (
            "status",
            "write `/jit status <id>`, for example `/jit status 42`",
        ),
        (
            "list all",
            "unexpected `all` after `/jit list`: write `/jit list`",
        ),
        (
            "extend 42",
            "write `/jit extend <id> <duration> <reason...>`",
        ),
        ("extend 42 1d x", "write it like 90s, 15m or 1h30m"),
    ];
    for (input, expected) in cases {
        let msg = parse(input).expect_err(input).to_string();
        assert!(msg.contains(expected), "{input:?} gave {msg:?}");
        assert!(!msg.contains("for example `/jit list`"), "{msg}");
    }
    let msg = CommandError::ReasonTooLong { chars: 501 }.to_string();
    assert!(msg.contains("keep it to 500 or fewer"), "{msg}");
}

#[test]
fn help_text_lists_every_subcommand_with_its_form() {
    for sub in Subcommand::ALL {
        assert!(help_text().contains(sub.usage()), "{sub}");
        assert_eq!(Subcommand::from_word(sub.name()), Some(sub));
    }
}

#[test]
fn every_example_in_the_messages_parses() {
    for sub in Subcommand::ALL {
        let text = sub
            .example()
            .strip_prefix("/jit ")
            .expect("examples start with /jit");
        assert!(parse(text).is_ok(), "{text}");
    }
}

fn valid_command() -> impl Strategy<Value = Command> {
    let id = (1..=u64::MAX).prop_map(RequestId);
    let duration = (1..=30 * 24 * 3600_u64).prop_map(Duration::from_secs);
    // Reasons start with a letter so that a request without a duration reads back the same.
    let reason = "[A-Za-z#][A-Za-z0-9 ./#:é-]{0,60}[A-Za-z0-9]";
    let request = (
        "[a-z][a-z0-9-]{0,20}",
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
        proptest::option::of(
            "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?"
                .prop_filter("valid", |s| ResourceName::parse(s).is_ok()),
        ),
        proptest::option::of(duration.clone()),
        reason,
    )
        .prop_map(|(r, n, resource, duration, reason)| Command::Request {
            role: role(&r),
            namespace: ns(&n),
            resource: resource.as_deref().map(ingress),
            duration,
            reason,
        });
    prop_oneof![
        request,
        Just(Command::List),
        Just(Command::Help),
        id.clone().prop_map(|id| Command::Status { id }),
        id.clone().prop_map(|id| Command::Revoke { id }),
        id.clone().prop_map(|id| Command::Cancel { id }),
        (id, duration, "[0-9A-Za-z][A-Za-z0-9 ]{0,30}").prop_map(|(id, duration, reason)| {
            Command::Extend {
                id,
                duration,
                reason: reason.trim_end().to_owned(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn parsing_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_command_shaped_text_never_panics(text in "(request|extend|status|revoke|list|cancel|help)[ a-z0-9#/.\\-\t\n\u{7}\u{202e}]{0,60}") {
        let _ = parse(&text);
    }

    #[test]
    fn rendered_commands_parse_back_to_themselves(command in valid_command()) {
        prop_assert_eq!(parse(&command.to_string()), Ok(command));
    }
}
