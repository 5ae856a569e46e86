//! Slack's request signature (`X-Slack-Request-Timestamp`, `X-Slack-Signature`), checked before
//! any Slack body is parsed: any header values and clock are refused or accepted without a
//! panic, an accepted request is within the replay window, and a request Slack signed is
//! accepted at any time within the window.
#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue};
use jitpe::chat::slack::verify::{SLACK_WINDOW_SECS, slack_signature, verify_slack};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    timestamp: &'a [u8],
    signature: &'a [u8],
    now: i64,
    /// For the genuine request: how far its timestamp is from `now`.
    skew: i16,
    body: &'a [u8],
}

fn headers(timestamp: &[u8], signature: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let values = [
        ("x-slack-request-timestamp", timestamp),
        ("x-slack-signature", signature),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    headers
}

fuzz_target!(|input: Input<'_>| {
    let given = headers(input.timestamp, input.signature);
    if verify_slack(SECRET, &given, input.body, input.now).is_ok() {
        let ts: i64 = std::str::from_utf8(input.timestamp)
            .unwrap()
            .parse()
            .unwrap();
        assert!(input.now.abs_diff(ts) <= SLACK_WINDOW_SECS as u64);
    }

    let Some(ts) = input.now.checked_sub(i64::from(input.skew)) else {
        return;
    };
    let signature = slack_signature(SECRET, ts, input.body);
    let genuine = headers(ts.to_string().as_bytes(), signature.as_bytes());
    let result = verify_slack(SECRET, &genuine, input.body, input.now);
    let in_window = i64::from(input.skew).abs() <= SLACK_WINDOW_SECS;
    assert_eq!(result.is_ok(), in_window, "{result:?}");
});
