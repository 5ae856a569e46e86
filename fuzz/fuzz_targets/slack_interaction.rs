//! `POST /slack/interactions`: any (signed) form with a JSON `payload` is refused, ignored or a
//! click by a valid Slack user on one of jitpe's buttons of a real request id.
#![no_main]

use jitpe::domain::identity::Platform;
use jitpe::fuzzing::slack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    jitpe_fuzz::check_click(&slack::interaction(body), Platform::Slack);
});
