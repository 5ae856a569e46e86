//! Durations: any text parses to a duration within the limit or an error with a message, and
//! every duration jitpe writes parses back to itself.
#![no_main]

use jitpe::domain::duration::{MAX_DURATION, format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|text: &str| {
    match parse_duration(text) {
        Ok(d) => jitpe_fuzz::check_duration(d),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // Also a whole number of seconds up to the limit picked from the text: it is written in a
    // form that reads back.
    let pick = text
        .bytes()
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let d = Duration::from_secs(pick % MAX_DURATION.as_secs() + 1);
    assert_eq!(parse_duration(&format_duration(d)), Ok(d));
});
