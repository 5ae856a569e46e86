//! Builds the chat adapters of the enabled platforms (part of the wiring in `app`).

use crate::chat::mattermost::client::{MattermostChat, MattermostConfig};
use crate::chat::slack::client::{SlackChat, SlackConfig};
use crate::config::Settings;
use crate::ports::{Chat, Clock};
use anyhow::Context;
use std::sync::Arc;

/// The chat adapters of the enabled platforms.
pub struct ChatAdapters {
    /// Every enabled platform, for the outbox.
    pub all: Vec<Arc<dyn Chat>>,
    /// Mattermost's adapter, which the inbound side also uses to re-check clickers.
    pub mattermost: Option<Arc<MattermostChat>>,
}

/// Builds the adapters for the enabled platforms.
pub fn chats(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<ChatAdapters> {
    let mut all: Vec<Arc<dyn Chat>> = Vec::new();
    if let Some(s) = &settings.slack {
        let mut config =
            SlackConfig::new(s.bot_token.expose(), &s.approvers_channel, &s.audit_channel);
        config.api_base_url = s.api_base_url.to_string();
        all.push(Arc::new(SlackChat::new(config).context("Slack adapter")?));
    }
    let mut mattermost = None;
    if let Some(m) = &settings.mattermost {
        let mut config = MattermostConfig::new(
            m.url.to_string(),
            m.bot_token.expose(),
            &m.approvers_channel,
            &m.audit_channel,
            m.actions_url.to_string(),
            m.action_secret.expose().as_bytes(),
        );
        config.bot_user_id = m.bot_user_id.clone();
        let chat = Arc::new(MattermostChat::new(config, clock).context("Mattermost adapter")?);
        all.push(chat.clone());
        mattermost = Some(chat);
    }
    Ok(ChatAdapters { all, mattermost })
}
