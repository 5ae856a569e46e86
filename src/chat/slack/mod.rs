//! Slack: `/jit` slash commands and interactivity in (`routes`, with the v0 signature check in
//! `verify`), Web API calls out (`client`), Block Kit rendering of the neutral view (`blocks`),
//! and ephemeral answers to clicks through `response_url` (`respond`).

pub mod blocks;
pub mod client;
pub mod respond;
pub mod routes;
pub mod verify;

pub use client::{SlackChat, SlackConfig};
pub use routes::{SLACK_COMMANDS, SLACK_INTERACTIONS};

use super::ChatPlatform;
use super::inbound::Inbound;
use crate::config::SlackSettings;
use anyhow::Context;
use std::sync::Arc;

/// Where Slack's `response_url`s live; click answers go nowhere else.
const SLACK_RESPONSE_PREFIX: &str = "https://hooks.slack.com/";

/// Slack's routes and adapter from its settings, over the shared pipeline.
pub fn build(settings: &SlackSettings, inbound: Arc<Inbound>) -> anyhow::Result<ChatPlatform> {
    let mut config = SlackConfig::new(
        settings.bot_token.expose(),
        &settings.approvers_channel,
        &settings.audit_channel,
    );
    config.api_base_url = settings.api_base_url.to_string();
    let chat = SlackChat::new(config).context("Slack adapter")?;
    let slack = routes::SlackInbound {
        signing_secret: settings.signing_secret.expose().as_bytes().to_vec(),
        app_id: settings.app_id.clone(),
        team_id: settings.team_id.clone(),
        responder: respond::SlackResponder::new(SLACK_RESPONSE_PREFIX),
    };
    let state = routes::SlackState {
        inbound,
        slack: Arc::new(slack),
    };
    Ok(ChatPlatform {
        router: routes::router(state),
        chat: Arc::new(chat),
    })
}
