//! Verification of inbound Slack requests (v0 signatures). Pure functions over headers, raw
//! body bytes and `now`, so the official test vector is a unit test.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why an inbound request was not accepted as coming from Slack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp is not a number.
    #[error("malformed X-Slack-Request-Timestamp")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error("stale request: timestamp is {0} s away from now (limit 300 s)")]
    Stale(i64),
    /// The signature header is not `v0=<64 hex>`.
    #[error("malformed X-Slack-Signature")]
    MalformedSignature,
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// Slack's replay window.
pub const SLACK_WINDOW_SECS: i64 = 300;

/// Checks `X-Slack-Signature` over `v0:<timestamp>:<raw body>` with the signing secret, in
/// constant time, and the timestamp against `now` (Unix seconds).
pub fn verify_slack(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), AuthError> {
    let ts = header(headers, "x-slack-request-timestamp")?;
    let sig = header(headers, "x-slack-signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| AuthError::BadTimestamp)?;
    let skew = now.saturating_sub(ts_num);
    // NB: `unsigned_abs`, because a saturated skew of i64::MIN has no positive i64.
    if skew.unsigned_abs() > SLACK_WINDOW_SECS.unsigned_abs() {
        return Err(AuthError::Stale(skew));
    }
    let hex_sig = sig
        .strip_prefix("v0=")
        .ok_or(AuthError::MalformedSignature)?;
    let given = hex::decode(hex_sig).map_err(|_| AuthError::MalformedSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given).map_err(|_| AuthError::Mismatch)
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AuthError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::MissingHeader(name))
}

/// Signs a body as Slack would: the value of `X-Slack-Signature`. Used by tests and tools.
pub fn slack_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn headers(sig: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-signature", HeaderValue::from_str(sig).unwrap());
        h.insert(
            "x-slack-request-timestamp",
            HeaderValue::from_str(ts).unwrap(),
        );
        h
    }

    #[test]
    fn the_official_slack_test_vector_verifies() {
        assert_eq!(
            slack_signature(SECRET.as_bytes(), TS, BODY.as_bytes()),
            EXPECTED
        );
        let h = headers(EXPECTED, &TS.to_string());
        assert_eq!(
            verify_slack(SECRET.as_bytes(), &h, BODY.as_bytes(), TS + 10),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_or_wrong_secret_is_a_mismatch() {
        let h = headers(EXPECTED, &TS.to_string());
        let tampered = BODY.replace("U2CERLKJA", "U2CERLKJB");
        assert_eq!(
            verify_slack(SECRET.as_bytes(), &h, tampered.as_bytes(), TS),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify_slack(b"other", &h, BODY.as_bytes(), TS),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let h = headers(EXPECTED, &TS.to_string());
        assert_eq!(
            verify_slack(SECRET.as_bytes(), &h, BODY.as_bytes(), TS + 301),
            Err(AuthError::Stale(301))
        );
        assert_eq!(
            verify_slack(SECRET.as_bytes(), &h, BODY.as_bytes(), TS - 301),
            Err(AuthError::Stale(-301))
        );
    }

    #[test]
    fn a_timestamp_too_far_from_now_to_subtract_is_stale_not_a_panic() {
        // Found by fuzz/fuzz_targets/slack_signature.rs: the difference saturated to i64::MIN,
        // whose absolute value overflows.
        let h = headers(EXPECTED, "588");
        let now = i64::MIN + 60;
        assert_eq!(
            verify_slack(SECRET.as_bytes(), &h, BODY.as_bytes(), now),
            Err(AuthError::Stale(i64::MIN))
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let body = BODY.as_bytes();
        let s = SECRET.as_bytes();
        assert_eq!(
            verify_slack(s, &HeaderMap::new(), body, TS),
            Err(AuthError::MissingHeader("x-slack-request-timestamp"))
        );
        assert_eq!(
            verify_slack(s, &headers(EXPECTED, "soon"), body, TS),
            Err(AuthError::BadTimestamp)
        );
        let no_prefix = EXPECTED.trim_start_matches("v0=");
        assert_eq!(
            verify_slack(s, &headers(no_prefix, &TS.to_string()), body, TS),
            Err(AuthError::MalformedSignature)
        );
        assert_eq!(
            verify_slack(s, &headers("v0=zz", &TS.to_string()), body, TS),
            Err(AuthError::MalformedSignature)
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-slack-request-timestamp",
            HeaderValue::from_static("1531420618"),
        );
        assert_eq!(
            verify_slack(s, &h, body, TS),
            Err(AuthError::MissingHeader("x-slack-signature"))
        );
    }
}
