//! `mattermost.time_zone`: UTC unless named, any IANA zone from the built-in database, and a
//! name it does not know refused with the key.

use crate::config::parse;
use crate::config::tests::{MATTERMOST, POLICY, SLACK, all_secrets_env};

#[test]
fn mattermost_times_are_utc_unless_a_known_zone_is_named() {
    let text = format!("{SLACK}{MATTERMOST}{POLICY}");
    let s = parse(&text, &all_secrets_env()).unwrap();
    assert_eq!(s.mattermost.unwrap().time_zone.iana_name(), Some("UTC"));
    let zoned = text.replace(
        "[mattermost]\n",
        "[mattermost]\ntime_zone = \"Europe/Berlin\"\n",
    );
    let s = parse(&zoned, &all_secrets_env()).unwrap();
    let zone = s.mattermost.unwrap().time_zone;
    assert_eq!(zone.iana_name(), Some("Europe/Berlin"));
}

#[test]
fn an_unknown_zone_is_refused_with_its_key() {
    let text = format!("{SLACK}{MATTERMOST}{POLICY}").replace(
        "[mattermost]\n",
        "[mattermost]\ntime_zone = \"Mars/Olympus\"\n",
    );
    let err = parse(&text, &all_secrets_env()).unwrap_err().to_string();
    assert!(err.contains("mattermost.time_zone"), "{err}");
    assert!(err.contains("`Mars/Olympus` is not a time zone"), "{err}");
}
