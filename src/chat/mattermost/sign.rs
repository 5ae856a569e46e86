//! The signature jitpe puts in a Mattermost button's `integration.context`.
//!
//! Mattermost calls a button's URL with no authentication at all, so jitpe puts its own proof in
//! the context, which users never see:
//!
//! ```text
//! context = {"v":"1", "rid":"42", "act":"approve", "exp":"1700003600", "sig":"<b64url>"}
//! sig     = base64url_nopad(HMAC-SHA256(K, "v1|" + rid + "|" + act + "|" + exp + "|" + channel_id))
//! ```
//!
//! `K` is the dedicated `mattermost.action_secret`, never the bot token: whoever holds the token
//! could otherwise forge clicks. The channel is signed so a card copied elsewhere does not work;
//! the post id is unknown at signing time and is checked by the caller instead.
//! All values are strings because Mattermost turns JSON numbers into Go float64s.

use crate::domain::ids::RequestId;
use crate::domain::view::CardAction;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The only context version jitpe writes and accepts.
pub const VERSION: &str = "1";

type HmacSha256 = Hmac<Sha256>;

/// Why a button context was not accepted. Audit the refusal; tell the clicker little.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// `v` is not [`VERSION`].
    #[error("unsupported button context version `{0}`")]
    Version(String),
    /// A field is missing or unreadable (not a request id, action or number).
    #[error("malformed button context: {0}")]
    Malformed(&'static str),
    /// The signature does not match: forged, tampered with, or from another channel or key.
    #[error("button signature does not match")]
    BadSignature,
    /// The signature is genuine but its time is up (`exp <= now`).
    #[error("button expired at {exp} (now {now})")]
    Expired {
        /// Expiry in the context, unix seconds.
        exp: i64,
        /// The time of the check, unix seconds.
        now: i64,
    },
}

/// The exact bytes that are signed.
fn message(rid: RequestId, act: CardAction, exp: i64, channel_id: &str) -> String {
    format!("v{VERSION}|{rid}|{}|{exp}|{channel_id}", act.as_str())
}

fn mac(key: &[u8], msg: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg.as_bytes());
    mac
}

/// The `sig` of a button: base64url without padding of the HMAC-SHA256 over the signed fields.
pub fn sign(key: &[u8], rid: RequestId, act: CardAction, exp: i64, channel_id: &str) -> String {
    let tag = mac(key, &message(rid, act, exp, channel_id)).finalize();
    URL_SAFE_NO_PAD.encode(tag.into_bytes())
}

/// Checks `sig` in constant time, then that `exp > now`.
///
/// The signature is checked first, so [`SignError::Expired`] is only ever reported for a genuine
/// (late) click and a forgery is always [`SignError::BadSignature`].
pub fn verify(
    key: &[u8],
    rid: RequestId,
    act: CardAction,
    exp: i64,
    channel_id: &str,
    sig: &str,
    now: i64,
) -> Result<(), SignError> {
    // Strict decoding: padding or non-canonical trailing bits are refused, not tolerated.
    let tag = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| SignError::BadSignature)?;
    mac(key, &message(rid, act, exp, channel_id))
        .verify_slice(&tag)
        .map_err(|_| SignError::BadSignature)?;
    if exp <= now {
        return Err(SignError::Expired { exp, now });
    }
    Ok(())
}

/// A button's `integration.context` as jitpe writes it and Mattermost sends it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonContext {
    /// Context version, [`VERSION`].
    pub v: String,
    /// Request id, decimal.
    pub rid: String,
    /// [`CardAction::as_str`].
    pub act: String,
    /// Expiry, unix seconds, decimal.
    pub exp: String,
    /// [`sign`] over the other fields and the channel.
    pub sig: String,
}

impl ButtonContext {
    /// A signed context for a button on a card in `channel_id`, valid until `exp`.
    pub fn signed(key: &[u8], rid: RequestId, act: CardAction, exp: i64, channel_id: &str) -> Self {
        Self {
            v: VERSION.to_string(),
            rid: rid.to_string(),
            act: act.as_str().to_string(),
            exp: exp.to_string(),
            sig: sign(key, rid, act, exp, channel_id),
        }
    }

