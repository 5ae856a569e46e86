//! Slack's routes without the service, for the fuzz targets (feature `fuzzing`; see
//! [`crate::fuzzing`]). A child of the routes module, so the routes' private payload types and
//! helpers stay private.

use super::*;
use crate::chat::fuzzing::{ClickOutcome, SlashOutcome};
use crate::domain::command;
use std::hint::black_box;

/// `POST /slack/commands` on a body whose signature checked out.
pub fn slash_command(body: &[u8]) -> SlashOutcome {
    let Ok(cmd) = serde_urlencoded::from_bytes::<SlashCommand>(body) else {
        return SlashOutcome::Malformed;
    };
    if cmd.ssl_check.is_some() {
        return SlashOutcome::SslCheck;
    }
    if cmd.command != "/jit" {
        let why = Text::ours("jitpe only answers /jit, not ").typed(cmd.command);
        black_box(render_text(&why));
        return SlashOutcome::TurnedAway;
    }
    let Some(actor) = slack_actor(&cmd.user_id) else {
        return SlashOutcome::TurnedAway;
    };
    let parsed = command::parse(&cmd.text);
    if let Err(e) = &parsed {
        black_box(render_text(&Text::from(e.to_string())));
    }
    SlashOutcome::Command { actor, parsed }
}

/// `POST /slack/interactions` on a body whose signature checked out.
pub fn interaction(body: &[u8]) -> ClickOutcome {
    let Ok(form) = serde_urlencoded::from_bytes::<InteractionForm>(body) else {
        return ClickOutcome::Malformed;
    };
    let Ok(p) = serde_json::from_str::<Payload>(&form.payload) else {
        return ClickOutcome::Malformed;
    };
    if p.kind != "block_actions" {
        return ClickOutcome::Ignored;
    }
    let (Some(actor), [action]) = (slack_actor(&p.user.id), p.actions.as_slice()) else {
        return ClickOutcome::Refused;
    };
    match parse_action(&action.action_id, action.value.as_deref()) {
        Some((id, act)) => ClickOutcome::Click {
            actor,
            id,
            action: act,
            origin: origin(p.container.as_ref()),
        },
        None => {
            let why = Text::ours("button ")
                .typed(action.action_id.as_str())
                .and(" is not one of jitpe's; nothing was done");
            black_box(render_text(&why));
            ClickOutcome::Foreign
        }
    }
}
