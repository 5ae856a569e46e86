//! Mattermost: the `/jit` slash command and button callbacks in (`routes`), REST v4 calls out
//! (`client`, wire types and error mapping in `api`), rendering of the neutral view (`render`)
//! and the HMAC-signed button contexts that stand in for the authentication Mattermost does not
//! give its callbacks (`sign`).

pub mod api;
pub mod client;
pub mod render;
pub mod routes;
pub mod sign;

pub use client::{MattermostChat, MattermostConfig};
pub use routes::{MATTERMOST_ACTIONS, MATTERMOST_COMMANDS};

use super::ChatPlatform;
use super::inbound::Inbound;
use crate::config::MattermostSettings;
use crate::ports::Clock;
use anyhow::Context;
use std::sync::Arc;

/// Mattermost's routes and adapter from its settings, over the shared pipeline.
pub fn build(
    settings: &MattermostSettings,
    clock: Arc<dyn Clock>,
    inbound: Arc<Inbound>,
) -> anyhow::Result<ChatPlatform> {
    let mut config = MattermostConfig::new(
        settings.url.to_string(),
        settings.bot_token.expose(),
        &settings.approvers_channel,
        &settings.audit_channel,
        settings.actions_url.to_string(),
        settings.action_secret.expose().as_bytes(),
    );
    config.bot_user_id = settings.bot_user_id.clone();
    config.time_zone = settings.time_zone.clone();
    let chat = Arc::new(MattermostChat::new(config, clock).context("Mattermost adapter")?);
    let mm = routes::MattermostInbound {
        command_token: settings.command_token.expose().as_bytes().to_vec(),
        team_id: settings.team_id.clone(),
        action_secret: settings.action_secret.expose().as_bytes().to_vec(),
        chat: chat.clone(),
    };
    let state = routes::MattermostState {
        inbound,
        mm: Arc::new(mm),
    };
    Ok(ChatPlatform {
        router: routes::router(state),
        chat,
    })
}
