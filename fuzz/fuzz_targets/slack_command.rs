//! `POST /slack/commands`: any (signed) body is refused, turned away or becomes a valid Slack
//! user's `/jit` command that satisfies the grammar's invariants.
#![no_main]

use jitpe::domain::identity::Platform;
use jitpe::fuzzing::{SlashOutcome, slack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let SlashOutcome::Command { actor, parsed } = slack::slash_command(body) {
        assert_eq!(actor.platform, Platform::Slack);
        jitpe_fuzz::check_command(&parsed);
    }
});
