//! `POST /mattermost/actions`: any JSON body is refused unless its signed context verifies under
//! the key, for its channel, before its expiry; a click that passes names a valid user.
//!
//! The seeds are signed with [`KEY`] for a channel and expiry after [`NOW`], so the fuzzer
//! starts from clicks that pass and mutates them.
#![no_main]

use jitpe::chat::mattermost::sign::{ButtonContext, sign};
use jitpe::domain::identity::Platform;
use jitpe::fuzzing::{ClickOutcome, mattermost};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The action secret of the seeds (as in `sign.rs`'s tests).
const KEY: &[u8] = b"jitpe-test-secret-0123456789abcdef01234567";
/// The time of every check: an hour before the seeds' expiry.
const NOW: i64 = 1_700_000_000;

/// The callback as the route reads it, field for field (serde also reads a struct from an array,
/// so the fields are found by the same rules).
#[derive(Deserialize)]
#[allow(dead_code)]
struct Call {
    user_id: String,
    channel_id: String,
    post_id: String,
    context: ButtonContext,
}

fuzz_target!(|body: &[u8]| {
    let outcome = mattermost::action(body, KEY, NOW);
    jitpe_fuzz::check_click(&outcome, Platform::Mattermost);
    if let ClickOutcome::Click {
        id, action, origin, ..
    } = &outcome
    {
        // Whatever the body looked like, a click that passes carries a genuine signature over
        // the request, action and channel it is acted on as: no field can be swapped.
        let call: Call = serde_json::from_slice(body).expect("the route read it");
        let exp: i64 = call.context.exp.parse().expect("the route read it");
        assert!(exp > NOW);
        let sig = sign(KEY, *id, *action, exp, &origin.channel);
        assert_eq!(call.context.sig, sig);
    }
});
