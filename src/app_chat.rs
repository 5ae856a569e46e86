//! Builds the chat adapters of the enabled platforms (part of the wiring in `app`).

use crate::adapters::slack::{SlackChat, SlackConfig};
use crate::config::Settings;
use crate::ports::Chat;
use anyhow::Context;
use std::sync::Arc;

/// The chat adapters for the enabled platforms.
pub fn chats(settings: &Settings) -> anyhow::Result<Vec<Arc<dyn Chat>>> {
    let mut out: Vec<Arc<dyn Chat>> = Vec::new();
    if let Some(s) = &settings.slack {
        let mut config =
            SlackConfig::new(s.bot_token.expose(), &s.approvers_channel, &s.audit_channel);
        config.api_base_url = s.api_base_url.to_string();
        out.push(Arc::new(SlackChat::new(config).context("Slack adapter")?));
    }
    if settings.mattermost.is_some() {
        anyhow::bail!(
            "Mattermost is not supported by this build yet: set `enabled = false` in [mattermost]"
        );
    }
    Ok(out)
}
