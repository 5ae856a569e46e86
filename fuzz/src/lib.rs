//! Invariants the fuzz targets share: what any parsed command, click or duration must satisfy,
//! beyond "no panic".

use jitpe::domain::command::{self, Command, CommandError, MAX_REASON_CHARS};
use jitpe::domain::duration::{MAX_DURATION, format_duration, parse_duration};
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::view::CardAction;
use jitpe::fuzzing::ClickOutcome;

/// Checks what `command::parse` made of some text: an error has a message, a command has a
/// clean reason and a sane duration, and its canonical rendering parses back to it.
pub fn check_command(parsed: &Result<Command, CommandError>) {
    let command = match parsed {
        Err(e) => return assert!(!e.to_string().is_empty(), "empty message for {e:?}"),
        Ok(c) => c,
    };
    let rendered = command.to_string();
    match command {
        Command::Request {
            duration, reason, ..
        } => {
            check_reason(reason);
            duration.map(check_duration);
            // The one documented ambiguity (see `impl Display for Command`): without a
            // duration, a reason starting with a digit is read back as the duration.
            if duration.is_none() && reason.starts_with(|c: char| c.is_ascii_digit()) {
                return;
            }
        }
        Command::Extend {
            duration, reason, ..
        } => {
            check_reason(reason);
            check_duration(*duration);
        }
        _ => {}
    }
    assert_eq!(
        command::parse(&rendered).as_ref(),
        Ok(command),
        "{rendered:?} does not parse back"
    );
}

/// A reason as it is stored and shown: one line, no invisible characters, not too long.
fn check_reason(reason: &str) {
    assert!(!reason.is_empty());
    assert_eq!(reason, reason.trim(), "untrimmed reason {reason:?}");
    assert!(reason.chars().count() <= MAX_REASON_CHARS);
    assert!(
        !reason.chars().any(|c| c.is_control() && c != '\t'),
        "control character in {reason:?}"
    );
}

/// A parsed duration: positive, within the limit, and written back the same.
pub fn check_duration(d: std::time::Duration) {
    assert!(!d.is_zero() && d <= MAX_DURATION, "{d:?} out of range");
    assert_eq!(d.subsec_nanos(), 0);
    assert_eq!(parse_duration(&format_duration(d)), Ok(d));
}

/// A click the route hands to the service: a real request id, a user id of the platform.
pub fn check_click(outcome: &ClickOutcome, platform: Platform) {
    if let ClickOutcome::Click {
        actor, id, origin, ..
    } = outcome
    {
        assert_eq!(actor.platform, platform);
        assert_eq!(origin.platform, platform);
        assert!(id.0 > 0);
        // Actors are stored and audited as text (`slack:U…`); it must read back the same.
        assert_eq!(
            actor.to_string().parse::<Actor>().ok().as_ref(),
            Some(actor)
        );
    }
}

/// Every card action, for targets that pick one from fuzz input.
pub const ACTIONS: [CardAction; 3] = [CardAction::Approve, CardAction::Deny, CardAction::Revoke];

/// A string an observation route kept: within the bound every field is clipped to.
pub fn check_field(s: &str) {
    let n = s.chars().count();
    assert!(
        n <= jitpe::fuzzing::observe::MAX_FIELD_CHARS,
        "{n} characters kept"
    );
}

/// A system's request as the API would submit it: the reason and duration as chat's, and labels
/// within their bounds (`domain::request::labels`).
pub fn check_api_request(new: &jitpe::domain::lifecycle::NewRequest) {
    use jitpe::domain::request::labels::{MAX_KEY, MAX_LABELS, MAX_VALUE};
    check_reason(&new.reason);
    new.duration.map(check_duration);
    assert!(
        new.requester.as_service_account().is_some(),
        "a system asks"
    );
    let labels: Vec<_> = new.labels.iter().collect();
    assert!(labels.len() <= MAX_LABELS);
    for (k, v) in labels {
        assert!(!k.is_empty() && k.len() <= MAX_KEY, "key {k:?}");
        assert!(v.chars().count() <= MAX_VALUE && !v.chars().any(char::is_control));
    }
}
