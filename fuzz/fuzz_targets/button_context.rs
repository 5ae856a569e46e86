//! The signed button context of Mattermost cards: a context jitpe signs verifies to what it was
//! signed for, and any other context (fields changed, another channel or key, expired) is
//! refused, with a signature check that never panics.
#![no_main]

use arbitrary::Arbitrary;
use jitpe::chat::mattermost::sign::{ButtonContext, SignError};
use jitpe::domain::ids::RequestId;
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// A context as it might arrive, every field chosen by the fuzzer.
    v: &'a str,
    rid: &'a str,
    act: &'a str,
    exp: &'a str,
    sig: &'a str,
    channel: &'a str,
    now: i64,
    /// A context jitpe signs, then checks under `now` and `channel`.
    signed_rid: u64,
    signed_act: u8,
    signed_exp: i64,
    signed_channel: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let context = ButtonContext {
        v: input.v.to_owned(),
        rid: input.rid.to_owned(),
        act: input.act.to_owned(),
        exp: input.exp.to_owned(),
        sig: input.sig.to_owned(),
    };
    if let Ok((rid, act)) = context.verify(KEY, input.channel, input.now) {
        let exp: i64 = context.exp.parse().unwrap();
        assert!(exp > input.now);
        let genuine = ButtonContext::signed(KEY, rid, act, exp, input.channel);
        assert_eq!(
            context.sig, genuine.sig,
            "a signature jitpe did not make was accepted"
        );
    }

    let rid = RequestId(input.signed_rid.max(1));
    let act = jitpe_fuzz::ACTIONS[usize::from(input.signed_act) % 3];
    let (exp, channel) = (input.signed_exp, input.signed_channel);
    let signed = ButtonContext::signed(KEY, rid, act, exp, channel);
    let result = signed.verify(KEY, channel, input.now);
    if exp > input.now {
        assert_eq!(result, Ok((rid, act)));
        if input.channel != channel {
            let other = signed.verify(KEY, input.channel, input.now);
            assert_eq!(other, Err(SignError::BadSignature));
        }
        let forged = signed.verify(b"another key", channel, input.now);
        assert_eq!(forged, Err(SignError::BadSignature));
    } else {
        assert_eq!(
            result,
            Err(SignError::Expired {
                exp,
                now: input.now
            })
        );
    }
});
