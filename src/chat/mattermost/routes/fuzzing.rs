//! Mattermost's routes without the service, for the fuzz targets (feature `fuzzing`; see
//! [`crate::fuzzing`]). A child of the routes module, so the routes' private body types and
//! helpers stay private.

use super::*;
use crate::chat::fuzzing::{ClickOutcome, SlashOutcome};
use crate::domain::command;
use std::hint::black_box;

/// `POST /mattermost/commands` on a form body, up to the token check (which needs the
/// configured token, not the body's shape).
pub fn slash_command(body: &[u8]) -> SlashOutcome {
    let Ok(cmd) = serde_urlencoded::from_bytes::<SlashCommand>(body) else {
        return SlashOutcome::Malformed;
    };
    if cmd.command != "/jit" {
        let why = Text::ours("jitpe only answers /jit, not ").typed(cmd.command);
        black_box(render_text(&why, &jiff::tz::TimeZone::UTC));
        return SlashOutcome::TurnedAway;
    }
    let Some(actor) = mm_actor(&cmd.user_id) else {
        return SlashOutcome::TurnedAway;
    };
    let parsed = command::parse(&cmd.text);
    if let Err(e) = &parsed {
        black_box(render_text(
            &Text::from(e.to_string()),
            &jiff::tz::TimeZone::UTC,
        ));
    }
    SlashOutcome::Command { actor, parsed }
}

/// `POST /mattermost/actions` on a JSON body, with the action secret `key` at time `now`, up to
/// the REST check of the clicker.
pub fn action(body: &[u8], key: &[u8], now: i64) -> ClickOutcome {
    let Ok(call) = serde_json::from_slice::<ActionCall>(body) else {
        return ClickOutcome::Malformed;
    };
    let Ok((id, act)) = call.context.verify(key, &call.channel_id, now) else {
        return ClickOutcome::Refused;
    };
    let Some(actor) = mm_actor(&call.user_id) else {
        return ClickOutcome::Refused;
    };
    ClickOutcome::Click {
        actor,
        id,
        action: act,
        origin: CardRef {
            platform: Platform::Mattermost,
            channel: call.channel_id.clone(),
            message_id: call.post_id.clone(),
        },
    }
}
