//! Builds the chat adapters of the enabled platforms (part of the wiring in `app`).

use crate::config::Settings;
use crate::ports::Chat;
use std::sync::Arc;

/// The chat adapters for the enabled platforms.
pub fn chats(settings: &Settings) -> anyhow::Result<Vec<Arc<dyn Chat>>> {
    let out: Vec<Arc<dyn Chat>> = Vec::new();
    if settings.slack.is_some() {
        // Wired when the Slack adapter lands.
    }
    if settings.mattermost.is_some() {
        anyhow::bail!(
            "Mattermost is not supported by this build yet: set `enabled = false` in [mattermost]"
        );
    }
    Ok(out)
}