    /// Checks a context from a click on a post in `channel_id` and returns what it asks for.
    /// The caller must still check that the post is the stored card of the request.
    pub fn verify(
        &self,
        key: &[u8],
        channel_id: &str,
        now: i64,
    ) -> Result<(RequestId, CardAction), SignError> {
        if self.v != VERSION {
            return Err(SignError::Version(self.v.clone()));
        }
        let rid: RequestId = self.rid.parse().map_err(|_| SignError::Malformed("rid"))?;
        let act = CardAction::parse(&self.act).ok_or(SignError::Malformed("act"))?;
        let exp: i64 = self.exp.parse().map_err(|_| SignError::Malformed("exp"))?;
        verify(key, rid, act, exp, channel_id, &self.sig, now)?;
        Ok((rid, act))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";
    const CH: &str = "j6j53p28k6urx15fpcgsr20psq";
    const EXP: i64 = 1_700_003_600;
    const APPROVE_SIG: &str = "8pE6fGGekoFlRzGczs5E1tP23KrnJLWxX53VOIVDiZI";
    const DENY_SIG: &str = "wjjRi9Ill1UklyhwIdiumhCsfpJiVT74x8bMByn6oS0";

    #[test]
    fn the_signed_message_is_exactly_the_documented_one() {
        assert_eq!(K.len(), 42);
        assert_eq!(
            message(RequestId(42), CardAction::Approve, EXP, CH),
            "v1|42|approve|1700003600|j6j53p28k6urx15fpcgsr20psq"
        );
    }

    #[test]
    fn signatures_match_the_test_vectors_of_the_protocol_notes() {
        let approve = sign(K, RequestId(42), CardAction::Approve, EXP, CH);
        assert_eq!(approve, APPROVE_SIG);
        let raw = URL_SAFE_NO_PAD.decode(&approve).unwrap();
        assert_eq!(
            hex::encode(raw),
            "f2913a7c619e92816547319ccece44d6d3f6dcaae724b5b15f9dd53885438992"
        );
        assert_eq!(sign(K, RequestId(42), CardAction::Deny, EXP, CH), DENY_SIG);
    }

    #[test]
    fn a_genuine_signature_verifies_until_it_expires() {
        let ok = verify(
            K,
            RequestId(42),
            CardAction::Approve,
            EXP,
            CH,
            APPROVE_SIG,
            EXP - 1,
        );
        assert_eq!(ok, Ok(()));
        for now in [EXP, EXP + 3600] {
            let late = verify(
                K,
                RequestId(42),
                CardAction::Approve,
                EXP,
                CH,
                APPROVE_SIG,
                now,
            );
            assert_eq!(late, Err(SignError::Expired { exp: EXP, now }));
        }
    }

    #[test]
    fn any_changed_field_key_or_channel_is_a_bad_signature() {
        let now = EXP - 60;
        let bad = Err(SignError::BadSignature);
        let v = |key: &[u8], rid, act, exp, ch: &str, sig: &str| {
            verify(key, rid, act, exp, ch, sig, now)
        };
        let (r, a) = (RequestId(42), CardAction::Approve);
        assert_eq!(v(K, RequestId(43), a, EXP, CH, APPROVE_SIG), bad);
        assert_eq!(v(K, r, CardAction::Deny, EXP, CH, APPROVE_SIG), bad);
        assert_eq!(v(K, r, a, EXP + 1, CH, APPROVE_SIG), bad);
        assert_eq!(
            v(K, r, a, EXP, "ffffffffffffffffffffffffff", APPROVE_SIG),
            bad
        );
        assert_eq!(
            v(
                b"another-secret-another-secret-32b",
                r,
                a,
                EXP,
                CH,
                APPROVE_SIG
            ),
            bad
        );
        assert_eq!(v(K, r, a, EXP, CH, DENY_SIG), bad);
        assert_eq!(v(K, r, a, EXP, CH, &APPROVE_SIG[..42]), bad, "truncated");
        assert_eq!(
            v(K, r, a, EXP, CH, &format!("{APPROVE_SIG}="),),
            bad,
            "padded"
        );
        assert_eq!(v(K, r, a, EXP, CH, ""), bad);
    }

    #[test]
    fn an_expired_forgery_is_reported_as_forged_not_as_expired() {
        let got = verify(
            K,
            RequestId(42),
            CardAction::Approve,
            EXP,
            CH,
            DENY_SIG,
            EXP + 1,
        );
        assert_eq!(got, Err(SignError::BadSignature));
    }

    #[test]
    fn a_button_context_round_trips_through_json_as_strings_and_verifies() {
        let ctx = ButtonContext::signed(K, RequestId(42), CardAction::Deny, EXP, CH);
        let json = serde_json::to_value(&ctx).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": "1", "rid": "42", "act": "deny", "exp": "1700003600", "sig": DENY_SIG})
        );
        let back: ButtonContext = serde_json::from_value(json).unwrap();
        assert_eq!(
            back.verify(K, CH, EXP - 1),
            Ok((RequestId(42), CardAction::Deny))
        );
        assert_eq!(
            back.verify(K, "other", EXP - 1),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn a_context_with_another_version_or_unreadable_fields_is_refused() {
        let good = ButtonContext::signed(K, RequestId(42), CardAction::Approve, EXP, CH);
        let now = EXP - 1;
        let v2 = ButtonContext {
            v: "2".into(),
            ..good.clone()
        };
        assert_eq!(v2.verify(K, CH, now), Err(SignError::Version("2".into())));
        let rid = ButtonContext {
            rid: "042x".into(),
            ..good.clone()
        };
        assert_eq!(rid.verify(K, CH, now), Err(SignError::Malformed("rid")));
        let act = ButtonContext {
            act: "escalate".into(),
            ..good.clone()
        };
        assert_eq!(act.verify(K, CH, now), Err(SignError::Malformed("act")));
        let exp = ButtonContext {
            exp: "1.7e9".into(),
            ..good.clone()
        };
        assert_eq!(exp.verify(K, CH, now), Err(SignError::Malformed("exp")));
        // A number in place of a string is not a context jitpe wrote.
        let numeric =
            serde_json::json!({"v": "1", "rid": 42, "act": "approve", "exp": "1", "sig": "x"});
        assert!(serde_json::from_value::<ButtonContext>(numeric).is_err());
    }
}
