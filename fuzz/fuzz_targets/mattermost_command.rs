//! `POST /mattermost/commands`: any body is refused, turned away or becomes a valid Mattermost
//! user's `/jit` command that satisfies the grammar's invariants.
#![no_main]

use jitpe::domain::identity::Platform;
use jitpe::fuzzing::{SlashOutcome, mattermost};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let SlashOutcome::Command { actor, parsed } = mattermost::slash_command(body) {
        assert_eq!(actor.platform, Platform::Mattermost);
        jitpe_fuzz::check_command(&parsed);
    }
});
